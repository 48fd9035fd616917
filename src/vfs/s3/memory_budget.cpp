// The node-wide budget of upload part buffers: a FIFO of waiters across loops.
#include "vfs/s3/memory_budget.hpp"

#include "core/check.hpp"
#include "vfs/errc.hpp"

#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/error.hpp>
#include <asio/execution/outstanding_work.hpp>
#include <asio/post.hpp>
#include <asio/prefer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <memory>

namespace berth::vfs::s3 {

MemoryBudget::MemoryBudget(std::uint64_t bytes) : total_(bytes == 0 ? 1 : bytes) {}

// Waiters left at the end (loops torn down at exit) are dropped unresumed.
MemoryBudget::~MemoryBudget() = default;

void MemoryBudget::Lease::reset() {
  if (budget_ != nullptr && bytes_ > 0)
    budget_->give_back(bytes_);
  budget_ = nullptr;
  bytes_ = 0;
}

std::uint64_t MemoryBudget::available() const {
  std::lock_guard lock(mutex_);
  return total_ - used_;
}

std::size_t MemoryBudget::waiting() const {
  std::lock_guard lock(mutex_);
  return waiters_.size();
}

MemoryBudget::Lease MemoryBudget::try_acquire(std::uint64_t bytes) {
  std::lock_guard lock(mutex_);
  if (!waiters_.empty() || bytes > total_ - used_)
    return {};
  used_ += bytes;
  return Lease(this, bytes);
}

void MemoryBudget::give_back(std::uint64_t bytes) {
  std::vector<std::function<void(std::error_code)>> ready;
  {
    std::lock_guard lock(mutex_);
    BERTH_CHECK(bytes <= used_);
    used_ -= bytes;
    ready = grant_locked();
  }
  for (auto& r : ready)
    r({});
}

std::vector<std::function<void(std::error_code)>> MemoryBudget::grant_locked() {
  std::vector<std::function<void(std::error_code)>> ready;
  while (!waiters_.empty() && waiters_.front().bytes <= total_ - used_) {
    used_ += waiters_.front().bytes;
    ready.push_back(std::move(waiters_.front().resume));
    waiters_.pop_front();
  }
  return ready;
}

void MemoryBudget::cancel(std::uint64_t id) {
  std::function<void(std::error_code)> cancelled;
  std::vector<std::function<void(std::error_code)>> ready;
  {
    std::lock_guard lock(mutex_);
    for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
      if (it->id == id) {
        cancelled = std::move(it->resume);
        waiters_.erase(it);
        break;
      }
    }
    // A large waiter that left may unblock smaller ones behind it.
    ready = grant_locked();
  }
  if (cancelled)
    cancelled(asio::error::operation_aborted);
  for (auto& r : ready)
    r({});
}

core::Task<core::Result<MemoryBudget::Lease>> MemoryBudget::acquire(std::uint64_t bytes) {
  if (bytes > total_)
    co_return core::unexpected(Errc::no_space);
  if (auto lease = try_acquire(bytes); lease.bytes() == bytes)
    co_return lease;
  auto initiate = [this, bytes](auto handler) {
    using Handler = decltype(handler);
    auto slot = asio::get_associated_cancellation_slot(handler);
    auto executor = asio::get_associated_executor(handler);
    auto work = asio::prefer(executor, asio::execution::outstanding_work.tracked);
    auto shared = std::make_shared<Handler>(std::move(handler));
    std::uint64_t id = 0;
    {
      std::lock_guard lock(mutex_);
      id = next_id_++;
      // Runs on the thread that granted or cancelled; the waiter resumes on its loop.
      auto resume = [shared, work, slot](std::error_code ec) mutable {
        asio::post(work, [shared, slot, granted = !ec]() mutable {
          if (slot.is_connected())
            slot.clear();
          (*shared)(granted);
        });
      };
      waiters_.push_back(Waiter{id, bytes, std::move(resume)});
    }
    if (slot.is_connected())
      slot.assign([budget = this, id](asio::cancellation_type) { budget->cancel(id); });
    // Space may have been freed between try_acquire() and the push.
    std::vector<std::function<void(std::error_code)>> ready;
    {
      std::lock_guard lock(mutex_);
      ready = grant_locked();
    }
    for (auto& r : ready)
      r({});
  };
  const bool granted = co_await asio::async_initiate<decltype(asio::use_awaitable), void(bool)>(
      std::move(initiate), asio::use_awaitable);
  if (!granted)
    co_return core::unexpected(asio::error::operation_aborted);
  co_return Lease(this, bytes);
}

} // namespace berth::vfs::s3
