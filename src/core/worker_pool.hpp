#pragma once
// A bounded pool of threads for work that may block (argon2id, file I/O that
// misses the page cache, fsync), awaited from an event loop.

#include "core/task.hpp"

#include <asio/co_spawn.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>

#include <cstddef>
#include <optional>
#include <type_traits>

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
  explicit WorkerPool(std::size_t threads) : pool_(threads) {}
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  ~WorkerPool() { pool_.join(); }

  /// Lets the queued work finish and ends the threads (the server calls it
  /// after its event loops stopped, before they are destroyed: no completion
  /// may be posted to a destroyed loop). run() must not be called afterwards.
  void join() { pool_.join(); }

  /// Runs `fn()` (copied) on a pool thread and returns its result. `fn` may
  /// refer to the caller's frame: the caller is suspended until it returns.
  /// Pass a named callable (GCC 12 mishandles temporaries passed into
  /// coroutines inside co_await).
  template <class F> Task<std::invoke_result_t<F&>> run(const F& fn) {
    F copy = fn;
    auto result =
        co_await asio::co_spawn(pool_, detail::call_on_pool(std::move(copy)), asio::use_awaitable);
    co_return std::move(*result);
  }

private:
  asio::thread_pool pool_;
};

} // namespace berth::core
