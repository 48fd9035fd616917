#include "vfs/s3/part_assembler.hpp"

#include "vfs/errc.hpp"

#include <gtest/gtest.h>

#include <numeric>

namespace berth::vfs::s3 {
namespace {

constexpr std::uint64_t kPart = 16;

std::vector<std::byte> bytes_from(std::uint64_t offset, std::size_t n) {
  std::vector<std::byte> out(n);
  for (std::size_t i = 0; i < n; ++i)
    out[i] = static_cast<std::byte>((offset + i) * 7 + 1);
  return out;
}

/// Writes [offset, offset + n) of the pattern, opening parts as needed.
void write(PartAssembler& a, std::uint64_t offset, std::size_t n) {
  auto parts = a.parts_for(offset, n);
  ASSERT_TRUE(parts) << parts.error().message();
  for (auto p = parts->first; p <= parts->second; ++p)
    if (!a.is_open(p))
      a.open(p, PartBuffer{});
  auto data = bytes_from(offset, n);
  a.put(offset, data);
}

TEST(PartAssembler, InOrderWritesMakeWholeParts) {
  PartAssembler a(0, kPart, 2);
  write(a, 0, 10);
  EXPECT_FALSE(a.pop_complete());
  write(a, 10, 10); // crosses into part 1
  auto first = a.pop_complete();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->index, 0u);
  EXPECT_EQ(first->size, kPart);
  EXPECT_EQ(first->buffer.bytes, bytes_from(0, kPart));
  EXPECT_FALSE(a.pop_complete());
  EXPECT_EQ(a.window_start(), kPart);
  EXPECT_EQ(a.end(), 20u);
  auto rest = a.finish();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].index, 1u);
  EXPECT_EQ(rest[0].size, 4u);
  EXPECT_EQ(std::vector<std::byte>(rest[0].buffer.bytes.begin(), rest[0].buffer.bytes.begin() + 4),
            bytes_from(16, 4));
}

TEST(PartAssembler, OutOfOrderWritesWithinTheWindowAreAssembledInPlace) {
  PartAssembler a(0, kPart, 2);
  // Pipelined SFTP writes of 4 bytes arriving shuffled, across a part boundary.
  for (std::uint64_t off : {4u, 0u, 12u, 20u, 8u, 16u, 28u, 24u})
    write(a, off, 4);
  std::vector<ReadyPart> parts;
  while (auto p = a.pop_complete())
    parts.push_back(std::move(*p));
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].buffer.bytes, bytes_from(0, kPart));
  EXPECT_EQ(parts[1].buffer.bytes, bytes_from(kPart, kPart));
  EXPECT_TRUE(a.finish().empty());
}

TEST(PartAssembler, OverlappingWritesCountOnce) {
  PartAssembler a(0, kPart, 1);
  write(a, 0, 8);
  write(a, 4, 8); // overlaps [4, 8)
  EXPECT_FALSE(a.pop_complete());
  write(a, 12, 4);
  EXPECT_TRUE(a.pop_complete());
}

TEST(PartAssembler, WritesOutsideTheWindowAreRefused) {
  PartAssembler a(0, kPart, 2);
  write(a, 0, kPart);
  ASSERT_TRUE(a.pop_complete());
  // Into part 0, already sent.
  EXPECT_EQ(a.parts_for(3, 2).error(), make_error_code(Errc::unsupported));
  // Parts 1 and 2 are the window; part 3 is beyond it.
  EXPECT_TRUE(a.parts_for(2 * kPart, kPart));
  EXPECT_EQ(a.parts_for(3 * kPart, 1).error(), make_error_code(Errc::unsupported));
  EXPECT_EQ(a.parts_for(3 * kPart - 1, 2).error(), make_error_code(Errc::unsupported));
}

TEST(PartAssembler, HolesReadAsZerosAndPartsNeverOpenedAreMade) {
  PartAssembler a(0, kPart, 2);
  write(a, kPart + 2, 2); // part 0 never written
  auto parts = a.finish();
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].size, kPart);
  EXPECT_EQ(parts[0].buffer.bytes, std::vector<std::byte>(kPart));
  EXPECT_EQ(parts[1].size, 4u);
  EXPECT_EQ(parts[1].buffer.bytes[0], std::byte{0});
  EXPECT_EQ(parts[1].buffer.bytes[2], bytes_from(kPart + 2, 1)[0]);
}

TEST(PartAssembler, AnOriginShiftsThePartBoundaries) {
  PartAssembler a(100, kPart, 2);
  EXPECT_EQ(a.parts_for(99, 1).error(), make_error_code(Errc::unsupported));
  write(a, 100, kPart + 1);
  auto first = a.pop_complete();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->buffer.bytes, bytes_from(100, kPart));
  auto rest = a.finish();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].size, 1u);
  EXPECT_EQ(rest[0].buffer.bytes[0], bytes_from(100 + kPart, 1)[0]);
}

TEST(PartAssembler, TruncateWithinTheWindowCutsAndForgets) {
  PartAssembler a(0, kPart, 2);
  write(a, 0, kPart + 8);
  ASSERT_TRUE(a.pop_complete());
  EXPECT_EQ(a.truncate(kPart - 1).error(), make_error_code(Errc::unsupported)); // sent
  EXPECT_EQ(a.truncate(kPart + 9).error(), make_error_code(Errc::unsupported)); // past end
  ASSERT_TRUE(a.truncate(kPart + 3));
  EXPECT_EQ(a.end(), kPart + 3);
  write(a, kPart + 3, kPart - 3); // the rest of part 1, again
  auto p = a.pop_complete();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->buffer.bytes, bytes_from(kPart, kPart));
}

TEST(PartAssembler, AScatterOfTinyWritesIsBounded) {
  constexpr std::uint64_t kBig = PartAssembler::kMaxPieces * 4;
  PartAssembler a(0, kBig, 1);
  std::uint64_t off = 0;
  for (std::size_t i = 0; i < PartAssembler::kMaxPieces; ++i, off += 2)
    write(a, off, 1); // every other byte: no two pieces merge
  EXPECT_EQ(a.parts_for(off, 1).error(), make_error_code(Errc::unsupported));
}

} // namespace
} // namespace berth::vfs::s3
