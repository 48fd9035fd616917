#include "vfs/location.hpp"

#include <fmt/format.h>

#include <system_error>

namespace berth::vfs {
namespace {

constexpr std::string_view kS3Scheme = "s3://";

core::Result<Location> refuse(std::string* why, std::string text) {
  if (why != nullptr)
    *why = std::move(text);
  return core::unexpected(std::make_error_code(std::errc::invalid_argument));
}

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// S3's rules for bucket names: 3 to 63 of a-z 0-9 . -, starting and ending
// with a letter or digit, no "..".
bool valid_bucket(std::string_view b) {
  if (b.size() < 3 || b.size() > 63 || !is_lower_alnum(b.front()) || !is_lower_alnum(b.back()))
    return false;
  for (char c : b)
    if (!is_lower_alnum(c) && c != '.' && c != '-')
      return false;
  return b.find("..") == std::string_view::npos;
}

bool valid_profile(std::string_view p) {
  if (p.empty() || p.size() > 64)
    return false;
  for (char c : p)
    if (!is_lower_alnum(c) && !(c >= 'A' && c <= 'Z') && c != '_' && c != '-')
      return false;
  return true;
}

// A key prefix: segments of printable bytes (UTF-8 allowed) without ".",
// ".." or empty ones, so that no two locations name the same objects.
bool valid_prefix(std::string_view p, std::string& why) {
  if (p.size() > 512) {
    why = "the prefix is longer than 512 bytes";
    return false;
  }
  std::size_t start = 0;
  while (start <= p.size() && !p.empty()) {
    const std::size_t end = std::min(p.find('/', start), p.size());
    const std::string_view seg = p.substr(start, end - start);
    if (seg.empty() || seg == "." || seg == "..") {
      why = "the prefix has an empty, \".\" or \"..\" segment";
      return false;
    }
    for (char c : seg)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '\\') {
        why = "the prefix has a control character or a backslash";
        return false;
      }
    start = end + 1;
  }
  return true;
}

} // namespace

core::Result<Location> Location::parse(std::string_view text, std::string* why) {
  if (text.empty())
    return refuse(why, "the location is empty");
  if (text.find('\0') != std::string_view::npos)
    return refuse(why, "the location has a NUL byte");
  Location l;
  if (!text.starts_with(kS3Scheme)) {
    if (text.find("://") != std::string_view::npos)
      return refuse(why,
                    fmt::format("\"{}\": unknown storage (a path, or s3://bucket/prefix)", text));
    l.path_ = std::filesystem::path(text);
    return l;
  }
  l.kind_ = Kind::s3;
  std::string_view rest = text.substr(kS3Scheme.size());
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view prefix = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  if (const std::size_t at = authority.find('@'); at != std::string_view::npos) {
    l.profile_ = authority.substr(0, at);
    authority = authority.substr(at + 1);
    if (!valid_profile(l.profile_))
      return refuse(why,
                    fmt::format("\"{}\": the profile name must be letters, digits, _ or -", text));
  }
  if (!valid_bucket(authority))
    return refuse(why, fmt::format("\"{}\": \"{}\" is not a valid bucket name (3-63 of a-z, "
                                   "0-9, '.', '-')",
                                   text, authority));
  l.bucket_ = authority;
  while (prefix.ends_with('/'))
    prefix.remove_suffix(1);
  std::string reason;
  if (!valid_prefix(prefix, reason))
    return refuse(why, fmt::format("\"{}\": {}", text, reason));
  l.prefix_ = prefix;
  return l;
}

Location Location::local(std::filesystem::path path) {
  Location l;
  l.path_ = std::move(path);
  return l;
}

std::string Location::to_string() const {
  if (kind_ == Kind::local)
    return path_.string();
  std::string out(kS3Scheme);
  if (!profile_.empty())
    out += profile_ + "@";
  out += bucket_;
  if (!prefix_.empty())
    out += "/" + prefix_;
  return out;
}

} // namespace berth::vfs
