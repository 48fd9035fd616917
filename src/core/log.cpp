#include "core/log.hpp"

#include <spdlog/formatter.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <ctime>

namespace berth::core {
namespace {

constexpr const char* kTextPattern = "%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v";

std::atomic<LogFormat> g_format{LogFormat::text};

// The fields of the event being logged on this thread: log_event() sets them
// around its (synchronous) spdlog call, for the formatter to pick up.
thread_local std::span<const LogField> t_fields;

// Length of the valid UTF-8 sequence starting at s[i], or 0 (RFC 3629 table 3:
// no overlong forms, no surrogates, nothing above U+10FFFF).
std::size_t utf8_length(std::string_view s, std::size_t i) {
  auto at = [&](std::size_t k) -> unsigned {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0x100;
  };
  auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) {
    unsigned c = at(k);
    return c >= lo && c <= hi;
  };
  unsigned c = at(0);
  if (c >= 0xC2 && c <= 0xDF)
    return cont(1) ? 2 : 0;
  if (c == 0xE0)
    return cont(1, 0xA0) && cont(2) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF)
    return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xED)
    return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
  if (c == 0xF0)
    return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3)
    return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xF4)
    return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

void append_value(std::string& out, const LogField::Value& v) {
  if (const auto* s = std::get_if<std::string_view>(&v))
    append_json_string(out, *s);
  else if (const auto* i = std::get_if<std::int64_t>(&v))
    out += fmt::format("{}", *i);
  else if (const auto* u = std::get_if<std::uint64_t>(&v))
    out += fmt::format("{}", *u);
  else if (const auto* d = std::get_if<double>(&v))
    out += std::isfinite(*d) ? fmt::format("{}", *d) : std::string("null");
  else
    out += std::get<bool>(v) ? "true" : "false";
}

class JsonFormatter final : public spdlog::formatter {
public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    auto level = spdlog::level::to_string_view(msg.level);
    std::string line =
        format_json_line(msg.time, std::string_view(level.data(), level.size()),
                         std::string_view(msg.payload.data(), msg.payload.size()), t_fields);
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

// SECURITY: the text format escapes control characters of every message
// (printable()), whatever its call site put in it: a client's user name,
// path or command, or a library's error text that quotes client bytes
// (libssh copies a client's key exchange lists into its errors), can not
// begin a forged line. The JSON format escapes them as JSON.
class TextFormatter final : public spdlog::formatter {
public:
  TextFormatter() : pattern_(kTextPattern) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    if (std::none_of(payload.begin(), payload.end(), is_control)) {
      pattern_.format(msg, dest);
      return;
    }
    const std::string safe = printable(payload);
    spdlog::details::log_msg copy = msg;
    copy.payload = spdlog::string_view_t(safe.data(), safe.size());
    pattern_.format(copy, dest);
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<TextFormatter>();
  }

private:
  static bool is_control(char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  }
  spdlog::pattern_formatter pattern_;
};

} // namespace

void init_logging(const char* level) {
  auto logger = spdlog::stderr_logger_mt("berth");
  logger->set_formatter(make_text_formatter());
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

std::unique_ptr<spdlog::formatter> make_text_formatter() {
  return std::make_unique<TextFormatter>();
}

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f)
      out += fmt::format("\\x{:02x}", u);
    else
      out += c;
  }
  return out;
}

void set_log_format(LogFormat format) {
  g_format = format;
  if (format == LogFormat::json)
    spdlog::default_logger_raw()->set_formatter(std::make_unique<JsonFormatter>());
  else
    spdlog::default_logger_raw()->set_formatter(make_text_formatter());
}

LogFormat log_format() {
  return g_format;
}

void log_event(spdlog::level::level_enum level, std::string_view msg,
               std::initializer_list<LogField> fields) {
  spdlog::logger* logger = spdlog::default_logger_raw();
  if (!logger->should_log(level))
    return;
  if (g_format == LogFormat::json)
    t_fields = std::span<const LogField>(fields.begin(), fields.size());
  logger->log(level, "{}", msg);
  t_fields = {};
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      std::size_t n = utf8_length(s, i);
      if (n == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (c < 0x20 || c == 0x7f)
        out += fmt::format("\\u{:04x}", c);
      else
        out += static_cast<char>(c);
    }
    ++i;
  }
  out += '"';
}

std::string format_json_line(std::chrono::system_clock::time_point time, std::string_view level,
                             std::string_view msg, std::span<const LogField> fields) {
  using namespace std::chrono;
  const auto since = time.time_since_epoch();
  const auto secs = floor<seconds>(since);
  const auto ms = duration_cast<milliseconds>(since - secs).count();
  const std::time_t t = secs.count();
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::string out;
  out.reserve(96 + msg.size());
  out += fmt::format(
      "{{\"time\":\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z\",\"level\":", tm.tm_year + 1900,
      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  append_json_string(out, level);
  out += ",\"msg\":";
  append_json_string(out, msg);
  for (const LogField& f : fields) {
    out += ',';
    append_json_string(out, f.key);
    out += ':';
    append_value(out, f.value);
  }
  out += '}';
  return out;
}

} // namespace berth::core
