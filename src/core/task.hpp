#pragma once
// The coroutine type every asynchronous function returns.

#include <asio/awaitable.hpp>

namespace berth::core {

template <class T = void> using Task = asio::awaitable<T>;

} // namespace berth::core
