#pragma once
// Logging: spdlog, one process-wide logger writing to stderr.

#include <spdlog/spdlog.h>

#include <string>
#include <string_view>

namespace berth::core {

/// Sets up the process logger. `level` is an spdlog level name ("info", "debug").
void init_logging(const char* level);

/// `text` from a client (a path, a user name) made safe for one log line:
/// control characters and DEL become \xNN, so nobody can forge log lines.
std::string printable(std::string_view text);

} // namespace berth::core
