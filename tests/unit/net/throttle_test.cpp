#include "net/throttle.hpp"

#include "support/run_task.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>

namespace berth::net {
namespace {

using Clock = TokenBucket::Clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

// A fixed start: every test drives the bucket with its own clock.
const Clock::time_point kStart = Clock::time_point() + std::chrono::hours(1);

TEST(TokenBucket, BurstIsFreeThenTheCallerWaits) {
  TokenBucket bucket(1000, 500, kStart);
  EXPECT_EQ(bucket.rate(), 1000u);
  EXPECT_EQ(bucket.take(300, kStart), Clock::duration::zero());
  EXPECT_EQ(bucket.take(200, kStart), Clock::duration::zero());
  // Empty: 100 more bytes at 1000 B/s is 100 ms of debt.
  EXPECT_EQ(bucket.take(100, kStart), milliseconds(100));
  // The debt stays: the next taker waits for both.
  EXPECT_EQ(bucket.take(100, kStart), milliseconds(200));
}

TEST(TokenBucket, ChunksLargerThanTheBurstGoNegative) {
  TokenBucket bucket(1000, 100, kStart);
  // 100 of the 2100 are in the bucket; 2000 are paid back at 1000 B/s.
  EXPECT_EQ(bucket.take(2100, kStart), seconds(2));
  // After those two seconds the balance is back at zero, not positive.
  EXPECT_EQ(bucket.take(1, kStart + seconds(2)), milliseconds(1));
}

TEST(TokenBucket, IdleRefillIsCappedAtTheBurst) {
  TokenBucket bucket(1000, 500, kStart);
  EXPECT_EQ(bucket.take(500, kStart), Clock::duration::zero());
  // An hour idle refills only the 500-byte burst.
  const auto later = kStart + std::chrono::hours(1);
  EXPECT_EQ(bucket.take(500, later), Clock::duration::zero());
  EXPECT_EQ(bucket.take(1000, later), seconds(1));
}

TEST(TokenBucket, PartialRefill) {
  TokenBucket bucket(1000, 500, kStart);
  EXPECT_EQ(bucket.take(500, kStart), Clock::duration::zero());
  // 250 ms refill 250 bytes.
  EXPECT_EQ(bucket.take(250, kStart + milliseconds(250)), Clock::duration::zero());
  EXPECT_EQ(bucket.take(10, kStart + milliseconds(250)), milliseconds(10));
}

TEST(TokenBucket, RateHoldsOverManyTakes) {
  // A caller that takes, waits what it is told, then takes again: after the
  // burst, the bytes moved never run ahead of rate * elapsed.
  constexpr std::uint64_t kRate = 100'000;
  constexpr std::uint64_t kBurst = 25'000;
  constexpr std::uint64_t kChunk = 16'384;
  TokenBucket bucket(kRate, kBurst, kStart);
  auto now = kStart;
  std::uint64_t moved = 0;
  for (int i = 0; i < 10'000; ++i) {
    now += bucket.take(kChunk, now);
    moved += kChunk;
    const double elapsed = std::chrono::duration<double>(now - kStart).count();
    ASSERT_LE(static_cast<double>(moved),
              static_cast<double>(kBurst) + elapsed * static_cast<double>(kRate) + 1.0)
        << "take " << i;
  }
  // And the caller is not held back either: the average is the rate.
  const double elapsed = std::chrono::duration<double>(now - kStart).count();
  const double expected = static_cast<double>(moved - kBurst) / static_cast<double>(kRate);
  EXPECT_NEAR(elapsed, expected, 0.001);
}

TEST(TokenBucket, ClockGoingBackwardsAddsNothing) {
  TokenBucket bucket(1000, 100, kStart);
  EXPECT_EQ(bucket.take(100, kStart), Clock::duration::zero());
  EXPECT_EQ(bucket.take(100, kStart - seconds(10)), milliseconds(100));
}

TEST(Throttle, BurstIsAQuarterSecondAndAtLeast64KiB) {
  EXPECT_EQ(Throttle::burst_for(1000), 64u * 1024);
  EXPECT_EQ(Throttle::burst_for(4'000'000), 1'000'000u);
}

TEST(Throttle, RateZeroNeverWaits) {
  Throttle throttle(0);
  EXPECT_EQ(throttle.rate(), 0u);
  // Terabytes through an unlimited throttle: would wait for ages if it counted.
  auto many = [](Throttle& t) -> core::Task<void> {
    for (int i = 0; i < 1000; ++i)
      co_await t.take(std::uint64_t{1} << 40);
  };
  test::run_task(many(throttle));
}

TEST(Throttle, TakeCompletes) {
  Throttle throttle(1'000'000'000);
  auto takes = [](Throttle& t) -> core::Task<void> {
    co_await t.take(1);
    co_await t.take(Throttle::burst_for(t.rate()));
    co_await t.take(4096); // past the burst: waits on a timer, microseconds
  };
  test::run_task(takes(throttle));
}

} // namespace
} // namespace berth::net
