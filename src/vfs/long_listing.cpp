#include "vfs/long_listing.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>

namespace berth::vfs {
namespace {

constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

std::tm utc(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return tm;
}

char type_char(vfs::FileType t) {
  switch (t) {
  case vfs::FileType::directory:
    return 'd';
  case vfs::FileType::symlink:
    return 'l';
  case vfs::FileType::regular:
    return '-';
  case vfs::FileType::other:
    break;
  }
  return '-';
}

std::string mode_string(std::uint32_t mode) {
  std::string s(9, '-');
  static constexpr char kRwx[] = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i)
    if ((mode & (0400u >> i)) != 0)
      s[static_cast<std::size_t>(i)] = kRwx[i];
  return s;
}

// An owner or group name as a column: one that would break the line's
// columns shows "ftp" instead.
std::string_view column(std::string_view name) {
  const bool plain = !name.empty() && std::none_of(name.begin(), name.end(), [](char c) {
    return static_cast<unsigned char>(c) <= 0x20 || c == 0x7F;
  });
  return plain ? name : "ftp";
}

} // namespace

std::string long_listing_line(const DirEntry& e, std::chrono::system_clock::time_point now,
                              std::string_view owner, std::string_view group) {
  const auto& st = e.stat;
  std::tm tm = utc(st.mtime);
  constexpr auto kHalfYear = std::chrono::hours(24 * 182);
  bool recent = st.mtime <= now + std::chrono::hours(1) && now - st.mtime < kHalfYear;
  std::string when =
      recent ? fmt::format("{} {:>2} {:02}:{:02}", kMonths[tm.tm_mon], tm.tm_mday, tm.tm_hour,
                           tm.tm_min)
             : fmt::format("{} {:>2}  {}", kMonths[tm.tm_mon], tm.tm_mday, tm.tm_year + 1900);
  return fmt::format("{}{} {:>3} {:<8} {:<8} {:>12} {} {}", type_char(st.type),
                     mode_string(st.mode), st.nlink, column(owner), column(group), st.size, when,
                     e.name);
}

} // namespace berth::vfs
