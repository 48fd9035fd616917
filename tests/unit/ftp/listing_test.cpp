#include "ftp/listing.hpp"

#include "vfs/long_listing.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>
#include <system_error>

namespace berth::ftp {
namespace {

using namespace std::chrono;
using namespace std::string_view_literals;

sys_seconds utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return sys_days{year{y} / month{mo} / day{d}} + hours(h) + minutes(mi) + seconds(s);
}

vfs::Stat file_stat(std::uint64_t size, system_clock::time_point mtime, std::uint32_t mode) {
  vfs::Stat st;
  st.type = vfs::FileType::regular;
  st.size = size;
  st.mtime = mtime;
  st.mode = mode;
  st.nlink = 1;
  return st;
}

const auto kNow = utc(2026, 11, 24, 10, 0, 0);

// --- list_line ----------------------------------------------------------------

TEST(ListLine, RecentFileShowsTime) {
  vfs::DirEntry e{"notes.txt", file_stat(5, utc(2026, 11, 23, 9, 7), 0644)};
  EXPECT_EQ(list_line(e, kNow),
            "-rw-r--r--   1 ftp      ftp                 5 Nov 23 09:07 notes.txt");
}

TEST(ListLine, OldFileShowsYear) {
  vfs::DirEntry e{"old.tar", file_stat(123456789, utc(2020, 1, 5, 12, 30), 0600)};
  EXPECT_EQ(list_line(e, kNow),
            "-rw-------   1 ftp      ftp         123456789 Jan  5  2020 old.tar");
}

TEST(ListLine, FutureFileShowsYear) {
  vfs::DirEntry soon{"soon", file_stat(0, kNow + minutes(30), 0644)};
  EXPECT_NE(list_line(soon, kNow).find("Nov 24 10:30 soon"), std::string::npos);
  vfs::DirEntry later{"later", file_stat(0, utc(2027, 3, 1), 0644)};
  EXPECT_NE(list_line(later, kNow).find("Mar  1  2027 later"), std::string::npos)
      << list_line(later, kNow);
}

TEST(ListLine, AboutSixMonths) {
  vfs::DirEntry recent{"r", file_stat(0, kNow - days(170), 0644)};
  EXPECT_NE(list_line(recent, kNow).find(":"), std::string::npos) << list_line(recent, kNow);
  vfs::DirEntry old{"o", file_stat(0, kNow - days(200), 0644)};
  EXPECT_EQ(list_line(old, kNow).find(":"), std::string::npos) << list_line(old, kNow);
  EXPECT_NE(list_line(old, kNow).find(" 2026 o"), std::string::npos) << list_line(old, kNow);
}

TEST(ListLine, TypeCharacters) {
  vfs::DirEntry dir{"sub", file_stat(4096, kNow, 0755)};
  dir.stat.type = vfs::FileType::directory;
  dir.stat.nlink = 3;
  EXPECT_EQ(list_line(dir, kNow), "drwxr-xr-x   3 ftp      ftp              4096 Nov 24 10:00 sub");

  vfs::DirEntry link{"ln", file_stat(11, kNow, 0777)};
  link.stat.type = vfs::FileType::symlink;
  EXPECT_EQ(list_line(link, kNow).substr(0, 10), "lrwxrwxrwx");

  vfs::DirEntry other{"fifo", file_stat(0, kNow, 0644)};
  other.stat.type = vfs::FileType::other;
  EXPECT_EQ(list_line(other, kNow).front(), '-');
}

// Issue 17: a listing shows a link as itself, with its target as vsftpd shows it.
TEST(ListLine, SymlinkShowsItsTarget) {
  vfs::DirEntry link{"ln", file_stat(8, kNow, 0777), "file.txt"};
  link.stat.type = vfs::FileType::symlink;
  EXPECT_EQ(list_line(link, kNow),
            "lrwxrwxrwx   1 ftp      ftp                 8 Nov 24 10:00 ln -> file.txt");
  link.link_target = "a\r\nforged";
  EXPECT_EQ(list_line(link, kNow).find("forged"), std::string::npos);
  vfs::DirEntry file{"f", file_stat(1, kNow, 0644), "not a link"};
  EXPECT_EQ(list_line(file, kNow).find("->"), std::string::npos);
}

TEST(LongListing, OwnerColumns) {
  vfs::DirEntry e{"notes.txt", file_stat(5, utc(2026, 11, 23, 9, 7), 0644)};
  EXPECT_EQ(vfs::long_listing_line(e, kNow, "alice", "alice"),
            "-rw-r--r--   1 alice    alice               5 Nov 23 09:07 notes.txt");
  EXPECT_EQ(vfs::long_listing_line(e, kNow, "a-long-user-name", "1001"),
            "-rw-r--r--   1 a-long-user-name 1001                5 Nov 23 09:07 notes.txt");
  for (std::string_view odd : {"", "a b", "a\nb"})
    EXPECT_EQ(vfs::long_listing_line(e, kNow, odd, odd), list_line(e, kNow));
}

TEST(ListLine, ModeString) {
  struct Case {
    std::uint32_t mode;
    const char* want;
  };
  for (auto c : {Case{0, "----------"}, Case{0777, "-rwxrwxrwx"}, Case{0640, "-rw-r-----"},
                 Case{0421, "-r---w---x"}, Case{04755, "-rwxr-xr-x"}, Case{0007, "-------rwx"}}) {
    vfs::DirEntry e{"f", file_stat(0, kNow, c.mode)};
    EXPECT_EQ(list_line(e, kNow).substr(0, 10), c.want) << std::oct << c.mode;
  }
}

TEST(ListLine, NameWithSpacesIsLast) {
  vfs::DirEntry e{"a name  with spaces", file_stat(1, kNow, 0644)};
  std::string line = list_line(e, kNow);
  EXPECT_EQ(line.substr(line.size() - e.name.size()), e.name);
}

// --- MLSx -------------------------------------------------------------------

TEST(MlsxLine, FileAllFacts) {
  vfs::Stat st = file_stat(5, utc(2026, 11, 24, 10, 0, 0), 0644);
  st.device = 0x801;
  st.inode = 0x1234;
  EXPECT_EQ(mlsx_line(st, "notes.txt", fact_all),
            "type=file;size=5;modify=20261124100000;perm=adfrw;unique=801g1234;"
            "unix.mode=0644; notes.txt");
}

TEST(MlsxLine, DirectoryHasNoSize) {
  vfs::Stat st = file_stat(4096, utc(2000, 2, 29, 23, 59, 58), 02755);
  st.type = vfs::FileType::directory;
  st.device = 1;
  st.inode = 255;
  EXPECT_EQ(mlsx_line(st, "sub", fact_all),
            "type=dir;modify=20000229235958;perm=cdeflmp;unique=1gff;unix.mode=02755; sub");
}

TEST(MlsxLine, Symlink) {
  vfs::Stat st = file_stat(3, utc(2026, 1, 1), 0777);
  st.type = vfs::FileType::symlink;
  EXPECT_EQ(mlsx_line(st, "ln", fact_type | fact_size), "type=OS.unix=symlink;size=3; ln");
}

TEST(MlsxLine, FactSelection) {
  vfs::Stat st = file_stat(42, utc(2026, 11, 24, 10, 0, 0), 0600);
  EXPECT_EQ(mlsx_line(st, "f", 0), " f");
  EXPECT_EQ(mlsx_line(st, "f", fact_type), "type=file; f");
  EXPECT_EQ(mlsx_line(st, "f", fact_size | fact_modify), "size=42;modify=20261124100000; f");
  EXPECT_EQ(mlsx_line(st, "f", fact_unix_mode), "unix.mode=0600; f");
  EXPECT_EQ(mlsx_line(st, "f", fact_perm), "perm=adfrw; f");
  // The name is sent verbatim after the single space, even with spaces or ';'.
  EXPECT_EQ(mlsx_line(st, " a;b=c ", fact_size), "size=42;  a;b=c ");
}

TEST(MlstFeature, WithAndWithoutStars) {
  EXPECT_EQ(mlst_feature(fact_all, true), "type*;size*;modify*;perm*;unique*;unix.mode*;");
  EXPECT_EQ(mlst_feature(fact_all, false), "type;size;modify;perm;unique;unix.mode;");
  EXPECT_EQ(mlst_feature(fact_type | fact_modify, true),
            "type*;size;modify*;perm;unique;unix.mode;");
  EXPECT_EQ(mlst_feature(0, true), "type;size;modify;perm;unique;unix.mode;");
}

TEST(ParseMlstOpts, Facts) {
  EXPECT_EQ(parse_mlst_opts(""), 0u);
  EXPECT_EQ(parse_mlst_opts("type;size;"), unsigned{fact_type | fact_size});
  EXPECT_EQ(parse_mlst_opts("type"), unsigned{fact_type});
  EXPECT_EQ(parse_mlst_opts("TYPE;Modify;UNIX.MODE;"),
            unsigned{fact_type | fact_modify | fact_unix_mode});
  EXPECT_EQ(parse_mlst_opts("bogus;perm;;unique;media-type;"), unsigned{fact_perm | fact_unique});
  EXPECT_EQ(parse_mlst_opts("type*;size*;"), 0u); // FEAT's stars are not fact names
  EXPECT_EQ(parse_mlst_opts(mlst_feature(fact_all, false)), unsigned{fact_all});
}

struct FactName {
  unsigned bit;
  const char* name;
};
constexpr FactName kFactNames[] = {{fact_type, "type"},     {fact_size, "size"},
                                   {fact_modify, "modify"}, {fact_perm, "perm"},
                                   {fact_unique, "unique"}, {fact_unix_mode, "unix.mode"}};

TEST(ParseMlstOpts, RoundTripsEverySubset) {
  for (unsigned facts = 0; facts <= fact_all; ++facts) {
    std::string opts;
    for (const auto& [bit, name] : kFactNames)
      if ((facts & bit) != 0)
        opts.append(name).append(";");
    EXPECT_EQ(parse_mlst_opts(opts), facts) << opts;
  }
}

// --- time-val -----------------------------------------------------------------

TEST(TimeVal, Format) {
  EXPECT_EQ(format_time_val(utc(2026, 11, 24, 10, 2, 3)), "20261124100203");
  EXPECT_EQ(format_time_val(system_clock::time_point{}), "19700101000000");
  EXPECT_EQ(format_time_val(utc(1999, 12, 31, 23, 59, 59) + milliseconds(999)), "19991231235959");
}

TEST(TimeVal, RoundTrip) {
  for (auto t : {utc(1970, 1, 1), utc(2000, 2, 29, 12, 0, 1), utc(2026, 11, 24, 23, 59, 59),
                 utc(2038, 1, 19, 3, 14, 8), utc(2100, 12, 31, 0, 0, 0)}) {
    auto text = format_time_val(t);
    auto back = parse_time_val(text);
    ASSERT_TRUE(back) << text;
    EXPECT_EQ(*back, t) << text;
    EXPECT_EQ(format_time_val(*back), text);
  }
}

TEST(TimeVal, FractionIsAcceptedAndDropped) {
  auto t = parse_time_val("20261124100203.123");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, utc(2026, 11, 24, 10, 2, 3));
  EXPECT_TRUE(parse_time_val("20261124100203.0"));
}

