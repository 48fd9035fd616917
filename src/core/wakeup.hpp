#pragma once
// A notification for coroutines of one event loop: wait() until notify().

#include "core/task.hpp"

#include <asio/any_io_executor.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <cstdint>

namespace berth::core {

/// Wakes every coroutine waiting on it (a timer that never fires, cancelled to
/// notify). A generation count closes the gap between checking a condition
/// and starting to wait: wait(seen) returns at once if a notify() came after
/// `seen` was read. Not thread-safe: one loop.
class Wakeup {
public:
  explicit Wakeup(const asio::any_io_executor& ex)
      : timer_(ex, asio::steady_timer::time_point::max()) {}

  /// Waits for a notify() after generation `seen`.
  Task<void> wait(std::uint64_t seen) {
    if (generation_ == seen)
      co_await timer_.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  }
  /// Waits for the next notify().
  Task<void> wait() { return wait(generation_); }

  void notify() {
    ++generation_;
    timer_.cancel();
  }
  std::uint64_t generation() const { return generation_; }

private:
  asio::steady_timer timer_;
  std::uint64_t generation_ = 0;
};

} // namespace berth::core
