#include "net/throttle.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <cmath>

namespace berth::net {

TokenBucket::TokenBucket(std::uint64_t rate, std::uint64_t burst, Clock::time_point now)
    : rate_(std::max<std::uint64_t>(rate, 1)),
      burst_(static_cast<double>(std::max<std::uint64_t>(burst, 1))), tokens_(burst_), last_(now) {}

void TokenBucket::refill(Clock::time_point now) {
  // A clock that went backwards (or a caller's stale `now`) adds nothing.
  if (now <= last_)
    return;
  const double elapsed = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(burst_, tokens_ + elapsed * static_cast<double>(rate_));
  last_ = now;
}

TokenBucket::Clock::duration TokenBucket::take(std::uint64_t n, Clock::time_point now) {
  refill(now);
  tokens_ -= static_cast<double>(n);
  if (tokens_ >= 0)
    return Clock::duration::zero();
  // The debt is paid back at `rate`; round up so that the caller never resumes early.
  const double seconds = -tokens_ / static_cast<double>(rate_);
  return std::chrono::ceil<Clock::duration>(std::chrono::duration<double>(seconds));
}

std::uint64_t Throttle::burst_for(std::uint64_t rate) {
  constexpr std::uint64_t kMinBurst = 64 * 1024;
  return std::max(rate / 4, kMinBurst);
}

Throttle::Throttle(std::uint64_t bytes_per_second)
    : rate_(bytes_per_second), bucket_(std::max<std::uint64_t>(bytes_per_second, 1),
                                       burst_for(bytes_per_second), TokenBucket::Clock::now()) {}

core::Task<void> Throttle::take(std::uint64_t n) {
  if (rate_ == 0 || n == 0)
    co_return;
  TokenBucket::Clock::duration wait{};
  {
    std::lock_guard lock(mu_);
    wait = bucket_.take(n, TokenBucket::Clock::now());
  }
  if (wait <= TokenBucket::Clock::duration::zero())
    co_return;
  // The tokens are already taken: later takers queue behind this one's debt.
  // Cancellation (ABOR, a session's end) ends the wait early; the caller's own
  // next operation then reports it.
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor, wait);
  [[maybe_unused]] auto [ec] =
      co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
}

} // namespace berth::net
