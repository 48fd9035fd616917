#include "app/commands.hpp"

#include "core/config.hpp"

#include <cstdio>

namespace berth::app {

int run_check_config(const std::string& config_file) {
  try {
    core::Config cfg = core::load_config(config_file);
    std::printf("%s: ok (%zu user(s), %zu FTP listener(s))\n", config_file.c_str(),
                cfg.users.size(), cfg.ftp.listen.size());
    return 0;
  } catch (const core::ConfigError& e) {
    std::fprintf(stderr, "berth: %s\n", e.what());
    return 2;
  }
}

} // namespace berth::app
