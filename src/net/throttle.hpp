#pragma once
// Bandwidth limits: a token bucket (pure, clock passed in) and Throttle, a
// thread-safe bucket that transfers await before moving bytes. One Throttle
// may be shared by all sessions of a user, or by the whole server (global cap).

#include "core/task.hpp"

#include <chrono>
#include <cstdint>
#include <mutex>

namespace berth::net {

/// Tokens are bytes. Refills at `rate` per second up to `burst`. Not thread-safe.
class TokenBucket {
public:
  using Clock = std::chrono::steady_clock;
  /// rate > 0 bytes/s; burst > 0 (the most that can be taken at once without waiting).
  TokenBucket(std::uint64_t rate, std::uint64_t burst, Clock::time_point now);

  /// Takes `n` tokens (n may exceed burst: the balance goes negative). Returns
  /// how long the caller must wait before moving the bytes so that the average
  /// rate holds (zero when tokens were available).
  Clock::duration take(std::uint64_t n, Clock::time_point now);

  std::uint64_t rate() const { return rate_; }

private:
  void refill(Clock::time_point now);

  std::uint64_t rate_;
  double burst_;
  double tokens_;
  Clock::time_point last_;
};

/// A TokenBucket behind a mutex, awaited from any event loop. rate 0 = no limit.
/// Thread-safe: one Throttle may be shared by sessions on different loops.
class Throttle {
public:
  /// The bucket holds burst_for(bytes_per_second) bytes.
  explicit Throttle(std::uint64_t bytes_per_second);

  /// The burst of a Throttle of `rate` bytes/s: a quarter second of traffic, at
  /// least 64 KiB (one transfer buffer moves without a timer), so short bursts
  /// do not wait and the average over a second still holds.
  static std::uint64_t burst_for(std::uint64_t rate);

  /// Waits (on the caller's executor, never blocking the loop) until `n` more
  /// bytes may move. Returns at once without a limit.
  core::Task<void> take(std::uint64_t n);

  std::uint64_t rate() const { return rate_; }

private:
  std::uint64_t rate_;
  std::mutex mu_;
  TokenBucket bucket_; // guarded by mu_
};

} // namespace berth::net
