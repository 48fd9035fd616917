#pragma once
// Runs one core::Task to completion on a private io_context, blocking the
// calling thread: for start-up checks and the CLI, never on an event loop.
// Exceptions from the task are rethrown to the caller.

#include "core/task.hpp"

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <exception>
#include <optional>
#include <stdexcept>
#include <utility>

namespace berth::core {
namespace detail {

// Asio 1.22's co_spawn needs a default-constructible result; core::Result is
// not, so the value travels through an optional owned by the caller.
template <class T> Task<void> store_result(Task<T> task, std::optional<T>* out) {
  out->emplace(co_await std::move(task));
}

} // namespace detail

template <class T> T run_blocking(Task<T> task) {
  asio::io_context ctx;
  std::optional<T> out;
  std::exception_ptr error;
  asio::co_spawn(ctx, detail::store_result(std::move(task), &out),
                 [&error](std::exception_ptr e) { error = e; });
  ctx.run();
  if (error)
    std::rethrow_exception(error);
  if (!out)
    throw std::logic_error("run_blocking: the task did not finish");
  return std::move(*out);
}

inline void run_blocking(Task<void> task) {
  asio::io_context ctx;
  std::exception_ptr error;
  asio::co_spawn(ctx, std::move(task), [&error](std::exception_ptr e) { error = e; });
  ctx.run();
  if (error)
    std::rethrow_exception(error);
}

} // namespace berth::core
