#pragma once
// "operation || timer", written once.

#include "core/errc.hpp"
#include "core/result.hpp"
#include "core/task.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <optional>

namespace berth::core {

/// Runs `op` and gives up after `limit`: the operation is cancelled and
/// Errc::timed_out returned. `op` must report its own errors as values.
template <class T>
Task<Result<T>> with_timeout(Task<Result<T>> op, std::chrono::steady_clock::duration limit) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor, limit);
  auto wait = [](asio::steady_timer& t) -> Task<void> {
    co_await t.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  };
  auto r = co_await (std::move(op) || wait(timer));
  if (r.index() == 0)
    co_return std::move(std::get<0>(r));
  co_return unexpected(Errc::timed_out);
}

} // namespace berth::core
