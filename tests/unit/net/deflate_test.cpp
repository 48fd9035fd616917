#include "net/deflate.hpp"

#include "core/errc.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace berth::net {
namespace {

std::string compress_all(const std::string& in, int level) {
  auto z = ZStream::make(ZStream::Kind::deflate, level);
  EXPECT_TRUE(z);
  std::string out;
  char buf[1000];
  asio::const_buffer rest = asio::buffer(in);
  for (;;) {
    auto step = z->run(rest, asio::buffer(buf), true);
    EXPECT_TRUE(step);
    rest += step->consumed;
    out.append(buf, step->produced);
    if (step->ended)
      break;
  }
  return out;
}

// Inflates `in` with an output buffer of `room` bytes a step.
core::Result<std::string> inflate_all(const std::string& in, std::size_t room) {
  auto z = ZStream::make(ZStream::Kind::inflate);
  EXPECT_TRUE(z);
  std::string out;
  std::vector<char> buf(room);
  asio::const_buffer rest = asio::buffer(in);
  while (!z->ended()) {
    auto step = z->run(rest, asio::buffer(buf));
    if (!step)
      return core::unexpected(step.error());
    EXPECT_LE(step->produced, room);
    rest += step->consumed;
    out.append(buf.data(), step->produced);
    if (step->consumed == 0 && step->produced == 0 && !step->ended)
      return core::unexpected(core::Errc::closed); // needs more input
  }
  return out;
}

TEST(ZStream, RoundTripAtEveryLevel) {
  std::mt19937 rng(18);
  std::string data;
  for (int i = 0; i < 100000; ++i)
    data.push_back(i % 3 == 0 ? static_cast<char>(rng()) : 'a');
  for (int level = 1; level <= 9; ++level) {
    std::string z = compress_all(data, level);
    EXPECT_LT(z.size(), data.size());
    auto back = inflate_all(z, 4096);
    ASSERT_TRUE(back) << level;
    EXPECT_EQ(*back, data);
  }
}

TEST(ZStream, EmptyStreamAndBoundedBomb) {
  auto empty = inflate_all(compress_all("", 6), 16);
  ASSERT_TRUE(empty);
  EXPECT_EQ(*empty, "");
  // 16 MiB of zeros from a few KiB: each step gives at most the 64 bytes asked for.
  std::string bomb = compress_all(std::string(16 << 20, '\0'), 9);
  EXPECT_LT(bomb.size(), 64u * 1024);
  auto z = ZStream::make(ZStream::Kind::inflate);
  char out[64];
  auto step = z->run(asio::buffer(bomb), asio::buffer(out));
  ASSERT_TRUE(step);
  EXPECT_EQ(step->produced, sizeof out);
}

TEST(ZStream, CorruptTruncatedAndTrailingData) {
  EXPECT_EQ(inflate_all("not a zlib stream at all", 100).error(), core::Errc::bad_data);
  std::string good = compress_all(std::string(5000, 'x'), 6);
  std::string bad_sum = good;
  bad_sum[bad_sum.size() - 1] ^= 1;
  EXPECT_EQ(inflate_all(bad_sum, 100).error(), core::Errc::bad_data);
  EXPECT_EQ(inflate_all(good.substr(0, good.size() / 2), 100).error(), core::Errc::closed);
  EXPECT_EQ(inflate_all(good + "junk", 100000).error(), core::Errc::bad_data);
}

} // namespace
} // namespace berth::net
