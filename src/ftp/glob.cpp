#include "ftp/glob.hpp"

#include <cstddef>
#include <optional>

namespace berth::ftp {
namespace {

// The end of the class opening at `pattern[open]` (the index of its `]`), or
// nullopt for an unclosed or reversed one.
std::optional<std::size_t> class_end(std::string_view pattern, std::size_t open) {
  std::size_t i = open + 1;
  if (i < pattern.size() && (pattern[i] == '!' || pattern[i] == '^'))
    ++i;
  const std::size_t first = i;
  while (i < pattern.size()) {
    if (pattern[i] == ']' && i > first)
      return i;
    if (i + 2 < pattern.size() && pattern[i + 1] == '-' && pattern[i + 2] != ']') {
      if (static_cast<unsigned char>(pattern[i]) > static_cast<unsigned char>(pattern[i + 2]))
        return std::nullopt;
      i += 3;
      continue;
    }
    ++i;
  }
  return std::nullopt;
}

// Whether byte `c` is in the class pattern[open..end].
bool in_class(std::string_view pattern, std::size_t open, std::size_t end, char c) {
  std::size_t i = open + 1;
  bool negated = pattern[i] == '!' || pattern[i] == '^';
  if (negated)
    ++i;
  const auto u = static_cast<unsigned char>(c);
  bool found = false;
  while (i < end) {
    if (i + 2 < end && pattern[i + 1] == '-') {
      found = found || (u >= static_cast<unsigned char>(pattern[i]) &&
                        u <= static_cast<unsigned char>(pattern[i + 2]));
      i += 3;
    } else {
      found = found || pattern[i] == c;
      ++i;
    }
  }
  return found != negated;
}

} // namespace

bool has_wildcard(std::string_view pattern) {
  return pattern.find_first_of("*?[") != std::string_view::npos;
}

bool valid_pattern(std::string_view pattern) {
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '[')
      continue;
    auto end = class_end(pattern, i);
    if (!end)
      return false;
    i = *end;
  }
  return true;
}

bool glob_match(std::string_view pattern, std::string_view name, bool dotfiles) {
  // A hidden name is matched only by a pattern that spells its dot.
  if (!dotfiles && name.starts_with('.') && !pattern.starts_with('.'))
    return false;
  std::size_t p = 0;
  std::size_t n = 0;
  // The last `*` seen and the name position it was last tried at: on a
  // mismatch it takes one more byte. Only the last star matters, so the
  // work is bounded by pattern x name.
  std::optional<std::size_t> star;
  std::size_t star_n = 0;
  while (n < name.size()) {
    if (p < pattern.size()) {
      const char pc = pattern[p];
      if (pc == '*') {
        star = p++;
        star_n = n;
        continue;
      }
      if (pc == '?') {
        ++p;
        ++n;
        continue;
      }
      if (pc == '[') {
        auto end = class_end(pattern, p);
        if (end && in_class(pattern, p, *end, name[n])) {
          p = *end + 1;
          ++n;
          continue;
        }
        if (!end && name[n] == '[') { // not a class: the byte itself
          ++p;
          ++n;
          continue;
        }
      } else if (pc == name[n]) {
        ++p;
        ++n;
        continue;
      }
    }
    if (!star)
      return false;
    p = *star + 1;
    n = ++star_n;
  }
  while (p < pattern.size() && pattern[p] == '*')
    ++p;
  return p == pattern.size();
}

} // namespace berth::ftp
