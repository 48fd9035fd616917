#include "app/commands.hpp"

#include "app/cli_support.hpp"

#include "auth/password.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "server/server.hpp"

#include <cstdio>
#include <cstdlib>

namespace berth::app {

int run_serve(const std::optional<std::string>& config_file) {
  const char* level = std::getenv("BERTH_LOG_LEVEL");
  core::init_logging(level != nullptr ? level : "info");
  core::Config cfg;
  try {
    cfg = config_file ? core::load_config(*config_file) : core::default_config();
  } catch (const core::ConfigError& e) {
    std::fprintf(stderr, "berth: %s\n", e.what());
    return 2;
  }
  if (const std::string problem = config_files_problem(cfg); !problem.empty()) {
    std::fprintf(stderr, "berth: %s: %s\n", config_file.value_or("").c_str(), problem.c_str());
    return 2;
  }
  core::set_log_format(cfg.log.format);
  try {
    auth::init_crypto();
    return server::serve(cfg);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "berth: %s\n", e.what());
    return 2;
  }
}

} // namespace berth::app
