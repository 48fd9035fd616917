#include "app/json.hpp"

#include <fmt/format.h>

namespace berth::app::json {
namespace {

// Length of the valid UTF-8 sequence at the start of `s`, or 0 (RFC 3629:
// no overlong forms, no surrogates, nothing above U+10FFFF).
std::size_t utf8_sequence(std::string_view s) {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  std::size_t n;
  unsigned char lo = 0x80, hi = 0xBF; // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0)
      lo = 0xA0;
    if (c == 0xED)
      hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0)
      lo = 0x90;
    if (c == 0xF4)
      hi = 0x8F;
  } else {
    return 0;
  }
  if (s.size() < n || b(1) < lo || b(1) > hi)
    return 0;
  for (std::size_t i = 2; i < n; ++i)
    if (b(i) < 0x80 || b(i) > 0xBF)
      return 0;
  return n;
}

} // namespace

std::string quote(std::string_view text) {
  std::string out = "\"";
  while (!text.empty()) {
    const auto c = static_cast<unsigned char>(text.front());
    std::size_t used = 1;
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
      if (c < 0x20 || c == 0x7F) {
        out += fmt::format("\\u{:04x}", c);
      } else if (c < 0x80) {
        out += static_cast<char>(c);
      } else if (std::size_t n = utf8_sequence(text); n != 0) {
        out.append(text.substr(0, n));
        used = n;
      } else {
        out += "\\ufffd";
      }
    }
    text.remove_prefix(used);
  }
  out += '"';
  return out;
}

void Object::key(std::string_view key) {
  if (!members_.empty())
    members_ += ", ";
  members_ += quote(key);
  members_ += ": ";
}

Object& Object::string(std::string_view k, std::string_view value) {
  key(k);
  members_ += quote(value);
  return *this;
}

Object& Object::number(std::string_view k, std::uint64_t value) {
  key(k);
  members_ += std::to_string(value);
  return *this;
}

Object& Object::boolean(std::string_view k, bool value) {
  key(k);
  members_ += value ? "true" : "false";
  return *this;
}

Object& Object::strings(std::string_view k, const std::vector<std::string>& values) {
  key(k);
  members_ += '[';
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i != 0)
      members_ += ", ";
    members_ += quote(values[i]);
  }
  members_ += ']';
  return *this;
}

std::string array(const std::vector<std::string>& values) {
  if (values.empty())
    return "[]";
  std::string out = "[\n";
  for (std::size_t i = 0; i < values.size(); ++i) {
    out += "  ";
    out += values[i];
    out += i + 1 < values.size() ? ",\n" : "\n";
  }
  return out + "]";
}

} // namespace berth::app::json
