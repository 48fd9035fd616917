#include "core/drain.hpp"

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace berth::core {
namespace {

TEST(Drain, StartWakesSubscribersOnOtherLoops) {
  Drain d;
  asio::io_context a(1), b(1);
  std::atomic<int> woken{0};
  auto count = [&woken] { ++woken; };
  auto s1 = d.subscribe(a.get_executor(), count);
  auto s2 = d.subscribe(a.get_executor(), count);
  auto s3 = d.subscribe(b.get_executor(), count);
  a.poll();
  b.poll();
  EXPECT_EQ(woken, 0);
  EXPECT_FALSE(d.draining());
  std::thread other([&] { d.start([] {}); }); // from another thread, as a signal handler
  other.join();
  EXPECT_TRUE(d.draining());
  a.restart(); // poll() found no work and stopped them
  b.restart();
  a.run();
  b.run();
  EXPECT_EQ(woken, 3);
}

TEST(Drain, SubscribingAfterStartWakesAtOnce) {
  Drain d;
  d.start([] {});
  asio::io_context ctx(1);
  std::atomic<int> woken{0};
  auto s = d.subscribe(ctx.get_executor(), [&woken] { ++woken; });
  ctx.run();
  EXPECT_EQ(woken, 1);
}

TEST(Drain, SubscriptionsAreCalledOnTheirLoopWhileTheyLive) {
  Drain d;
  asio::io_context a(1), b(1);
  int on_a = 0, on_b = 0, gone = 0;
  auto sa = d.subscribe(a.get_executor(), [&] { ++on_a; });
  auto sb = d.subscribe(b.get_executor(), [&] { ++on_b; });
  {
    auto dropped = d.subscribe(a.get_executor(), [&] { ++gone; });
  }
  std::thread other([&] { d.start([] {}); });
  other.join();
  EXPECT_EQ(on_a + on_b, 0); // posted, not called from the starting thread
  a.run();
  EXPECT_EQ(on_a, 1);
  EXPECT_EQ(on_b, 0);
  sb = Drain::Subscription(); // gone before its loop ran the wake
  b.run();
  EXPECT_EQ(on_b, 0);
  EXPECT_EQ(gone, 0);
  // After the start: called soon, on its loop.
  asio::io_context c(1);
  int late = 0;
  auto sc = d.subscribe(c.get_executor(), [&] { ++late; });
  EXPECT_EQ(late, 0);
  c.run();
  EXPECT_EQ(late, 1);
}

TEST(Drain, IdleRunsOnceWhenTheLastSessionEnds) {
  Drain d;
  int idle = 0;
  auto first = d.hold();
  auto second = d.hold();
  EXPECT_EQ(d.running(), 2u);
  d.start([&idle] { ++idle; });
  EXPECT_EQ(idle, 0);
  first = Drain::Hold();
  EXPECT_EQ(idle, 0);
  Drain::Hold moved = std::move(second);
  moved = Drain::Hold();
  EXPECT_EQ(idle, 1);
  EXPECT_EQ(d.running(), 0u);
  auto late = d.hold(); // a session accepted just before the listeners closed
  late = Drain::Hold();
  EXPECT_EQ(idle, 1);
}

TEST(Drain, IdleRunsAtOnceWithoutSessionsAndNotAfterForget) {
  Drain d;
  int idle = 0;
  d.start([&idle] { ++idle; });
  EXPECT_EQ(idle, 1);
  Drain other;
  auto h = other.hold();
  other.start([&idle] { ++idle; });
  other.forget_idle();
  h = Drain::Hold();
  EXPECT_EQ(idle, 1);
}

} // namespace
} // namespace berth::core