TEST(TimeVal, Rejects) {
  for (std::string_view s : {
           ""sv,
           "2026112410020"sv,      // too short
           "2026112410020x"sv,     // junk
           "20261124100203x"sv,    // trailing junk
           "20261124100203."sv,    // dot without digits
           "20261124100203.12a"sv, // bad fraction
           "20261124100203,1"sv,
           "2026-11-24 10:02"sv,
           " 20261124100203"sv,
           "20261324100203"sv, // month 13
           "20260024100203"sv, // month 0
           "20261100100203"sv, // day 0
           "20261132100203"sv, // day 32
           "20261124240000"sv, // hour 24
           "20261124106000"sv, // minute 60
           "20261124100261"sv, // second 61
           "19691231235959"sv, // before the epoch
           "+0261124100203"sv,
           "2026112410\0"
           "0203"sv,
       }) {
    auto t = parse_time_val(s);
    EXPECT_FALSE(t) << '"' << s << '"';
    if (!t) {
      EXPECT_EQ(t.error(), std::errc::invalid_argument) << s;
    }
  }
}

TEST(TimeVal, RejectsSignedFields) {
  // Each field is digits only: a '-' must not slip through from_chars.
  for (std::string_view s :
       {"-0261124100203"sv, "2026-1124100203"sv, "202611-4100203"sv, "20261124-10203"sv,
        "2026112410-203"sv, "202611241002-3"sv, "20261124-1-1-1"sv}) {
    auto t = parse_time_val(s);
    EXPECT_FALSE(t) << '"' << s << "\" parsed as " << (t ? format_time_val(*t) : "");
  }
}

// Found by the listing fuzzer: past April 2262 the time overflowed system_clock
// (signed overflow while converting seconds to nanoseconds).
TEST(TimeVal, RejectsYearsPastTheClock) {
  auto last = parse_time_val("22620411234716");
  ASSERT_TRUE(last);
  EXPECT_EQ(format_time_val(*last), "22620411234716");
  for (std::string_view s :
       {"22620411234717"sv, "22630101000000"sv, "51230101000000"sv, "99991231235959"sv}) {
    auto t = parse_time_val(s);
    ASSERT_FALSE(t) << s;
    EXPECT_EQ(t.error(), std::errc::invalid_argument) << s;
  }
}

// --- names --------------------------------------------------------------------

TEST(ListableName, RejectsLineBreaksAndNul) {
  EXPECT_TRUE(listable_name("file.txt"));
  EXPECT_TRUE(listable_name("with space and ;=*"));
  EXPECT_TRUE(listable_name("caf\xC3\xA9"));
  EXPECT_FALSE(listable_name("a\rb"));
  EXPECT_FALSE(listable_name("a\nb"));
  EXPECT_FALSE(listable_name("trailing\n"));
  EXPECT_FALSE(listable_name("a\0b"sv));
}

} // namespace
} // namespace berth::ftp
