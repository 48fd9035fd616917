#include "vfs/file_ranges.hpp"

#include "support/run_task.hpp"
#include "support/temp_dir.hpp"
#include "support/vfs_helpers.hpp"
#include "vfs/local/local_fs.hpp"

#include <gtest/gtest.h>

#include <string>

namespace berth::vfs {
namespace {

using test::run_task;
using test::vp;

std::string hex(const std::string& digest) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : digest) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

// XCRC (issue 18): zlib's CRC-32, most significant byte first, over a range
// and in blocks, as the other digests are.
TEST(FileRanges, Crc32) {
  test::TempDir dir;
  dir.write("check.txt", "123456789");
  auto fs = LocalFs::open(dir.path());
  ASSERT_TRUE(fs) << fs.error().message();
  auto f = run_task((*fs)->open_read(vp("/check.txt"), 0));
  ASSERT_TRUE(f);
  EXPECT_EQ(digest_size(Digest::crc32), 4u);
  auto whole = run_task(hash_range(**f, Digest::crc32, 0, 9, 0, 1));
  ASSERT_TRUE(whole && *whole);
  EXPECT_EQ(hex((**whole)[0]), "cbf43926"); // the CRC-32 check value
  auto part = run_task(hash_range(**f, Digest::crc32, 0, 1, 0, 1));
  ASSERT_TRUE(part && *part);
  EXPECT_EQ(hex((**part)[0]), "83dcefb7"); // "1"
  auto empty = run_task(hash_range(**f, Digest::crc32, 9, 0, 0, 1));
  ASSERT_TRUE(empty && *empty);
  EXPECT_EQ(hex((**empty)[0]), "00000000");
  auto blocks = run_task(hash_range(**f, Digest::crc32, 0, 9, 1, 9));
  ASSERT_TRUE(blocks && *blocks);
  ASSERT_EQ((**blocks).size(), 9u);
  EXPECT_EQ(hex((**blocks)[0]), "83dcefb7");
}

} // namespace
} // namespace berth::vfs
