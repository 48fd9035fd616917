#pragma once
// Logging: spdlog, one process-wide logger writing to stderr, as text lines or
// as one JSON object per line. Events with structured fields go through
// log_event(); every other line is a plain spdlog call.

#include "core/log_format.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace berth::core {

/// One structured field of an event: a key and a string, integer, number or
/// boolean. Holds views: use it only within the call it is made for.
struct LogField {
  using Value = std::variant<std::string_view, std::int64_t, std::uint64_t, double, bool>;

  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  template <std::signed_integral I>
  LogField(std::string_view k, I v) : key(k), value(static_cast<std::int64_t>(v)) {}
  template <std::unsigned_integral I>
  requires(!std::same_as<I, bool>) LogField(std::string_view k, I v)
      : key(k), value(static_cast<std::uint64_t>(v)) {}
  LogField(std::string_view k, double v) : key(k), value(v) {}
  LogField(std::string_view k, bool v) : key(k), value(v) {}

  std::string_view key;
  Value value;
};

/// Sets up the process logger (text format). `level` is an spdlog level name
/// ("info", "debug").
void init_logging(const char* level);

/// `text` from a client (a path, a user name) made safe for one log line:
/// control characters and DEL become \xNN, so nobody can forge log lines.
std::string printable(std::string_view text);

/// The text format's formatter: "TIME LEVEL MESSAGE", with the control
/// characters of MESSAGE escaped as printable() does, so that no line can
/// hold another.
std::unique_ptr<spdlog::formatter> make_text_formatter();

/// Switches the process logger's format. Call before other threads log.
void set_log_format(LogFormat format);

/// The format set_log_format() chose.
LogFormat log_format();

/// Logs `msg` at `level`. In the JSON format the fields follow "msg" as
/// members of the line's object; the text format shows only `msg`, which
/// should say in words what the fields hold. Never pass secrets: every field
/// may reach a log file.
void log_event(spdlog::level::level_enum level, std::string_view msg,
               std::initializer_list<LogField> fields);

/// Appends `s` to `out` as a JSON string, quotes included: `"` and `\` are
/// escaped, control characters become \n, \r, \t or \u00XX, and bytes that
/// are not UTF-8 become U+FFFD, so the line is valid JSON whatever a client sent.
void append_json_string(std::string& out, std::string_view s);

/// One JSON log line without its newline:
/// {"time":"<UTC, ms>Z","level":"<level>","msg":"<msg>"[,"<key>":<value>]...}.
/// Pure; non-finite numbers are written as null.
std::string format_json_line(std::chrono::system_clock::time_point time, std::string_view level,
                             std::string_view msg, std::span<const LogField> fields);

} // namespace berth::core
