#include "core/watchdog.hpp"

#include <asio/io_context.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <optional>

namespace berth::core {
namespace {

using namespace std::chrono_literals;

// Runs `ctx` until `done()` or, at the latest, `limit` from now.
template <class Done>
void run_until(asio::io_context& ctx, Done done, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < end)
    ctx.run_one_for(10ms);
}

TEST(Watchdog, ExpiresOnceWhenTheDeadlinePasses) {
  asio::io_context ctx(1);
  int expired = 0;
  Watchdog w(ctx.get_executor(), [&] { ++expired; });
  w.arm(20ms);
  run_until(
      ctx, [&] { return expired > 0; }, 10s);
  EXPECT_EQ(expired, 1);
  // Disarmed once it expired: nothing more without a new arm(), and nothing
  // is left waiting.
  EXPECT_EQ(ctx.run_for(100ms), 0u);
  EXPECT_EQ(expired, 1);
}

TEST(Watchdog, MovingTheDeadlineLaterKeepsItFromExpiring) {
  asio::io_context ctx(1);
  int expired = 0;
  Watchdog w(ctx.get_executor(), [&] { ++expired; });
  w.arm(30ms);
  w.arm(1h); // a read that went on: a store; the timer fires early and waits again
  run_until(
      ctx, [] { return false; }, 150ms);
  EXPECT_EQ(expired, 0);
  w.arm(10ms); // sooner than the timer: it is set again
  run_until(
      ctx, [&] { return expired > 0; }, 10s);
  EXPECT_EQ(expired, 1);
}

TEST(Watchdog, DisarmedItNeverExpires) {
  asio::io_context ctx(1);
  int expired = 0;
  Watchdog w(ctx.get_executor(), [&] { ++expired; });
  w.arm(10ms);
  w.disarm();
  run_until(
      ctx, [] { return false; }, 100ms);
  EXPECT_EQ(expired, 0);
  EXPECT_EQ(ctx.run_for(50ms), 0u); // the early firing did not wait again
}

TEST(Watchdog, ExpireMayArmAgain) {
  asio::io_context ctx(1);
  int expired = 0;
  std::optional<Watchdog> w;
  w.emplace(ctx.get_executor(), [&] {
    if (++expired < 3)
      w->arm(5ms); // a stall check that saw progress
  });
  w->arm(5ms);
  run_until(
      ctx, [&] { return expired >= 3; }, 10s);
  EXPECT_EQ(expired, 3);
}

TEST(Watchdog, DestroyedItNeverCallsAgain) {
  asio::io_context ctx(1);
  int expired = 0;
  {
    Watchdog w(ctx.get_executor(), [&] { ++expired; });
    w.arm(5ms);
  }
  ctx.run(); // the cancelled wait ends; run() returns
  EXPECT_EQ(expired, 0);
}

} // namespace
} // namespace berth::core
