#pragma once
// Checks credentials against the user store for every protocol.

#include "auth/login_attempts.hpp"
#include "core/result.hpp"
#include "core/task.hpp"
#include "core/worker_pool.hpp"
#include "store/user_store.hpp"

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace berth::auth {

/// A logged-in user.
struct Account {
  std::string name;
  std::filesystem::path home;
};

enum class Errc {
  bad_credentials = 1, ///< Unknown user or wrong password (never says which).
};
const std::error_category& auth_category() noexcept;
inline std::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), auth_category()};
}

/// Thread-safe. Hash verification runs on its own bounded worker pool, so a
/// login storm never stalls an event loop.
class Authenticator {
public:
  Authenticator(std::shared_ptr<store::UserStore> users, std::size_t workers,
                LoginPolicy policy = {});

  /// How failed logins are counted and slowed down, for every protocol.
  const LoginPolicy& policy() const { return policy_; }

  /// Verifies `password` for `user`. Errors: Errc::bad_credentials.
  core::Task<core::Result<Account>> authenticate(const std::string& user,
                                                 const std::string& password);

private:
  std::shared_ptr<store::UserStore> users_; // shared: the server keeps it for reloads
  core::WorkerPool pool_;
  LoginPolicy policy_;
};

} // namespace berth::auth

template <> struct std::is_error_code_enum<berth::auth::Errc> : std::true_type {};
