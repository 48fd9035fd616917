#pragma once
// Logging: spdlog, one process-wide logger writing to stderr.

#include <spdlog/spdlog.h>

namespace berth::core {

/// Sets up the process logger. `level` is an spdlog level name ("info", "debug").
void init_logging(const char* level);

} // namespace berth::core
