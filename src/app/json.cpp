#include "app/json.hpp"

#include "core/log.hpp"

#include <fmt/format.h>

namespace berth::app::json {
std::string quote(std::string_view text) {
  std::string out;
  core::append_json_string(out, text); // the log's escaping: one JSON string rule
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
