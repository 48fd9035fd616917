#pragma once
// The node-wide budget of bytes that upload part buffers may hold. When it is
// used up, an upload's write() waits for it, and that upload stops reading its
// client's socket: back-pressure instead of unbounded buffering.

#include "core/result.hpp"
#include "core/task.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <system_error>
#include <utility>
#include <vector>

namespace berth::vfs::s3 {

/// Thread-safe: one budget is shared by the sessions of every loop. Waiters
/// are served in the order they asked (a large request is not overtaken by
/// small ones) and resume on their own loop. The budget outlives its leases.
class MemoryBudget {
public:
  /// `bytes`: the total (at least 1).
  explicit MemoryBudget(std::uint64_t bytes);
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;
  ~MemoryBudget();

  /// Bytes taken from the budget, given back when it is destroyed or reset.
  class Lease {
  public:
    Lease() = default;
    Lease(MemoryBudget* budget, std::uint64_t bytes) : budget_(budget), bytes_(bytes) {}
    Lease(Lease&& o) noexcept
        : budget_(std::exchange(o.budget_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
    Lease& operator=(Lease&& o) noexcept {
      if (this != &o) {
        reset();
        budget_ = std::exchange(o.budget_, nullptr);
        bytes_ = std::exchange(o.bytes_, 0);
      }
      return *this;
    }
    ~Lease() { reset(); }
    std::uint64_t bytes() const { return bytes_; }
    /// Gives the bytes back now.
    void reset();

  private:
    MemoryBudget* budget_ = nullptr;
    std::uint64_t bytes_ = 0;
  };

  /// Waits until `bytes` are free and no earlier waiter is left, then takes
  /// them. Errors: vfs::Errc::no_space when `bytes` exceeds the total (it could
  /// never be granted); asio::error::operation_aborted when the waiting
  /// coroutine is cancelled (nothing is taken).
  core::Task<core::Result<Lease>> acquire(std::uint64_t bytes);
  /// Takes `bytes` at once if they are free and nobody waits; else an empty lease.
  Lease try_acquire(std::uint64_t bytes);

  std::uint64_t total() const { return total_; }
  /// Bytes not taken now.
  std::uint64_t available() const;
  /// Coroutines waiting in acquire().
  std::size_t waiting() const;

private:
  struct Waiter {
    std::uint64_t id = 0;
    std::uint64_t bytes = 0;
    /// Resumes the waiter on its loop with the bytes taken (error: cancelled).
    std::function<void(std::error_code)> resume;
  };
  void give_back(std::uint64_t bytes);
  /// Grants the queue's head while it fits; called with mutex_ held, returns
  /// the resumptions to run after unlocking.
  std::vector<std::function<void(std::error_code)>> grant_locked();
  void cancel(std::uint64_t id);

  const std::uint64_t total_;
  mutable std::mutex mutex_;
  std::uint64_t used_ = 0;
  std::uint64_t next_id_ = 1;
  std::deque<Waiter> waiters_;
};

} // namespace berth::vfs::s3
