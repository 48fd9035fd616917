#pragma once
// One connection's failed logins, counted and slowed down the same way for
// every protocol (vsftpd's max_login_fails and delay_failed_login, OpenSSH's
// MaxAuthTries).

#include "core/task.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>

namespace berth::auth {

struct LoginPolicy {
  unsigned max_failures = 3; ///< Wrong passwords (and refused keys) before the connection ends.
  std::chrono::milliseconds failure_delay{1000}; ///< Pause before a failure is answered.
};

/// Not thread-safe: one per connection, on its loop.
class LoginAttempts {
public:
  explicit LoginAttempts(LoginPolicy policy) : policy_(policy) {}

  /// Records a failed attempt and waits the policy's delay. Returns false once
  /// the connection has used up its attempts and must be closed.
  core::Task<bool> failed() {
    ++failures_;
    asio::steady_timer t(co_await asio::this_coro::executor, policy_.failure_delay);
    co_await t.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    co_return failures_ < policy_.max_failures;
  }

  unsigned failures() const { return failures_; }

private:
  LoginPolicy policy_;
  unsigned failures_ = 0;
};

} // namespace berth::auth
