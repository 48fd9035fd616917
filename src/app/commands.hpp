#pragma once
// The CLI subcommands, one file each.

#include <optional>
#include <string>

namespace berth::app {

/// `berth serve [--config FILE]`: returns the exit code.
int run_serve(const std::optional<std::string>& config_file);

/// `berth check-config FILE`: 0 if valid, 2 with one line on stderr if not.
int run_check_config(const std::string& config_file);

/// `berth hash-password`: reads a password from stdin, prints its argon2id hash.
int run_hash_password();

} // namespace berth::app
