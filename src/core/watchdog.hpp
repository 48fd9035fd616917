#pragma once
// A deadline moved at every step and rarely reached (idle and stall
// timeouts): moving it later is a store, not a timer. Asio's
// echo_server_with_deadline example watches a socket the same way.

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <utility>

namespace berth::core {

/// One deadline of one event loop: calls `expire` once each time the
/// deadline passes; `expire` acts on the work it guards (shuts a socket
/// down, so that the end can not be missed) and may arm() again, but must not
/// destroy the Watchdog. The timer is
/// set only when the deadline comes sooner than it, or when it fires before a
/// deadline that was moved later: a command read or a transfer's progress
/// costs no system call, and no coroutine runs beside the work. Destroying
/// the Watchdog stops it. Not thread-safe: its loop only.
class Watchdog {
public:
  using Clock = std::chrono::steady_clock;

  Watchdog(const asio::any_io_executor& ex, std::function<void()> expire)
      : state_(std::make_shared<State>(ex, std::move(expire))) {}
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog() {
    state_->expire = nullptr; // a wait that ends later finds nobody to call
    state_->timer.cancel();
  }

  /// The deadline is `limit` from now (a limit past the clock's range: never).
  void arm(Clock::duration limit) {
    State& s = *state_;
    const auto now = Clock::now();
    s.due = limit >= Clock::time_point::max() - now ? Clock::time_point::max() : now + limit;
    if (!s.waiting) {
      if (s.due != Clock::time_point::max())
        wait(state_);
    } else if (s.due < s.timer.expiry()) {
      s.timer.expires_at(s.due); // the pending wait ends and waits again for due
    }
  }
  /// No deadline until the next arm().
  void disarm() { state_->due = Clock::time_point::max(); }

private:
  // Shared with the wait's handler, which may run after the Watchdog is gone.
  struct State {
    State(const asio::any_io_executor& ex, std::function<void()> e)
        : timer(ex), expire(std::move(e)) {}
    asio::steady_timer timer;
    std::function<void()> expire;
    Clock::time_point due = Clock::time_point::max();
    bool waiting = false;
  };

  static void wait(const std::shared_ptr<State>& st) {
    st->waiting = true;
    st->timer.expires_at(st->due);
    st->timer.async_wait([st](std::error_code) {
      st->waiting = false;
      if (!st->expire)
        return;
      if (st->due <= Clock::now()) {
        st->due = Clock::time_point::max();
        st->expire(); // may arm() again, which waits again
      }
      if (!st->waiting && st->due != Clock::time_point::max())
        wait(st); // fired early: the deadline moved on
    });
  }

  std::shared_ptr<State> state_;
};

} // namespace berth::core
