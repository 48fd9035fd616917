#include "ftp/args.hpp"

#include "ftp/listing.hpp"

#include <gtest/gtest.h>

#include <system_error>

namespace berth::ftp {
namespace {

TEST(Args, UnixMode) {
  EXPECT_EQ(*parse_unix_mode("644"), 0644u);
  EXPECT_EQ(*parse_unix_mode("0755"), 0755u);
  EXPECT_EQ(*parse_unix_mode("0"), 0u);
  for (const char* bad : {"", "999", "8", "64a", "-1", " 644", "644 ", "077777"})
    EXPECT_EQ(parse_unix_mode(bad).error(), std::errc::invalid_argument) << bad;
  for (const char* special : {"4755", "2755", "1777", "07777"})
    EXPECT_EQ(parse_unix_mode(special).error(), std::errc::operation_not_supported) << special;
}

TEST(Args, UtimeShortForm) {
  auto u = parse_site_utime("20200102030405 a file.txt");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->path, "a file.txt");
  EXPECT_EQ(format_time_val(u->mtime), "20200102030405");
  EXPECT_EQ(u->atime, u->mtime);
}

TEST(Args, UtimeFiveArgumentForm) {
  auto u = parse_site_utime("my file.txt 20210101000000 20200102030405 20200102030405 UTC");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->path, "my file.txt");
  EXPECT_EQ(format_time_val(u->atime), "20210101000000");
  EXPECT_EQ(format_time_val(u->mtime), "20200102030405");
  EXPECT_TRUE(parse_site_utime("f 20210101000000 20200102030405 20200102030405 utc"));
}

TEST(Args, UtimeBadInput) {
  for (const char* bad : {"", "20200102030405", "20200102030405 ", "2020 f", "20201301000000 f",
                          "f 20210101000000 2020010203040x 20200102030405 UTC",
                          " 20210101000000 20200102030405 20200102030405 UTC", "notatime f"})
    EXPECT_FALSE(parse_site_utime(bad)) << bad;
}

TEST(Args, HashArgsReadings) {
  auto r = parse_hash_args("file 10 20");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].path, "file 10 20");
  EXPECT_EQ(r[1].path, "file 10");
  EXPECT_EQ(r[1].start, 20u);
  EXPECT_FALSE(r[1].end);
  EXPECT_EQ(r[2].path, "file");
  EXPECT_EQ(r[2].start, 10u);
  EXPECT_EQ(*r[2].end, 20u);
  r = parse_hash_args("file 20 10"); // start after end: not a range reading
  ASSERT_EQ(r.size(), 2u);
  r = parse_hash_args("plain.txt");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].path, "plain.txt");
}

TEST(Args, HashArgsQuoted) {
  auto r = parse_hash_args("\"a b.txt\" 0 42575");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].path, "a b.txt");
  EXPECT_EQ(r[0].start, 0u);
  EXPECT_EQ(*r[0].end, 42575u);
  EXPECT_EQ(parse_hash_args("\"a b.txt\"").size(), 1u);
  for (const char* bad : {"\"unclosed", "\"\"", "\"a\"x", "\"a\" x", "\"a\" 1 2 3", "\"a\" 5 1"})
    EXPECT_TRUE(parse_hash_args(bad).empty()) << bad;
}

} // namespace
} // namespace berth::ftp
