#include "ftp/args.hpp"

#include "ftp/listing.hpp"

#include <cctype>
#include <charconv>
#include <span>
#include <system_error>

namespace berth::ftp {
namespace {

core::Unexpected invalid() {
  return core::unexpected(std::make_error_code(std::errc::invalid_argument));
}

std::optional<std::uint64_t> number(std::string_view s) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size())
    return std::nullopt;
  return v;
}

// `s` split at single spaces (empty words kept: "a  b" is "a", "", "b").
std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  for (;;) {
    auto space = s.find(' ');
    out.push_back(s.substr(0, space));
    if (space == std::string_view::npos)
      break;
    s.remove_prefix(space + 1);
  }
  return out;
}

bool equals_nocase(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

// A range from trailing numbers, or nullopt when start > end.
std::optional<HashArgs> with_range(std::string_view path, std::span<const std::uint64_t> n) {
  HashArgs h;
  h.path = std::string(path);
  if (!n.empty())
    h.start = n[0];
  if (n.size() > 1) {
    if (n[0] > n[1])
      return std::nullopt;
    h.end = n[1];
  }
  return h;
}

} // namespace

std::optional<std::pair<std::string_view, std::string_view>> split_word(std::string_view arg) {
  auto space = arg.find(' ');
  if (space == std::string_view::npos || space == 0 || space + 1 >= arg.size())
    return std::nullopt;
  return std::make_pair(arg.substr(0, space), arg.substr(space + 1));
}

core::Result<std::uint32_t> parse_unix_mode(std::string_view text) {
  std::uint32_t m = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), m, 8);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || m > 07777)
    return invalid();
  // SECURITY: setuid, setgid and sticky bits are never set (vfs set_mode keeps
  // 0777): refused rather than answered as applied.
  if (m > 0777)
    return core::unexpected(std::make_error_code(std::errc::operation_not_supported));
  return m;
}

core::Result<UtimeArgs> parse_site_utime(std::string_view arg) {
  auto w = words(arg);
  // "path atime mtime ctime UTC": the path may hold spaces, the last four words not.
  if (w.size() >= 5 && equals_nocase(w.back(), "UTC")) {
    const std::size_t n = w.size();
    auto atime = parse_time_val(w[n - 4]);
    auto mtime = parse_time_val(w[n - 3]);
    auto ctime = parse_time_val(w[n - 2]);
    if (!atime || !mtime || !ctime)
      return invalid();
    const std::size_t path_len = static_cast<std::size_t>(w[n - 4].data() - arg.data()) - 1;
    if (path_len == 0)
      return invalid();
    return UtimeArgs{std::string(arg.substr(0, path_len)), *atime, *mtime};
  }
  auto words2 = split_word(arg);
  if (!words2)
    return invalid();
  auto t = parse_time_val(words2->first);
  if (!t)
    return invalid();
  return UtimeArgs{std::string(words2->second), *t, *t};
}

std::vector<HashArgs> parse_hash_args(std::string_view arg) {
  std::vector<HashArgs> out;
  if (arg.starts_with('"')) {
    auto close = arg.find('"', 1);
    if (close == std::string_view::npos || close == 1)
      return out;
    std::string_view rest = arg.substr(close + 1);
    std::vector<std::uint64_t> nums;
    if (!rest.empty()) {
      if (!rest.starts_with(' '))
        return out;
      for (std::string_view word : words(rest.substr(1))) {
        auto v = number(word);
        if (!v || nums.size() == 2)
          return out;
        nums.push_back(*v);
      }
    }
    if (auto h = with_range(arg.substr(1, close - 1), nums))
      out.push_back(std::move(*h));
    return out;
  }
  out.push_back(HashArgs{std::string(arg), 0, std::nullopt});
  // Up to two trailing numbers, each after a space that leaves a path before it.
  std::string_view path = arg;
  std::vector<std::uint64_t> tail; // last first
  while (tail.size() < 2) {
    auto space = path.rfind(' ');
    if (space == std::string_view::npos || space == 0)
      break;
    auto v = number(path.substr(space + 1));
    if (!v)
      break;
    tail.push_back(*v);
    path = path.substr(0, space);
    std::vector<std::uint64_t> nums(tail.rbegin(), tail.rend());
    if (auto h = with_range(path, nums))
      out.push_back(std::move(*h));
  }
  return out;
}

} // namespace berth::ftp
