#include "core/xferlog.hpp"

#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <thread>
#include <vector>

namespace berth::core {
namespace {

std::tm at(int year, int mon, int mday, int wday, int h, int m, int s) {
  std::tm t{};
  t.tm_year = year - 1900;
  t.tm_mon = mon - 1;
  t.tm_mday = mday;
  t.tm_wday = wday;
  t.tm_hour = h;
  t.tm_min = m;
  t.tm_sec = s;
  return t;
}

XferlogEntry upload() {
  XferlogEntry e;
  e.time = at(2026, 11, 24, 2, 7, 30, 0); // a Tuesday
  e.duration = std::chrono::milliseconds(1400);
  e.remote_host = "127.0.0.1";
  e.bytes = 1048576;
  e.filename = "/file.bin";
  e.incoming = true;
  e.user = "alice";
  e.service = "ftp";
  return e;
}

TEST(Xferlog, FieldsInTheirOrder) {
  EXPECT_EQ(format_xferlog_line(upload()),
            "Tue Nov 24 07:30:00 2026 1 127.0.0.1 1048576 /file.bin b _ i r alice ftp 0 * c\n");
}

TEST(Xferlog, DownloadAsciiAnonymousIncomplete) {
  XferlogEntry e = upload();
  e.incoming = false;
  e.binary = false;
  e.anonymous = true;
  e.user = "anonymous";
  e.service = "sftp";
  e.complete = false;
  e.remote_host = "2001:db8::7";
  EXPECT_EQ(format_xferlog_line(e), "Tue Nov 24 07:30:00 2026 1 2001:db8::7 1048576 /file.bin a _ "
                                    "o a anonymous sftp 0 * i\n");
}

TEST(Xferlog, DayOfMonthIsSpacePaddedAsCtime) {
  XferlogEntry e = upload();
  e.time = at(2027, 1, 4, 1, 9, 5, 7); // Monday, January 4th
  auto line = format_xferlog_line(e);
  EXPECT_EQ(line.substr(0, 25), "Mon Jan  4 09:05:07 2027 ");
}

TEST(Xferlog, TransferTimeIsRoundedWholeSecondsAtLeastOne) {
  XferlogEntry e = upload();
  auto seconds_field = [&](std::chrono::duration<double> d) {
    e.duration = d;
    std::istringstream in(format_xferlog_line(e).substr(25));
    std::string s;
    in >> s;
    return s;
  };
  EXPECT_EQ(seconds_field(std::chrono::seconds(0)), "1");
  EXPECT_EQ(seconds_field(std::chrono::milliseconds(20)), "1");
  EXPECT_EQ(seconds_field(std::chrono::milliseconds(1499)), "1");
  EXPECT_EQ(seconds_field(std::chrono::milliseconds(1500)), "2");
  EXPECT_EQ(seconds_field(std::chrono::seconds(3600)), "3600");
}

TEST(Xferlog, SpacesBecomeUnderscoresAndControlCharactersQuestionMarks) {
  XferlogEntry e = upload();
  e.filename = "/my dir/a\tb\nc\x7f d.txt";
  auto line = format_xferlog_line(e);
  EXPECT_NE(line.find(" /my_dir/a?b?c?_d.txt b "), std::string::npos) << line;
  EXPECT_EQ(line.find('\n'), line.size() - 1); // one line, whatever the name
}

TEST(Xferlog, Utf8NamesAreKept) {
  XferlogEntry e = upload();
  e.filename = "/\xc3\xa9t\xc3\xa9.txt";
  EXPECT_NE(format_xferlog_line(e).find(" /\xc3\xa9t\xc3\xa9.txt "), std::string::npos);
}

TEST(Xferlog, EveryLineHasFourteenFieldsAfterTheDate) {
  XferlogEntry e = upload();
  e.filename = "/a b c";
  e.user = "";
  std::istringstream in(format_xferlog_line(e).substr(25));
  std::vector<std::string> fields;
  for (std::string f; in >> f;)
    fields.push_back(f);
  ASSERT_EQ(fields.size(), 13u); // transfer-time .. completion-status
  EXPECT_EQ(fields[3], "/a_b_c");
  EXPECT_EQ(fields[8], "*"); // an empty user name still makes a field
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(XferlogFile, AppendsWholeLinesFromManyThreads) {
  test::TempDir dir;
  auto path = dir.path() / "xferlog";
  { std::ofstream(path) << "earlier line\n"; }
  auto file = XferlogFile::open(path);
  ASSERT_TRUE(file) << file.error().message();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i)
        (*file)->append(std::string(100 + t * 50, static_cast<char>('a' + t)) + "\n");
    });
  for (auto& t : threads)
    t.join();
  std::istringstream in(slurp(path));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "earlier line"); // appended, not truncated
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    ASSERT_FALSE(line.empty());
    EXPECT_EQ(line, std::string(line.size(), line[0])); // never interleaved
    EXPECT_EQ(line.size(), 100u + static_cast<std::size_t>(line[0] - 'a') * 50);
  }
  EXPECT_EQ(lines, 2000);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
}

TEST(XferlogFile, ReopenFollowsARotation) {
  test::TempDir dir;
  auto path = dir.path() / "xferlog";
  auto file = XferlogFile::open(path);
  ASSERT_TRUE(file);
  (*file)->append("one\n");
  std::filesystem::rename(path, dir.path() / "xferlog.1");
  (*file)->append("two\n");
  ASSERT_TRUE((*file)->reopen());
  (*file)->append("three\n");
  EXPECT_EQ(slurp(dir.path() / "xferlog.1"), "one\ntwo\n");
  EXPECT_EQ(slurp(path), "three\n");
}

TEST(XferlogFile, OpenFailsWithTheReason) {
  test::TempDir dir;
  auto file = XferlogFile::open(dir.path() / "missing" / "xferlog");
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error(), std::errc::no_such_file_or_directory);
}

} // namespace
} // namespace berth::core
