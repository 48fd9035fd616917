#include "sftp/codec.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace berth::sftp {
namespace {

std::vector<std::uint8_t> bytes(std::string_view s) {
  return {s.begin(), s.end()};
}

TEST(SftpReader, ReadsWireTypesBigEndian) {
  std::string wire("\x07"
                   "\x00\x00\x01\x02"
                   "\x00\x00\x00\x01\x00\x00\x00\x02"
                   "\x00\x00\x00\x03"
                   "abc",
                   20);
  Reader r(wire);
  EXPECT_EQ(*r.u8(), 7);
  EXPECT_EQ(*r.u32(), 0x102u);
  EXPECT_EQ(*r.u64(), 0x100000002ull);
  EXPECT_EQ(*r.string(), "abc");
  EXPECT_TRUE(r.at_end());
}

TEST(SftpReader, RefusesToReadPastTheEnd) {
  Reader r(std::string_view("\x00\x00", 2));
  EXPECT_EQ(r.u32().error(), Errc::truncated);
  Reader r2(std::string_view("\x00\x00\x00\x05"
                             "abc",
                             7));
  EXPECT_EQ(r2.string().error(), Errc::truncated);
  // A 4 GiB string length in a tiny packet is refused, not allocated.
  Reader r3(std::string_view("\xff\xff\xff\xff", 4));
  EXPECT_EQ(r3.string().error(), Errc::truncated);
  Reader r4(std::string_view("\x01", 1));
  EXPECT_EQ(r4.u64().error(), Errc::truncated);
}

TEST(SftpAttrs, RoundTripsEveryField) {
  Attrs a;
  a.size = 1ull << 40;
  a.uid_gid = {1000, 100};
  a.permissions = 0100644;
  a.atime_mtime = {1700000000, 1700000001};
  a.extended = {{"x@example.com", "data"}};
  Writer w;
  w.attrs(a);
  Reader r(w.bytes());
  auto back = r.attrs();
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, a);
  EXPECT_TRUE(r.at_end());
}

TEST(SftpAttrs, EmptyAttrsAreFourZeroBytes) {
  Writer w;
  w.attrs(Attrs{});
  EXPECT_EQ(w.bytes(), std::string(4, '\0'));
}

TEST(SftpAttrs, HugeExtendedCountIsRefusedBeforeAllocating) {
  std::string wire("\x80\x00\x00\x00"
                   "\x7f\xff\xff\xff",
                   8);
  Reader r(wire);
  EXPECT_EQ(r.attrs().error(), Errc::truncated);
}

TEST(SftpAttrs, TruncatedFieldsAreErrors) {
  // Flags promise size, uid/gid, permissions and times; the bytes stop early.
  for (std::string wire :
       {std::string("\x00\x00\x00\x01\x00\x00", 6),
        std::string("\x00\x00\x00\x02\x00\x00\x00\x01", 8), std::string("\x00\x00\x00\x04", 4),
        std::string("\x00\x00\x00\x08\x00\x00\x00\x01", 8)}) {
    Reader r(wire);
    EXPECT_EQ(r.attrs().error(), Errc::truncated);
  }
}

TEST(SftpFrame, NeedsTheWholePacket) {
  auto b = bytes(std::string("\x00\x00\x00\x05\x01\x00\x00", 7));
  auto f = frame(b, 1024);
  ASSERT_TRUE(f);
  EXPECT_FALSE(f->has_value());
  b.push_back(0);
  b.push_back(3);
  f = frame(b, 1024);
  ASSERT_TRUE(f && f->has_value());
  EXPECT_EQ(**f, 9u);
}

TEST(SftpFrame, LengthLimitsAreCheckedFirst) {
  auto zero = bytes(std::string("\x00\x00\x00\x00", 4));
  EXPECT_EQ(frame(zero, 1024).error(), Errc::empty_packet);
  auto huge = bytes(std::string("\xff\xff\xff\xff", 4));
  EXPECT_EQ(frame(huge, 256 * 1024).error(), Errc::too_long);
  auto just_over = bytes(std::string("\x00\x04\x00\x01", 4));
  EXPECT_EQ(frame(just_over, 256 * 1024).error(), Errc::too_long);
  auto at_limit = bytes(std::string("\x00\x04\x00\x00", 4));
  auto f = frame(at_limit, 256 * 1024);
  ASSERT_TRUE(f);
  EXPECT_FALSE(f->has_value()); // legal, waiting for the body
}

TEST(SftpFrame, ShortHeaderWaits) {
  auto b = bytes(std::string("\x00\x00", 2));
  auto f = frame(b, 1024);
  ASSERT_TRUE(f);
  EXPECT_FALSE(f->has_value());
}

TEST(SftpEncode, StatusPacket) {
  Writer w;
  encode_status(w, 42, Status::no_such_file, "");
  Reader r(w.bytes());
  EXPECT_EQ(*r.u32(), w.bytes().size() - 4);
  EXPECT_EQ(*r.u8(), static_cast<std::uint8_t>(Type::status));
  EXPECT_EQ(*r.u32(), 42u);
  EXPECT_EQ(*r.u32(), 2u);
  EXPECT_EQ(*r.string(), "No such file");
  EXPECT_EQ(*r.string(), "en");
  EXPECT_TRUE(r.at_end());
}

TEST(SftpEncode, PacketsBuiltBackToBackKeepTheirOwnLengths) {
  Writer w;
  encode_handle(w, 1, "h1");
  encode_data(w, 2, "payload");
  auto b = bytes(w.bytes());
  auto first = frame(b, 1024);
  ASSERT_TRUE(first && first->has_value());
  std::span<const std::uint8_t> rest(b.data() + **first, b.size() - **first);
  auto second = frame(rest, 1024);
  ASSERT_TRUE(second && second->has_value());
  EXPECT_EQ(**first + **second, b.size());
  Reader r(rest.subspan(4));
  EXPECT_EQ(*r.u8(), static_cast<std::uint8_t>(Type::data));
  EXPECT_EQ(*r.u32(), 2u);
  EXPECT_EQ(*r.string(), "payload");
}

TEST(SftpEncode, NameAndVersion) {
  Writer w;
  encode_name(w, 7, {{"a", "-rw-r--r-- 1 u g 1 Jan  1 00:00 a", Attrs{}}});
  Reader r(w.bytes());
  (void)r.u32();
  EXPECT_EQ(*r.u8(), static_cast<std::uint8_t>(Type::name));
  EXPECT_EQ(*r.u32(), 7u);
  EXPECT_EQ(*r.u32(), 1u);
  EXPECT_EQ(*r.string(), "a");
  (void)r.string();
  EXPECT_TRUE(r.attrs());
  EXPECT_TRUE(r.at_end());

  Writer v;
  encode_version(v, {{"posix-rename@openssh.com", "1"}});
  Reader rv(v.bytes());
  (void)rv.u32();
  EXPECT_EQ(*rv.u8(), static_cast<std::uint8_t>(Type::version));
  EXPECT_EQ(*rv.u32(), 3u);
  EXPECT_EQ(*rv.string(), "posix-rename@openssh.com");
  EXPECT_EQ(*rv.string(), "1");
  EXPECT_TRUE(rv.at_end());
}

} // namespace
} // namespace berth::sftp
