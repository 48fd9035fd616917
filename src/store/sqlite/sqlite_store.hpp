#pragma once
// The embedded user database: users and bans in one SQLite file, managed
// with `berth user` / `berth ban` and read by the server; object storage's
// uploads in progress and usage counters in the same file.

#include "store/storage_state.hpp"
#include "store/user_store.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;

namespace berth::core {
class WorkerPool;
}

namespace berth::store {

/// Users, bans, uploads in progress and usage counters in a SQLite file.
/// Thread-safe: one connection, used by one thread at a time. Several processes may open the same
/// file (WAL; a writer waits up to 5 s for another).
///
/// The synchronous methods block on the database (milliseconds; up to the busy
/// timeout when another process writes): for the CLI, tests and worker
/// threads. The UserStore/BanStore overrides run them on the pool given to
/// open(), so they never block an event loop. The StorageState overrides
/// block too (that interface says so): its callers bring their own pool.
///
/// Errors: Errc::no_such_user, Errc::exists as documented; Errc::database when
/// SQLite fails (I/O, corruption, locked for longer than the busy timeout) —
/// its cause has then been logged (spdlog, one line naming the file);
/// std::errc::invalid_argument for a record the table can not hold (below).
class SqliteStore final : public UserStore, public BanStore, public StorageState {
public:
  /// The schema version this build creates and understands.
  static constexpr int kSchemaVersion = 2;

  /// Opens `file`, creating it (mode 0600; missing parent directories 0700)
  /// when it does not exist, and brings its schema up to kSchemaVersion, each
  /// migration in one transaction. A file of a newer schema is refused
  /// (Errc::database, logged). `pool` runs the asynchronous methods' queries;
  /// null runs them inline (CLI, tests). The pool must outlive the store.
  static core::Result<std::unique_ptr<SqliteStore>> open(const std::filesystem::path& file,
                                                         core::WorkerPool* pool);

  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;
  ~SqliteStore() override;

  /// The schema version recorded in the file (kSchemaVersion once open).
  core::Result<int> schema_version() const;

  /// Adds `user` (its password_hash, never a plain `password`: a record with
  /// one is refused as invalid_argument, as are an empty name, an
  /// authorized_keys line holding a newline and an allow_from block holding a
  /// ',' or a newline). Empty key lines and blocks are dropped. read_only and
  /// revision are ignored: the stored user gets the next revision.
  /// Errors: Errc::exists.
  core::Result<void> add_user(const UserRecord& user);

  /// Replaces every field of the user named user.name (rules as add_user) and
  /// gives it the next revision. A new home drops the usage counter (it
  /// counted the old one). Errors: Errc::no_such_user.
  core::Result<void> update_user(const UserRecord& user);

  /// Removes the user and their usage counter. Errors: Errc::no_such_user.
  core::Result<void> remove_user(std::string_view name);

  /// The user named `name` (read_only false). Errors: Errc::no_such_user.
  core::Result<UserRecord> get_user(std::string_view name) const;

  /// Every user, sorted by name.
  core::Result<std::vector<UserRecord>> list_users() const;

  /// The ban of `address`, if any (expired ones included).
  core::Result<std::optional<Ban>> get_ban(const std::string& address) const;

  /// Inserts or replaces the ban of ban.address. `until` is kept to the second.
  core::Result<void> set_ban(const Ban& ban);

  /// Every ban (expired ones included), sorted by address.
  core::Result<std::vector<Ban>> list_bans() const;

  /// Lifts the ban of `address`; false when there was none.
  core::Result<bool> remove_ban(const std::string& address);

  // store::UserStore
  core::Task<core::Result<UserRecord>> find(std::string_view name) override;

  // store::BanStore
  core::Task<core::Result<std::optional<Ban>>> find_ban(const std::string& address) override;
  core::Task<core::Result<void>> put_ban(const Ban& ban) override;

  // store::StorageState (sqlite_storage_state.cpp)
  core::Result<void> save_upload(const UploadRecord& upload) override;
  core::Result<void> add_upload_part(const std::string& location, const std::string& key,
                                     const std::string& upload_id, const PartRecord& part,
                                     std::chrono::system_clock::time_point when) override;
  core::Result<std::optional<UploadRecord>> find_upload(const std::string& location,
                                                        const std::string& key) override;
  core::Result<bool> remove_upload(const std::string& location, const std::string& key,
                                   const std::string& upload_id) override;
  core::Result<std::vector<UploadRecord>>
  uploads_older_than(std::chrono::system_clock::time_point before, std::size_t limit) override;
  core::Result<std::optional<UsageRecord>> usage(const std::string& user) override;
  core::Result<std::optional<UsageRecord>>
  add_usage(const std::string& user, std::int64_t bytes_delta, std::int64_t files_delta) override;
  core::Result<void> set_usage(const std::string& user, const UsageRecord& usage) override;

  /// Creates `file` with the schema of `version` (<= kSchemaVersion), as the
  /// berth that shipped it did, for tests of the migrations.
  static core::Result<void> create_at_version_for_test(const std::filesystem::path& file,
                                                       int version);

private:
  SqliteStore(sqlite3* db, std::filesystem::path file, core::WorkerPool* pool);

  // Opens `file` and migrates it up to `version`.
  static core::Result<std::unique_ptr<SqliteStore>> open_at(const std::filesystem::path& file,
                                                            core::WorkerPool* pool, int version);

  // These expect mutex_ held (or, in open(), the store not yet shared).
  core::Result<void> migrate(int version);
  core::Result<int> read_schema_version() const;
  core::Result<void> write_user(const UserRecord& user, bool insert);
  core::Result<void> exec(const char* sql, std::string_view what) const;
  core::Result<std::uint64_t> next_revision() const;
  // Logs `what` and SQLite's last message for this file; returns Errc::database.
  core::Unexpected fail(std::string_view what) const;

  sqlite3* db_;
  const std::filesystem::path file_;
  core::WorkerPool* const pool_;
  mutable std::mutex mutex_; // guards db_ (opened with SQLITE_OPEN_NOMUTEX)
};

} // namespace berth::store
