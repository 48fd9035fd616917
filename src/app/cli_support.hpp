#pragma once
// What the database subcommands (`berth user`, `berth ban`) share: exit
// codes, error lines, the configuration and the store they work on.

#include "core/config.hpp"
#include "store/sqlite/sqlite_store.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace berth::app {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1; ///< The store refused or failed.
constexpr int kExitUsage = 2;  ///< Bad arguments or configuration.

/// Prints "berth: <command>: <message>" on stderr (one line).
void print_error(std::string_view command, std::string_view message);

/// Logging for the CLI: warnings and errors only, as "berth: ..." lines on
/// stderr (the store logs the cause of a database error there).
void init_cli_logging();

/// The configuration of `--config FILE`, or the embedded default when
/// `file` is empty. Prints the error and returns nullopt when it is bad.
std::optional<core::Config> load_cli_config(const std::string& file);

/// What makes a file the configuration names unusable though it exists
/// (today: [sftp] revoked_keys that does not parse), as
/// "sftp.revoked_keys: FILE: reason"; empty when all is well. `serve` and
/// `check-config` refuse to start on it with one line.
std::string config_files_problem(const core::Config& cfg);

/// Opens cfg.user_database() without a worker pool (queries run inline).
/// Null when it fails (the cause has been logged).
std::unique_ptr<store::SqliteStore> open_cli_store(const core::Config& cfg);

} // namespace berth::app
