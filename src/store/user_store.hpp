#pragma once
// Where users come from. Backends live in subfolders: static/ (the
// configuration's [[user]] tables, read-only) and sqlite/ (the embedded
// default, managed with `berth user`); PostgreSQL later.

#include "core/permissions.hpp"
#include "core/result.hpp"
#include "core/task.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace berth::store {

/// A user as stored.
struct UserRecord {
  std::string name;
  std::string password;      ///< Plain text (configuration users only), or empty.
  std::string password_hash; ///< "$argon2id$...", an imported crypt(3) "$6$"/"$y$", or empty.
  std::filesystem::path home;
  std::vector<std::string> authorized_keys; ///< OpenSSH authorized_keys lines (SFTP).
  core::Permissions permissions = core::Permissions::all();
  std::uint64_t quota_bytes = 0;       ///< 0: no limit.
  std::uint64_t quota_files = 0;       ///< 0: no limit.
  std::uint32_t max_sessions = 0;      ///< Concurrent logged-in sessions; 0: no limit.
  std::uint64_t upload_rate = 0;       ///< Bytes per second, all sessions together; 0: no limit.
  std::uint64_t download_rate = 0;     ///< Bytes per second, all sessions together; 0: no limit.
  std::vector<std::string> allow_from; ///< CIDR blocks logins may come from; empty: anywhere.
  bool disabled = false;               ///< Nobody may log in as this user.
  bool read_only = false; ///< Defined in the configuration: `berth user` can not change it.
  /// Changes whenever the stored user changes (password, rules): caches keyed
  /// by it (the verified-login cache) drop entries of an older revision.
  std::uint64_t revision = 0;
};

/// A banned client address (the defender's record).
struct Ban {
  std::string address; ///< Canonical text of the IP address.
  std::chrono::system_clock::time_point until;
  std::uint32_t level = 1; ///< How many times in a row it was banned (the ban time doubles).
  std::string reason;
};

enum class Errc {
  no_such_user = 1, ///< No user of that name.
  exists,           ///< A user of that name exists already.
  read_only,        ///< The user is defined in the configuration file.
  database,         ///< The database failed (I/O, corruption, locked too long).
  no_such_upload,   ///< No such upload in progress (none, or another replaced it).
};
const std::error_category& store_category() noexcept;
inline std::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), store_category()};
}

/// Looks users up. Implementations are thread-safe.
class UserStore {
public:
  virtual ~UserStore() = default;
  /// The user named `name`. Errors: Errc::no_such_user, Errc::database. Never
  /// blocks the caller's event loop (a database runs on its own worker).
  virtual core::Task<core::Result<UserRecord>> find(std::string_view name) = 0;
};

/// Where the defender keeps bans, so that they outlive a restart and
/// `berth ban list|del` sees and lifts them. Thread-safe; never blocks the
/// caller's event loop.
class BanStore {
public:
  virtual ~BanStore() = default;
  /// The ban of `address`, if any (expired ones included: their level counts).
  virtual core::Task<core::Result<std::optional<Ban>>> find_ban(const std::string& address) = 0;
  /// Inserts or replaces the ban of ban.address.
  virtual core::Task<core::Result<void>> put_ban(const Ban& ban) = 0;
};

} // namespace berth::store

template <> struct std::is_error_code_enum<berth::store::Errc> : std::true_type {};
