#include "core/drain.hpp"

#include <asio/post.hpp>

#include <utility>

namespace berth::core {

void Drain::Hold::release() {
  if (drain_ != nullptr)
    std::exchange(drain_, nullptr)->released();
}

Drain::Hold Drain::hold() {
  std::lock_guard lock(mu_);
  ++running_;
  return Hold(this);
}

std::size_t Drain::running() const {
  std::lock_guard lock(mu_);
  return running_;
}

void Drain::released() {
  std::function<void()> idle;
  {
    std::lock_guard lock(mu_);
    if (--running_ == 0 && draining())
      idle = std::exchange(idle_, nullptr);
  }
  if (idle)
    idle();
}

void Drain::start(std::function<void()> idle) {
  std::function<void()> now;
  {
    std::lock_guard lock(mu_);
    draining_.store(true, std::memory_order_release);
    idle_ = std::move(idle);
    if (running_ == 0)
      now = std::exchange(idle_, nullptr);
    // A waiter's timer belongs to its loop: cancel it there. The waiter may
    // be gone by then; wake() looks it up again on that loop, where it can
    // not end concurrently.
    for (const auto& [id, w] : waiters_)
      asio::post(w.executor, [this, id = id] { wake(id); });
  }
  if (now)
    now();
}

void Drain::forget_idle() {
  std::lock_guard lock(mu_);
  idle_ = nullptr;
}

void Drain::wake(std::uint64_t id) {
  std::function<void()> fn;
  {
    std::lock_guard lock(mu_);
    if (auto it = waiters_.find(id); it != waiters_.end())
      fn = it->second.wake;
  }
  // Outside the lock: the subscriber is on this loop, so it can not go away
  // before its function returns.
  if (fn)
    fn();
}

void Drain::Subscription::release() {
  if (drain_ == nullptr)
    return;
  std::lock_guard lock(drain_->mu_);
  drain_->waiters_.erase(id_);
  drain_ = nullptr;
}

Drain::Subscription Drain::subscribe(const asio::any_io_executor& ex, std::function<void()> wake) {
  std::lock_guard lock(mu_);
  const std::uint64_t id = ++next_id_;
  waiters_.emplace(id, Waiter{ex, std::move(wake)});
  if (draining())
    asio::post(ex, [this, id] { this->wake(id); });
  return Subscription(this, id);
}

} // namespace berth::core
