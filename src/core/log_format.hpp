#pragma once
// The log line formats, apart from core/log.hpp so that the configuration can
// name them without including spdlog.

namespace berth::core {

/// How log lines look.
enum class LogFormat {
  text, ///< "2026-11-24T07:30:00.123 info ftp: ..." (local time).
  json, ///< {"time":"2026-11-24T06:30:00.123Z","level":"info","msg":"ftp: ...",...} (UTC).
};

} // namespace berth::core
