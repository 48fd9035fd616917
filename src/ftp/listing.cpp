#include "ftp/listing.hpp"

#include "vfs/long_listing.hpp"

#include <fmt/format.h>

#include <charconv>
#include <ctime>

namespace berth::ftp {
namespace {

std::tm utc(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return tm;
}

struct FactName {
  Fact fact;
  std::string_view name;
};
constexpr FactName kFacts[] = {{fact_type, "type"},     {fact_size, "size"},
                               {fact_modify, "modify"}, {fact_perm, "perm"},
                               {fact_unique, "unique"}, {fact_unix_mode, "unix.mode"}};

} // namespace

std::string list_line(const vfs::DirEntry& e, std::chrono::system_clock::time_point now) {
  std::string line = vfs::long_listing_line(e, now);
  // As vsftpd and ls -l: "name -> target", which lftp and FileZilla parse. A
  // target that would break the line is left out.
  if (e.stat.type == vfs::FileType::symlink && !e.link_target.empty() &&
      listable_name(e.link_target))
    line += " -> " + e.link_target;
  return line;
}

std::string mlsx_line(const vfs::Stat& st, std::string_view name, unsigned facts) {
  std::string out;
  if ((facts & fact_type) != 0)
    out += st.type == vfs::FileType::directory ? "type=dir;"
           : st.type == vfs::FileType::regular ? "type=file;"
                                               : "type=OS.unix=symlink;";
  if ((facts & fact_size) != 0 && st.type != vfs::FileType::directory)
    out += fmt::format("size={};", st.size);
  if ((facts & fact_modify) != 0)
    out += fmt::format("modify={};", format_time_val(st.mtime));
  if ((facts & fact_perm) != 0)
    out += st.type == vfs::FileType::directory ? "perm=cdeflmp;" : "perm=adfrw;";
  if ((facts & fact_unique) != 0)
    out += fmt::format("unique={:x}g{:x};", st.device, st.inode);
  if ((facts & fact_unix_mode) != 0)
    out += fmt::format("unix.mode=0{:o};", st.mode & 07777);
  out += ' ';
  out += name;
  return out;
}

std::string mlst_feature(unsigned facts, bool with_stars) {
  std::string out;
  for (const auto& f : kFacts) {
    out += f.name;
    if (with_stars && (facts & f.fact) != 0)
      out += '*';
    out += ';';
  }
  return out;
}

unsigned parse_mlst_opts(std::string_view arg) {
  unsigned facts = 0;
  std::size_t i = 0;
  while (i < arg.size()) {
    auto j = arg.find(';', i);
    if (j == std::string_view::npos)
      j = arg.size();
    std::string name(arg.substr(i, j - i));
    for (char& c : name)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const auto& f : kFacts)
      if (f.name == name)
        facts |= f.fact;
    i = j + 1;
  }
  return facts;
}

std::string format_time_val(std::chrono::system_clock::time_point t) {
  std::tm tm = utc(t);
  return fmt::format("{:04}{:02}{:02}{:02}{:02}{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
}

core::Result<std::chrono::system_clock::time_point> parse_time_val(std::string_view s) {
  auto bad = core::unexpected(std::make_error_code(std::errc::invalid_argument));
  if (s.size() < 14)
    return bad;
  auto digits = [&](std::size_t pos, std::size_t n, int& out) {
    out = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9')
        return false; // from_chars would take a sign
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  int y, mo, d, h, mi, sec;
  if (!digits(0, 4, y) || !digits(4, 2, mo) || !digits(6, 2, d) || !digits(8, 2, h) ||
      !digits(10, 2, mi) || !digits(12, 2, sec))
    return bad;
  if (s.size() > 14) {
    if (s[14] != '.' || s.size() == 15)
      return bad;
    for (char c : s.substr(15))
      if (c < '0' || c > '9')
        return bad;
  }
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
    return bad;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  std::time_t tt = timegm(&tm);
  if (tt == static_cast<std::time_t>(-1))
    return bad;
  // system_clock counts nanoseconds in 64 bits: it ends in April 2262, and a
  // later year (MFMT 99991231235959) would overflow it.
  constexpr auto kLast =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::duration::max());
  if (tt > kLast.count())
    return bad;
  std::tm check{};
  gmtime_r(&tt, &check);
  if (check.tm_mday != d || check.tm_mon != mo - 1)
    return bad; // 31 February and friends
  return std::chrono::system_clock::from_time_t(tt);
}

bool listable_name(std::string_view name) {
  return name.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

std::string quote_path(std::string_view path) {
  std::string out = "\"";
  for (char c : path) {
    out.push_back(c);
    if (c == '"')
      out.push_back('"');
  }
  return out + "\"";
}

} // namespace berth::ftp
