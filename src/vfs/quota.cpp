#include "vfs/quota.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <limits>
#include <optional>

namespace berth::vfs {
namespace {

// Whether adding `delta` to `used` would pass `limit` (0: none). A delta that
// would overflow passes any limit.
bool exceeds(std::int64_t used, std::int64_t delta, std::int64_t limit) {
  if (delta <= 0 || limit <= 0)
    return false;
  return used > limit - delta; // used + delta > limit, without overflow
}

std::int64_t add_clamped(std::int64_t a, std::int64_t b) {
  std::int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum))
    sum = b > 0 ? std::numeric_limits<std::int64_t>::max() : 0;
  return std::max<std::int64_t>(sum, 0);
}

std::int64_t negated(std::int64_t v) {
  return v == std::numeric_limits<std::int64_t>::min() ? std::numeric_limits<std::int64_t>::max()
                                                       : -v;
}

} // namespace

Quota::Quota(std::int64_t max_bytes, std::int64_t max_files, Usage initial)
    : max_bytes_(std::max<std::int64_t>(max_bytes, 0)),
      max_files_(std::max<std::int64_t>(max_files, 0)),
      usage_{std::max<std::int64_t>(initial.bytes, 0), std::max<std::int64_t>(initial.files, 0)} {}

bool Quota::try_charge(std::int64_t bytes, std::int64_t files) {
  std::lock_guard lock(mu_);
  if (exceeds(usage_.bytes, bytes, max_bytes_) || exceeds(usage_.files, files, max_files_))
    return false;
  apply(bytes, files);
  return true;
}

void Quota::release(std::int64_t bytes, std::int64_t files) {
  std::lock_guard lock(mu_);
  apply(negated(bytes), negated(files));
}

void Quota::adjust(std::int64_t bytes, std::int64_t files) {
  std::lock_guard lock(mu_);
  apply(bytes, files);
}

void Quota::set_usage(Usage usage) {
  std::lock_guard lock(mu_);
  usage_ = {std::max<std::int64_t>(usage.bytes, 0), std::max<std::int64_t>(usage.files, 0)};
}

void Quota::set_limits(std::int64_t max_bytes, std::int64_t max_files) {
  std::lock_guard lock(mu_);
  max_bytes_ = std::max<std::int64_t>(max_bytes, 0);
  max_files_ = std::max<std::int64_t>(max_files, 0);
}

std::int64_t Quota::max_bytes() const {
  std::lock_guard lock(mu_);
  return max_bytes_;
}

std::int64_t Quota::max_files() const {
  std::lock_guard lock(mu_);
  return max_files_;
}

core::Task<Quota::Hold> Quota::hold() {
  // A waiter polls with a growing pause rather than being woken by the
  // holder: the holder may run on another loop, and its wake-up could be
  // posted to a loop destroyed meanwhile (at shutdown). Holds are short (a
  // stat and a truncate or a write of one buffer).
  constexpr auto kMaxPause = std::chrono::milliseconds(2);
  auto pause = std::chrono::microseconds(20);
  std::optional<asio::steady_timer> timer;
  for (;;) {
    if (!held_.exchange(true, std::memory_order_acquire))
      co_return Hold(this);
    if (!timer)
      timer.emplace(co_await asio::this_coro::executor);
    timer->expires_after(pause);
    (void)co_await timer->async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    pause = std::min<std::chrono::microseconds>(pause * 2, kMaxPause);
  }
}

Usage Quota::usage() const {
  std::lock_guard lock(mu_);
  return usage_;
}

void Quota::apply(std::int64_t bytes, std::int64_t files) {
  const Usage before = usage_;
  usage_.bytes = add_clamped(usage_.bytes, bytes);
  usage_.files = add_clamped(usage_.files, files);
  if (observer_ && usage_ != before)
    observer_(usage_.bytes - before.bytes, usage_.files - before.files);
}

} // namespace berth::vfs
