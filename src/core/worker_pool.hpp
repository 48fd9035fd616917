#pragma once
// A bounded pool of threads for work that may block (argon2id, file I/O that
// misses the page cache, fsync), awaited from an event loop.

#include "core/task.hpp"

#include <asio/co_spawn.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>

#include <cstddef>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

namespace berth::core {

namespace detail {
// A free function, not a capturing lambda coroutine: a lambda coroutine's
// captures die with the lambda object, before the coroutine runs on the pool.
// The result travels in an optional: co_spawn needs a default-constructible one.
template <class F> Task<std::optional<std::invoke_result_t<F&>>> call_on_pool(F fn) {
  co_return fn();
}
} // namespace detail

/// Thread-safe. The caller's coroutine resumes on its own executor.
class WorkerPool {
public:
  /// When the threads start.
  enum class Start {
    now,   ///< In the constructor.
    later, ///< At start(): a thread takes the identity and capabilities of the
           ///< thread that makes it, so the server makes them after dropping root.
  };

  explicit WorkerPool(std::size_t threads, Start when = Start::now)
      : threads_(threads), guard_(asio::make_work_guard(ctx_)) {
    if (when == Start::now)
      start();
  }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  ~WorkerPool() { join(); }

  /// Starts the threads (once; later calls do nothing). Work queued by run()
  /// before waits for them.
  void start() {
    std::lock_guard lock(mu_);
    if (started_)
      return;
    started_ = true;
    for (std::size_t i = 0; i < threads_; ++i)
      running_.emplace_back([this] { ctx_.run(); });
  }

  /// Lets the queued work finish and ends the threads (the server calls it
  /// after its event loops stopped, before they are destroyed: no completion
  /// may be posted to a destroyed loop). run() must not be called afterwards.
  /// Work queued on a pool that never started runs on the calling thread.
  void join() {
    std::lock_guard lock(mu_);
    guard_.reset();
    if (!started_)
      ctx_.run();
    started_ = true;
    for (auto& t : running_)
      if (t.joinable())
        t.join();
  }

  /// Runs `fn()` (copied) on a pool thread and returns its result. `fn` may
  /// refer to the caller's frame: the caller is suspended until it returns.
  /// Pass a named callable (GCC 12 mishandles temporaries passed into
  /// coroutines inside co_await).
  template <class F> Task<std::invoke_result_t<F&>> run(const F& fn) {
    F copy = fn;
    auto result =
        co_await asio::co_spawn(ctx_, detail::call_on_pool(std::move(copy)), asio::use_awaitable);
    co_return std::move(*result);
  }

  /// Queues `fn` (moved) to run on a pool thread, for work nobody waits for
  /// (a counter update). Before start() it waits for the threads.
  template <class F> void post(F fn) { asio::post(ctx_, std::move(fn)); }

private:
  asio::io_context ctx_;
  std::size_t threads_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::mutex mu_;
  bool started_ = false;             // guarded by mu_
  std::vector<std::thread> running_; // guarded by mu_
};

} // namespace berth::core
