#include "sftp/scp/codec.hpp"

#include "core/check.hpp"

#include <fmt/format.h>

#include <limits>

namespace berth::sftp::scp {
namespace {

class Category final : public std::error_category {
public:
  const char* name() const noexcept override { return "scp"; }
  std::string message(int v) const override {
    switch (static_cast<Errc>(v)) {
    case Errc::too_long:
      return "line too long";
    case Errc::bad_type:
      return "unexpected line";
    case Errc::bad_mode:
      return "bad mode";
    case Errc::bad_size:
      return "bad size";
    case Errc::bad_time:
      return "bad times";
    case Errc::bad_name:
      return "unexpected filename";
    case Errc::trailing:
      return "unexpected data after the line";
    }
    return "scp error";
  }
};

// A decimal number of at most 19 digits (below 2^63, as OpenSSH's off_t and
// time_t checks allow), moving `s` past it. Leading '+', '-' and spaces, which
// strtoull would take, are refused.
bool take_number(std::string_view& s, std::uint64_t& out) {
  std::size_t n = 0;
  std::uint64_t v = 0;
  while (n < s.size() && s[n] >= '0' && s[n] <= '9') {
    if (n == 19)
      return false;
    v = v * 10 + static_cast<std::uint64_t>(s[n] - '0');
    ++n;
  }
  if (n == 0 || v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    return false;
  out = v;
  s.remove_prefix(n);
  return true;
}

bool take_char(std::string_view& s, char c) {
  if (s.empty() || s.front() != c)
    return false;
  s.remove_prefix(1);
  return true;
}

core::Unexpected fail(Errc e) {
  return core::unexpected(make_error_code(e));
}

// "T<mtime> <usec> <atime> <usec>": microseconds within 0..999999 (ignored).
core::Result<Record> parse_times(std::string_view s) {
  Record r;
  r.kind = Record::Kind::times;
  std::uint64_t usec = 0;
  if (!take_number(s, r.mtime) || !take_char(s, ' ') || !take_number(s, usec) || usec > 999999 ||
      !take_char(s, ' ') || !take_number(s, r.atime) || !take_char(s, ' ') ||
      !take_number(s, usec) || usec > 999999 || !s.empty())
    return fail(Errc::bad_time);
  return r;
}

// "C0644 <size> <name>" or "D0755 <size> <name>" (after the type letter).
core::Result<Record> parse_entry(Record::Kind kind, std::string_view s) {
  Record r;
  r.kind = kind;
  if (s.size() < 5)
    return fail(Errc::bad_mode);
  for (std::size_t i = 0; i < 4; ++i) {
    if (s[i] < '0' || s[i] > '7')
      return fail(Errc::bad_mode);
    r.mode = (r.mode << 3) | static_cast<std::uint32_t>(s[i] - '0');
  }
  s.remove_prefix(4);
  if (!take_char(s, ' '))
    return fail(Errc::bad_mode);
  if (!take_number(s, r.size) || !take_char(s, ' '))
    return fail(Errc::bad_size);
  if (!valid_name(s))
    return fail(Errc::bad_name);
  r.name = std::string(s);
  return r;
}

} // namespace

const std::error_category& scp_category() noexcept {
  static const Category c;
  return c;
}

bool valid_name(std::string_view name) {
  // Room for "C0644 <19 digits> " and the '\n'.
  constexpr std::size_t kMaxName = kMaxLine - 32;
  return !name.empty() && name.size() <= kMaxName && name != "." && name != ".." &&
         name.find_first_of(std::string_view("/\n\0", 3)) == std::string_view::npos;
}

core::Result<Record> parse_line(std::string_view line) {
  if (line.size() >= kMaxLine)
    return fail(Errc::too_long);
  if (line.empty())
    return fail(Errc::bad_type);
  const char type = line.front();
  line.remove_prefix(1);
  switch (type) {
  case 'C':
    return parse_entry(Record::Kind::file, line);
  case 'D':
    return parse_entry(Record::Kind::directory, line);
  case 'E':
    if (!line.empty())
      return fail(Errc::trailing);
    return Record{};
  case 'T':
    return parse_times(line);
  case kWarning:
  case kFatal: {
    Record r;
    r.kind = type == kWarning ? Record::Kind::warning : Record::Kind::fatal;
    r.name = std::string(line);
    return r;
  }
  default:
    return fail(Errc::bad_type);
  }
}

std::string encode_file(std::uint32_t mode, std::uint64_t size, std::string_view name) {
  BERTH_CHECK(valid_name(name));
  return fmt::format("C{:04o} {} {}\n", mode & 07777, size, name);
}

std::string encode_directory(std::uint32_t mode, std::string_view name) {
  BERTH_CHECK(valid_name(name));
  return fmt::format("D{:04o} 0 {}\n", mode & 07777, name);
}

std::string encode_end() {
  return "E\n";
}

std::string encode_times(std::uint64_t mtime, std::uint64_t atime) {
  return fmt::format("T{} 0 {} 0\n", mtime, atime);
}

std::string encode_error(bool fatal, std::string_view message) {
  std::string out;
  out.push_back(static_cast<char>(fatal ? kFatal : kWarning));
  out += "scp: ";
  for (char c : message) {
    if (out.size() >= kMaxLine - 1)
      break;
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
  }
  out.push_back('\n');
  return out;
}

} // namespace berth::sftp::scp
