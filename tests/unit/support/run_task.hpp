#pragma once
// Runs one core::Task to completion on a private io_context, for tests of
// coroutine APIs. Exceptions from the task are rethrown to the caller.

#include "core/run_blocking.hpp"

#include <utility>

namespace berth::test {

template <class T> T run_task(core::Task<T> task) {
  return core::run_blocking(std::move(task));
}

inline void run_task(core::Task<void> task) {
  core::run_blocking(std::move(task));
}

} // namespace berth::test
