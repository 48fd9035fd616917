#include "vfs/quota.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <thread>
#include <vector>

namespace berth::vfs {
namespace {

TEST(Quota, NoLimits) {
  Quota q(0, 0);
  EXPECT_EQ(q.usage(), (Usage{0, 0}));
  EXPECT_TRUE(q.try_charge(std::int64_t{1} << 50, 1'000'000));
  EXPECT_EQ(q.usage(), (Usage{std::int64_t{1} << 50, 1'000'000}));
}

TEST(Quota, BytesLimit) {
  Quota q(100, 0, Usage{40, 2});
  EXPECT_TRUE(q.try_charge(60, 0)); // exactly at the limit
  EXPECT_EQ(q.usage(), (Usage{100, 2}));
  EXPECT_FALSE(q.try_charge(1, 0));
  EXPECT_EQ(q.usage(), (Usage{100, 2}));
  EXPECT_TRUE(q.try_charge(0, 5)); // no files limit
  EXPECT_TRUE(q.try_charge(0, 0));
}

TEST(Quota, FilesLimit) {
  Quota q(0, 3, Usage{0, 2});
  EXPECT_TRUE(q.try_charge(10, 1));
  EXPECT_FALSE(q.try_charge(0, 1));
  EXPECT_EQ(q.usage(), (Usage{10, 3}));
}

TEST(Quota, RefusalChangesNeither) {
  Quota q(100, 1);
  EXPECT_FALSE(q.try_charge(50, 2)); // bytes fit, files do not
  EXPECT_FALSE(q.try_charge(500, 1));
  EXPECT_EQ(q.usage(), (Usage{0, 0}));
}

TEST(Quota, NegativeDeltasAlwaysApply) {
  Quota q(100, 2, Usage{150, 5}); // above both limits (they were lowered)
  EXPECT_FALSE(q.try_charge(1, 0));
  EXPECT_TRUE(q.try_charge(-30, -1));
  EXPECT_EQ(q.usage(), (Usage{120, 4}));
  // Shrinking one count while growing the other is checked on the growth only.
  EXPECT_FALSE(q.try_charge(-10, 1));
  EXPECT_TRUE(q.try_charge(-20, -3));
  EXPECT_EQ(q.usage(), (Usage{100, 1}));
  EXPECT_TRUE(q.try_charge(-1000, -1000));
  EXPECT_EQ(q.usage(), (Usage{0, 0}));
}

TEST(Quota, ReleaseAndAdjustNeverGoBelowZero) {
  Quota q(100, 10, Usage{50, 3});
  q.release(20, 1);
  EXPECT_EQ(q.usage(), (Usage{30, 2}));
  q.release(500, 50);
  EXPECT_EQ(q.usage(), (Usage{0, 0}));
  q.adjust(250, 20); // past the limits: the disk already holds it
  EXPECT_EQ(q.usage(), (Usage{250, 20}));
  q.adjust(-300, -1);
  EXPECT_EQ(q.usage(), (Usage{0, 19}));
  q.release(std::numeric_limits<std::int64_t>::min(), 0);
  q.adjust(std::numeric_limits<std::int64_t>::max(), 0);
  q.adjust(std::numeric_limits<std::int64_t>::max(), 0);
  EXPECT_EQ(q.usage().bytes, std::numeric_limits<std::int64_t>::max());
}

TEST(Quota, HugeChargeDoesNotOverflowPastTheLimit) {
  Quota q(100, 0, Usage{50, 0});
  EXPECT_FALSE(q.try_charge(std::numeric_limits<std::int64_t>::max(), 0));
  EXPECT_EQ(q.usage(), (Usage{50, 0}));
}

TEST(Quota, SetUsage) {
  Quota q(100, 5);
  q.set_usage(Usage{99, 5});
  EXPECT_EQ(q.usage(), (Usage{99, 5}));
  EXPECT_EQ(q.max_bytes(), 100);
  EXPECT_EQ(q.max_files(), 5);
}

TEST(Quota, ConcurrentChargesNeverPassTheLimit) {
  constexpr std::int64_t kLimit = 10'000;
  Quota q(kLimit, 0);
  std::vector<std::thread> threads;
  std::vector<std::int64_t> granted(4, 0);
  for (std::size_t t = 0; t < granted.size(); ++t)
    threads.emplace_back([&q, &granted, t] {
      for (int i = 0; i < 10'000; ++i)
        if (q.try_charge(7, 0))
          granted[t] += 7;
    });
  for (auto& t : threads)
    t.join();
  std::int64_t total = 0;
  for (auto g : granted)
    total += g;
  EXPECT_EQ(total, q.usage().bytes);
  EXPECT_LE(total, kLimit);
  EXPECT_GT(total, kLimit - 7);
}

TEST(Quota, ObserverSeesEachChangeAsApplied) {
  Quota q(100, 0, Usage{10, 1});
  std::vector<std::pair<std::int64_t, std::int64_t>> seen;
  q.observe([&seen](std::int64_t bytes, std::int64_t files) { seen.emplace_back(bytes, files); });
  ASSERT_TRUE(q.try_charge(50, 1));
  EXPECT_FALSE(q.try_charge(41, 0)); // refused: nothing changes, nothing seen
  q.release(70, 0);                  // clamped at 0: only the 60 there were
  q.adjust(0, 0);                    // no change
  q.adjust(5, -1);
  const std::vector<std::pair<std::int64_t, std::int64_t>> want{{50, 1}, {-60, 0}, {5, -1}};
  EXPECT_EQ(seen, want);
  EXPECT_EQ(q.usage(), (Usage{5, 1}));
}

} // namespace
} // namespace berth::vfs
