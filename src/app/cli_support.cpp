#include "app/cli_support.hpp"

#include "auth/authenticator.hpp"

#include "core/log.hpp"

#include <cstdio>

namespace berth::app {

void print_error(std::string_view command, std::string_view message) {
  std::fprintf(stderr, "berth: %.*s: %.*s\n", static_cast<int>(command.size()), command.data(),
               static_cast<int>(message.size()), message.data());
}

void init_cli_logging() {
  core::init_logging("warn");
  spdlog::set_pattern("berth: %v");
}

std::optional<core::Config> load_cli_config(const std::string& file) {
  try {
    return file.empty() ? core::default_config() : core::load_config(file);
  } catch (const core::ConfigError& e) {
    std::fprintf(stderr, "berth: %s\n", e.what());
    return std::nullopt;
  }
}

std::unique_ptr<store::SqliteStore> open_cli_store(const core::Config& cfg) {
  auto store = store::SqliteStore::open(cfg.user_database(), nullptr);
  if (!store)
    return nullptr;
  return std::move(*store);
}

std::string config_files_problem(const core::Config& cfg) {
  if (cfg.sftp.revoked_keys.empty())
    return {};
  std::string why;
  if (auth::load_revoked_keys(cfg.sftp.revoked_keys, why))
    return {};
  return "sftp.revoked_keys: " + cfg.sftp.revoked_keys.string() + ": " + why;
}

} // namespace berth::app
