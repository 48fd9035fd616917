#include "vfs/s3/memory_budget.hpp"

#include "vfs/errc.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace berth::vfs::s3 {
namespace {

using namespace asio::experimental::awaitable_operators;

core::Task<void> take(MemoryBudget* budget, std::uint64_t bytes, std::vector<int>* order, int me,
                      MemoryBudget::Lease* out) {
  auto lease = co_await budget->acquire(bytes);
  EXPECT_TRUE(lease);
  order->push_back(me);
  *out = std::move(*lease);
}

TEST(MemoryBudget, GrantsAtOnceWhileThereIsRoom) {
  MemoryBudget budget(100);
  auto a = budget.try_acquire(60);
  EXPECT_EQ(a.bytes(), 60u);
  EXPECT_EQ(budget.available(), 40u);
  EXPECT_EQ(budget.try_acquire(41).bytes(), 0u);
  a.reset();
  EXPECT_EQ(budget.available(), 100u);
}

TEST(MemoryBudget, WaitersResumeInOrderAsBytesComeBack) {
  MemoryBudget budget(100);
  asio::io_context ctx;
  auto held = budget.try_acquire(100);
  std::vector<int> order;
  MemoryBudget::Lease l1, l2, l3;
  asio::co_spawn(ctx, take(&budget, 80, &order, 1, &l1), asio::detached);
  asio::co_spawn(ctx, take(&budget, 10, &order, 2, &l2), asio::detached);
  asio::co_spawn(ctx, take(&budget, 10, &order, 3, &l3), asio::detached);
  ctx.poll();
  EXPECT_TRUE(order.empty());
  EXPECT_EQ(budget.waiting(), 3u);
  // A small request does not overtake a large one queued before it.
  EXPECT_EQ(budget.try_acquire(5).bytes(), 0u);
  held.reset();
  ctx.poll();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(budget.available(), 0u);
  l1.reset();
  l2.reset();
  l3.reset();
  EXPECT_EQ(budget.available(), 100u);
}

core::Task<void> take_or_fail(MemoryBudget* budget, std::uint64_t bytes,
                              std::optional<std::error_code>* error) {
  auto lease = co_await budget->acquire(bytes);
  *error = lease.error();
}

core::Task<void> take_noting_thread(MemoryBudget* budget, std::uint64_t bytes,
                                    std::thread::id* resumed_on) {
  auto lease = co_await budget->acquire(bytes);
  EXPECT_TRUE(lease);
  *resumed_on = std::this_thread::get_id();
}

TEST(MemoryBudget, MoreThanTheTotalIsRefused) {
  MemoryBudget budget(10);
  asio::io_context ctx;
  std::optional<std::error_code> error;
  asio::co_spawn(ctx, take_or_fail(&budget, 11, &error), asio::detached);
  ctx.run();
  ASSERT_TRUE(error);
  EXPECT_EQ(*error, make_error_code(Errc::no_space));
}

core::Task<void> wait_or_give_up(MemoryBudget* budget, asio::steady_timer* timer,
                                 std::optional<std::error_code>* out) {
  auto r = co_await (budget->acquire(50) || timer->async_wait(asio::use_awaitable));
  if (r.index() == 0)
    *out = std::get<0>(r).error();
  else
    *out = std::error_code{};
}

TEST(MemoryBudget, ACancelledWaiterLeavesTheQueueAndTakesNothing) {
  MemoryBudget budget(100);
  asio::io_context ctx;
  auto held = budget.try_acquire(80);
  asio::steady_timer timer(ctx, std::chrono::milliseconds(1));
  std::optional<std::error_code> result;
  asio::co_spawn(ctx, wait_or_give_up(&budget, &timer, &result), asio::detached);
  ctx.run();
  ASSERT_TRUE(result);
  EXPECT_FALSE(*result); // the timer won
  EXPECT_EQ(budget.waiting(), 0u);
  EXPECT_EQ(budget.available(), 20u);
}

TEST(MemoryBudget, AWaiterResumesOnItsOwnLoopWhenAnotherThreadGivesBack) {
  MemoryBudget budget(10);
  auto held = budget.try_acquire(10);
  asio::io_context ctx;
  std::thread::id resumed_on;
  asio::co_spawn(ctx, take_noting_thread(&budget, 10, &resumed_on), asio::detached);
  ctx.poll();
  ASSERT_EQ(budget.waiting(), 1u);
  std::thread other([&] { held.reset(); });
  other.join();
  ctx.run();
  EXPECT_EQ(resumed_on, std::this_thread::get_id());
  EXPECT_EQ(budget.available(), 10u);
}

} // namespace
} // namespace berth::vfs::s3
