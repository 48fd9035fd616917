#include "sftp/scp/codec.hpp"

#include <gtest/gtest.h>

#include <string>

namespace berth::sftp::scp {
namespace {

using K = Record::Kind;

TEST(ScpCodec, ParsesEachKindOfLine) {
  auto c = parse_line("C0644 12345 a b.txt");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->kind, K::file);
  EXPECT_EQ(c->mode, 0644u);
  EXPECT_EQ(c->size, 12345u);
  EXPECT_EQ(c->name, "a b.txt");

  auto d = parse_line("D4755 0 dir");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->kind, K::directory);
  EXPECT_EQ(d->mode, 04755u);
  EXPECT_EQ(d->name, "dir");

  auto e = parse_line("E");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind, K::end);

  auto t = parse_line("T1700000000 0 1600000000 999999");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->kind, K::times);
  EXPECT_EQ(t->mtime, 1700000000u);
  EXPECT_EQ(t->atime, 1600000000u);

  auto w = parse_line("\x01scp: x: No such file");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->kind, K::warning);
  EXPECT_EQ(w->name, "scp: x: No such file");
  auto f = parse_line("\x02oops");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->kind, K::fatal);
}

TEST(ScpCodec, SizeUpToTheLargestOffset) {
  auto c = parse_line("C0600 9223372036854775807 big");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->size, 9223372036854775807u);
}

TEST(ScpCodec, RefusesMalformedLinesWithTheirReason) {
  const std::pair<std::string, Errc> cases[] = {
      {"", Errc::bad_type},
      {"X0644 1 a", Errc::bad_type},
      {"c0644 1 a", Errc::bad_type},
      {"C0844 1 a", Errc::bad_mode},
      {"C644 1 a", Errc::bad_mode},
      {"C06444 1 a", Errc::bad_mode},
      {"C0644", Errc::bad_mode},
      {"C0644  1 a", Errc::bad_size},
      {"C0644 +1 a", Errc::bad_size},
      {"C0644 -1 a", Errc::bad_size},
      {"C0644 1x a", Errc::bad_size},
      {"C0644 9223372036854775808 a", Errc::bad_size},
      {"C0644 99999999999999999999 a", Errc::bad_size},
      {"C0644 1", Errc::bad_size},
      {"C0644 1 ", Errc::bad_name},
      {"C0644 1 .", Errc::bad_name},
      {"C0644 1 ..", Errc::bad_name},
      {"C0644 1 ../x", Errc::bad_name},
      {"C0644 1 a/b", Errc::bad_name},
      {"C0644 1 /etc/passwd", Errc::bad_name},
      {std::string("C0644 1 a\0b", 11), Errc::bad_name},
      {"D0755 0 ..", Errc::bad_name},
      {"E ", Errc::trailing},
      {"T1 0 2", Errc::bad_time},
      {"T1 0 2 0 ", Errc::bad_time},
      {"T1 1000000 2 0", Errc::bad_time},
      {"T-1 0 2 0", Errc::bad_time},
      {"Tx 0 2 0", Errc::bad_time},
      {std::string(kMaxLine, 'C'), Errc::too_long},
  };
  for (const auto& [line, want] : cases) {
    auto r = parse_line(line);
    ASSERT_FALSE(r) << line;
    EXPECT_EQ(r.error(), want) << line;
    EXPECT_FALSE(r.error().message().empty());
  }
}

TEST(ScpCodec, ValidNames) {
  EXPECT_TRUE(valid_name("a"));
  EXPECT_TRUE(valid_name("with space"));
  EXPECT_TRUE(valid_name("...")); // a name, not a parent
  EXPECT_TRUE(valid_name(".hidden"));
  EXPECT_FALSE(valid_name(""));
  EXPECT_FALSE(valid_name("."));
  EXPECT_FALSE(valid_name(".."));
  EXPECT_FALSE(valid_name("a/b"));
  EXPECT_FALSE(valid_name("a\nb"));
  EXPECT_FALSE(valid_name(std::string("a\0b", 3)));
  EXPECT_FALSE(valid_name(std::string(kMaxLine, 'a')));
}

TEST(ScpCodec, EncodesWhatItParses) {
  EXPECT_EQ(encode_file(0644, 5, "a b"), "C0644 5 a b\n");
  EXPECT_EQ(encode_directory(0755, "d"), "D0755 0 d\n");
  EXPECT_EQ(encode_end(), "E\n");
  EXPECT_EQ(encode_times(1700000000, 12), "T1700000000 0 12 0\n");
  for (const std::string& line : {encode_file(04711, 1ull << 40, "x"), encode_directory(0700, "y"),
                                  encode_end(), encode_times(1, 2)}) {
    ASSERT_EQ(line.back(), '\n');
    auto r = parse_line(std::string_view(line).substr(0, line.size() - 1));
    ASSERT_TRUE(r) << line;
  }
}

TEST(ScpCodec, ErrorLinesAreOneLineAndBounded) {
  EXPECT_EQ(encode_error(false, "a: No such file"), "\x01scp: a: No such file\n");
  EXPECT_EQ(encode_error(true, "bad\nline\r"), "\x02scp: bad?line?\n");
  const std::string long_one = encode_error(false, std::string(10000, 'x'));
  EXPECT_LE(long_one.size(), kMaxLine);
  EXPECT_EQ(long_one.find('\n'), long_one.size() - 1);
}

} // namespace
} // namespace berth::sftp::scp
