#pragma once
// Where users come from. Backends live in subfolders (static/ now; SQLite and
// PostgreSQL later).

#include "core/result.hpp"
#include "core/task.hpp"

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace berth::store {

/// A user as stored.
struct UserRecord {
  std::string name;
  std::string password;      ///< Plain text (configuration users only), or empty.
  std::string password_hash; ///< "$argon2id$...", or empty.
  std::filesystem::path home;
  std::vector<std::string> authorized_keys; ///< OpenSSH authorized_keys lines (SFTP).
};

enum class Errc {
  no_such_user = 1, ///< No user of that name.
};
const std::error_category& store_category() noexcept;
inline std::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), store_category()};
}

/// Looks users up. Implementations are thread-safe.
class UserStore {
public:
  virtual ~UserStore() = default;
  /// The user named `name`. Errors: Errc::no_such_user. May block only in a worker.
  virtual core::Task<core::Result<UserRecord>> find(std::string_view name) = 0;
};

} // namespace berth::store

template <> struct std::is_error_code_enum<berth::store::Errc> : std::true_type {};
