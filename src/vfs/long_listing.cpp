#include "vfs/long_listing.hpp"

#include <fmt/format.h>

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

} // namespace

std::string long_listing_line(const DirEntry& e, std::chrono::system_clock::time_point now) {
  const auto& st = e.stat;
  std::tm tm = utc(st.mtime);
  constexpr auto kHalfYear = std::chrono::hours(24 * 182);
  bool recent = st.mtime <= now + std::chrono::hours(1) && now - st.mtime < kHalfYear;
  std::string when =
      recent ? fmt::format("{} {:>2} {:02}:{:02}", kMonths[tm.tm_mon], tm.tm_mday, tm.tm_hour,
                           tm.tm_min)
             : fmt::format("{} {:>2}  {}", kMonths[tm.tm_mon], tm.tm_mday, tm.tm_year + 1900);
  // vsftpd hide_ids: a client learns nothing about host accounts.
  return fmt::format("{}{} {:>3} ftp      ftp      {:>12} {} {}", type_char(st.type),
                     mode_string(st.mode), st.nlink, st.size, when, e.name);
}

} // namespace berth::vfs
