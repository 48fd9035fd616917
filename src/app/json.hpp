#pragma once
// JSON text for `--json` output, written by hand (no JSON library in the
// dependency list): strings escaped per RFC 8259 section 7.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace berth::app::json {

/// `text` as a JSON string: quoted, with '"', '\\' and control characters
/// escaped; bytes that are not valid UTF-8 become U+FFFD.
std::string quote(std::string_view text);

/// One JSON object, built member by member in call order.
class Object {
public:
  Object& string(std::string_view key, std::string_view value);
  Object& number(std::string_view key, std::uint64_t value);
  Object& boolean(std::string_view key, bool value);
  Object& strings(std::string_view key, const std::vector<std::string>& values);

  /// The object's text, on one line.
  std::string str() const { return "{" + members_ + "}"; }

private:
  void key(std::string_view key);
  std::string members_;
};

/// A JSON array of already rendered values, one per line.
std::string array(const std::vector<std::string>& values);

} // namespace berth::app::json
