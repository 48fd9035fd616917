#pragma once
// The server's graceful stop (SIGTERM, SIGINT): a flag every session looks at
// between commands, a subscription that ends idle reads at once, and a count
// of the sessions still running.

#include <asio/any_io_executor.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <utility>

namespace berth::core {

/// Thread-safe: one Drain serves the sessions of every event loop. Sessions
/// hold it by shared_ptr; it outlives the loops.
///
/// A session that is idle when the drain starts ends at once (FTP answers 421);
/// one in the middle of a transfer finishes it first. The server closes what
/// is left when its shutdown timeout ends.
class Drain {
public:
  /// A running session, counted until it is destroyed. Movable.
  class Hold {
  public:
    Hold() = default;
    Hold(Hold&& o) noexcept : drain_(std::exchange(o.drain_, nullptr)) {}
    Hold& operator=(Hold&& o) noexcept {
      if (this != &o) {
        release();
        drain_ = std::exchange(o.drain_, nullptr);
      }
      return *this;
    }
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;
    ~Hold() { release(); }

  private:
    friend class Drain;
    explicit Hold(Drain* d) : drain_(d) {}
    void release();
    Drain* drain_ = nullptr;
  };

  Drain() = default;
  Drain(const Drain&) = delete;
  Drain& operator=(const Drain&) = delete;

  /// True once start() was called.
  bool draining() const noexcept { return draining_.load(std::memory_order_acquire); }

  /// Counts one more running session until the Hold is destroyed.
  Hold hold();
  /// Sessions running now.
  std::size_t running() const;

  /// Starts draining: sets the flag and wakes every subscription (each on its
  /// own loop). `idle` is called once, from whichever thread ends the last
  /// session (or from here, when none runs); it must only post or stop.
  void start(std::function<void()> idle);

  /// Forgets the `idle` callback (the loops it would stop are going away).
  void forget_idle();

  /// Calls its function on its loop when the drain starts, while it lives.
  /// Movable; destroy it on that loop.
  class Subscription {
  public:
    Subscription() = default;
    Subscription(Subscription&& o) noexcept
        : drain_(std::exchange(o.drain_, nullptr)), id_(o.id_) {}
    Subscription& operator=(Subscription&& o) noexcept {
      if (this != &o) {
        release();
        drain_ = std::exchange(o.drain_, nullptr);
        id_ = o.id_;
      }
      return *this;
    }
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    ~Subscription() { release(); }

  private:
    friend class Drain;
    Subscription(Drain* d, std::uint64_t id) : drain_(d), id_(id) {}
    void release();
    Drain* drain_ = nullptr;
    std::uint64_t id_ = 0;
  };

  /// Calls `wake` on `ex` (posted) when the drain starts, or soon if it has:
  /// once a session, not once a read. `wake` must not call into the Drain.
  Subscription subscribe(const asio::any_io_executor& ex, std::function<void()> wake);

private:
  struct Waiter {
    asio::any_io_executor executor;
    std::function<void()> wake;
  };
  void released();
  void wake(std::uint64_t id);

  std::atomic<bool> draining_{false};
  mutable std::mutex mu_;
  std::map<std::uint64_t, Waiter> waiters_; // guarded by mu_
  std::uint64_t next_id_ = 0;               // guarded by mu_
  std::size_t running_ = 0;                 // guarded by mu_
  std::function<void()> idle_;              // guarded by mu_
};

} // namespace berth::core
