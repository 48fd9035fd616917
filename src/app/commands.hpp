#pragma once
// The CLI subcommands, one file each.

#include <functional>
#include <optional>
#include <string>

namespace CLI {
class App;
}

namespace berth::app {

/// A subcommand with subcommands of its own, registered on the parent by an
/// add_*_commands function: after parsing, when `command` was given, `run()`
/// does what the command line asked and returns the exit code.
struct CommandGroup {
  CLI::App* command = nullptr;
  std::function<int()> run;
};

/// `berth serve [--config FILE]`: returns the exit code.
int run_serve(const std::optional<std::string>& config_file);

/// `berth check-config FILE`: 0 if valid, 2 with one line on stderr if not.
int run_check_config(const std::string& config_file);

/// `berth hash-password`: reads a password from stdin, prints its argon2id hash.
int run_hash_password();

/// `berth user add|set|del|passwd|list|show|recount` on the user database
/// (cfg.user_database() of `--config FILE`, or of the embedded default).
/// Exit codes: 0 done, 1 refused or failed by the store (the user exists, is
/// missing or is a configuration user), 2 bad arguments; one line on stderr.
CommandGroup add_user_commands(CLI::App& app);

/// `berth ban list|del` on the bans in the user database. Exit codes as for `user`.
CommandGroup add_ban_commands(CLI::App& app);

} // namespace berth::app
