#include "store/sqlite/sqlite_store.hpp"

#include "core/log.hpp"
#include "core/worker_pool.hpp"
#include "store/sqlite/statement.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <system_error>

namespace berth::store {
namespace {

using sqlite::from_db;
using sqlite::from_unix_seconds;
using sqlite::Statement;
using sqlite::to_db;
using sqlite::Transaction;
using sqlite::unix_seconds;

constexpr int kBusyTimeoutMs = 5000;

// The schema, one step per version. A step runs in one transaction with the
// row that records it in schema_version; a database is never left half-way.
// Append steps; never edit one that has shipped.
struct Migration {
  int version;
  const char* sql;
};
constexpr std::array<Migration, 2> kMigrations{{
    {1, R"sql(
CREATE TABLE users (
  name            TEXT PRIMARY KEY NOT NULL,
  password_hash   TEXT NOT NULL DEFAULT '',
  home            TEXT NOT NULL,
  authorized_keys TEXT NOT NULL DEFAULT '',  -- one line each, '\n'-joined
  permissions     INTEGER NOT NULL,          -- core::Permissions bits
  quota_bytes     INTEGER NOT NULL DEFAULT 0,
  quota_files     INTEGER NOT NULL DEFAULT 0,
  max_sessions    INTEGER NOT NULL DEFAULT 0,
  upload_rate     INTEGER NOT NULL DEFAULT 0, -- bytes per second
  download_rate   INTEGER NOT NULL DEFAULT 0, -- bytes per second
  allow_from      TEXT NOT NULL DEFAULT '',  -- CIDR blocks, ','-joined
  disabled        INTEGER NOT NULL DEFAULT 0,
  revision        INTEGER NOT NULL,
  created         INTEGER NOT NULL,          -- unix seconds
  updated         INTEGER NOT NULL           -- unix seconds
);
CREATE TABLE bans (
  address TEXT PRIMARY KEY NOT NULL,
  until   INTEGER NOT NULL,                  -- unix seconds
  level   INTEGER NOT NULL,
  reason  TEXT NOT NULL DEFAULT ''
);
-- Revisions come from one counter, so a user removed and added again never
-- gets a revision it had before (the login cache keys on it).
CREATE TABLE counters (
  name  TEXT PRIMARY KEY NOT NULL,
  value INTEGER NOT NULL
);
INSERT INTO counters (name, value) VALUES ('revision', 0);
)sql"},
    // Object storage (store::StorageState). Column names avoid words
    // PostgreSQL reserves (user), so that its schema can be the same.
    {2, R"sql(
CREATE TABLE uploads (
  location   TEXT NOT NULL,                  -- the storage, e.g. s3://profile@bucket
  object_key TEXT NOT NULL,
  upload_id  TEXT NOT NULL,
  user_name  TEXT NOT NULL,
  started    INTEGER NOT NULL,               -- unix seconds
  updated    INTEGER NOT NULL,               -- unix seconds
  PRIMARY KEY (location, object_key)
);
CREATE INDEX uploads_by_updated ON uploads (updated);
CREATE TABLE upload_parts (
  location   TEXT NOT NULL,
  object_key TEXT NOT NULL,
  number     INTEGER NOT NULL,               -- 1 to 10000
  etag       TEXT NOT NULL,
  size       INTEGER NOT NULL,               -- bytes
  PRIMARY KEY (location, object_key, number),
  FOREIGN KEY (location, object_key) REFERENCES uploads (location, object_key)
    ON DELETE CASCADE
);
-- Not tied to users: users of the configuration file have counters too.
CREATE TABLE usage_counters (
  user_name TEXT PRIMARY KEY NOT NULL,
  bytes     INTEGER NOT NULL,
  files     INTEGER NOT NULL,
  updated   INTEGER NOT NULL                 -- unix seconds
);
)sql"},
}};
static_assert(kMigrations.back().version == SqliteStore::kSchemaVersion);

constexpr const char* kSelectUser =
    "SELECT name, password_hash, home, authorized_keys, permissions, quota_bytes, quota_files,"
    " max_sessions, upload_rate, download_rate, allow_from, disabled, revision FROM users";

std::string join(const std::vector<std::string>& items, char sep) {
  std::string out;
  for (const auto& item : items) {
    if (item.empty())
      continue;
    if (!out.empty())
      out += sep;
    out += item;
  }
  return out;
}

std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> out;
  while (!text.empty()) {
    auto end = text.find(sep);
    if (end != 0)
      out.emplace_back(text.substr(0, end));
    if (end == std::string_view::npos)
      break;
    text.remove_prefix(end + 1);
  }
  return out;
}

// What the users table can hold without changing it on the way back.
bool storable(const UserRecord& u) {
  if (u.name.empty() || !u.password.empty()) // SECURITY: never a plain-text password
    return false;
  for (const auto& k : u.authorized_keys)
    if (k.find_first_of("\r\n") != std::string::npos)
      return false;
  for (const auto& b : u.allow_from)
    if (b.find_first_of(",\r\n") != std::string::npos)
      return false;
  return true;
}

UserRecord read_user(const Statement& s) {
  UserRecord u;
  u.name = s.text(0);
  u.password_hash = s.text(1);
  u.home = s.text(2);
  u.authorized_keys = split(s.text(3), '\n');
  u.permissions = core::Permissions(static_cast<std::uint16_t>(s.int64(4)));
  u.quota_bytes = from_db(s.int64(5));
  u.quota_files = from_db(s.int64(6));
  u.max_sessions = static_cast<std::uint32_t>(s.int64(7));
  u.upload_rate = from_db(s.int64(8));
  u.download_rate = from_db(s.int64(9));
  u.allow_from = split(s.text(10), ',');
  u.disabled = s.int64(11) != 0;
  u.read_only = false;
  u.revision = from_db(s.int64(12));
  return u;
}

Ban read_ban(const Statement& s) {
  Ban b;
  b.address = s.text(0);
  b.until = from_unix_seconds(s.int64(1));
  b.level = static_cast<std::uint32_t>(s.int64(2));
  b.reason = s.text(3);
  return b;
}

// Creates the missing directories of `dir`, mode 0700 (the database holds
// password hashes). Existing ones are left as they are.
bool make_private_dirs(const std::filesystem::path& dir, std::string& error) {
  if (dir.empty())
    return true;
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec))
    return true;
  if (!make_private_dirs(dir.parent_path(), error))
    return false;
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    error = dir.string() + ": can not create directory: " + std::strerror(errno);
    return false;
  }
  return true;
}

// SECURITY: SQLite would create the file with 0644 & ~umask; password hashes
// are for the server's user only. The -wal and -shm files take the
// database's mode.
bool create_private_file(const std::filesystem::path& file, std::string& error) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    if (errno == EEXIST)
      return true; // created meanwhile by another process
    error = file.string() + ": can not create: " + std::strerror(errno);
    return false;
  }
  ::close(fd);
  return true;
}

} // namespace

SqliteStore::SqliteStore(sqlite3* db, std::filesystem::path file, core::WorkerPool* pool)
    : db_(db), file_(std::move(file)), pool_(pool) {}

SqliteStore::~SqliteStore() {
  sqlite3_close(db_);
}

core::Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::filesystem::path& file,
                                                             core::WorkerPool* pool) {
  return open_at(file, pool, kSchemaVersion);
}

core::Result<void> SqliteStore::create_at_version_for_test(const std::filesystem::path& file,
                                                           int version) {
  auto store = open_at(file, nullptr, version);
  if (!store)
    return core::unexpected(store.error());
  return {};
}

core::Result<std::unique_ptr<SqliteStore>>
SqliteStore::open_at(const std::filesystem::path& file, core::WorkerPool* pool, int version) {
  std::string error;
  std::error_code ec;
  if (!make_private_dirs(file.parent_path(), error) ||
      (!std::filesystem::exists(file, ec) && !create_private_file(file, error))) {
    spdlog::error("user database {}", error);
    return core::unexpected(Errc::database);
  }
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  // Even a failed open may leave a handle (holding the message); the store owns it now.
  std::unique_ptr<SqliteStore> store(new SqliteStore(db, file, pool));
  if (rc != SQLITE_OK)
    return store->fail("can not open");
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  // WAL: the server reads while `berth user` writes. synchronous=NORMAL is
  // durable across a crash of the process in WAL mode, and cheaper.
  if (auto r = store->exec("PRAGMA journal_mode = WAL", "can not open"); !r)
    return core::unexpected(r.error());
  if (auto r = store->exec("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON",
                           "can not set up the connection");
      !r)
    return core::unexpected(r.error());
  if (auto r = store->migrate(version); !r)
    return core::unexpected(r.error());
  return store;
}

core::Unexpected SqliteStore::fail(std::string_view what) const {
  spdlog::error("user database {}: {}: {}", file_.string(), what,
                db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory");
  return core::unexpected(Errc::database);
}

core::Result<void> SqliteStore::exec(const char* sql, std::string_view what) const {
  if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
    return fail(what);
  return {};
}

core::Result<int> SqliteStore::read_schema_version() const {
  Statement s(db_, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
  if (s.step() != SQLITE_ROW)
    return fail("can not read the schema version");
  return static_cast<int>(s.int64(0));
}

core::Result<void> SqliteStore::migrate(int version) {
  if (auto r = exec("CREATE TABLE IF NOT EXISTS schema_version ("
                    " version INTEGER PRIMARY KEY NOT NULL,"
                    " applied INTEGER NOT NULL)",
                    "can not create schema_version");
      !r)
    return r;
  auto current = read_schema_version();
  if (!current)
    return core::unexpected(current.error());
  if (*current > kSchemaVersion) {
    spdlog::error("user database {}: schema version {} is newer than this berth knows ({}); "
                  "use a newer berth",
                  file_.string(), *current, kSchemaVersion);
    return core::unexpected(Errc::database);
  }
  for (const Migration& m : kMigrations) {
    if (m.version <= *current || m.version > version)
      continue;
    Transaction t(db_);
    if (!t.began())
      return fail("can not begin a migration");
    // Another process may have migrated while we waited for the lock.
    current = read_schema_version();
    if (!current)
      return core::unexpected(current.error());
    if (m.version <= *current)
      continue;
    if (auto r = exec(m.sql, "migration failed"); !r)
      return r;
    Statement s(db_, "INSERT INTO schema_version (version, applied) VALUES (?, ?)");
    s.bind(1, m.version);
    s.bind(2, unix_seconds(std::chrono::system_clock::now()));
    if (s.step() != SQLITE_DONE)
      return fail("can not record the schema version");
    if (!t.commit())
      return fail("can not commit a migration");
    spdlog::debug("user database {}: schema version {}", file_.string(), m.version);
  }
  return {};
}

core::Result<int> SqliteStore::schema_version() const {
  std::lock_guard lock(mutex_);
  return read_schema_version();
}

core::Result<std::uint64_t> SqliteStore::next_revision() const {
  Statement s(db_, "UPDATE counters SET value = value + 1 WHERE name = 'revision' RETURNING value");
  if (s.step() != SQLITE_ROW)
    return fail("can not take a revision");
  return from_db(s.int64(0));
}

core::Result<void> SqliteStore::write_user(const UserRecord& u, bool insert) {
  if (!storable(u))
    return core::unexpected(std::make_error_code(std::errc::invalid_argument));
  std::lock_guard lock(mutex_);
  Transaction t(db_);
  if (!t.began())
    return fail("can not begin a transaction");
  auto revision = next_revision();
  if (!revision)
    return core::unexpected(revision.error());
  const std::int64_t now = unix_seconds(std::chrono::system_clock::now());
  // Same parameter numbers in both statements: ?1 name ... ?13 revision, ?14 now.
  Statement s(db_, insert ? "INSERT INTO users (name, password_hash, home, authorized_keys,"
                            " permissions, quota_bytes, quota_files, max_sessions, upload_rate,"
                            " download_rate, allow_from, disabled, revision, created, updated)"
                            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
                            " ?14, ?14)"
                          : "UPDATE users SET password_hash = ?2, home = ?3,"
                            " authorized_keys = ?4, permissions = ?5, quota_bytes = ?6,"
                            " quota_files = ?7, max_sessions = ?8, upload_rate = ?9,"
                            " download_rate = ?10, allow_from = ?11, disabled = ?12,"
                            " revision = ?13, updated = ?14 WHERE name = ?1");
  s.bind(1, u.name);
  s.bind(2, u.password_hash);
  s.bind(3, u.home.string());
  s.bind(4, join(u.authorized_keys, '\n'));
  s.bind(5, std::int64_t{u.permissions.bits()});
  s.bind(6, to_db(u.quota_bytes));
  s.bind(7, to_db(u.quota_files));
  s.bind(8, std::int64_t{u.max_sessions});
  s.bind(9, to_db(u.upload_rate));
  s.bind(10, to_db(u.download_rate));
  s.bind(11, join(u.allow_from, ','));
  s.bind(12, std::int64_t{u.disabled ? 1 : 0});
  s.bind(13, to_db(*revision));
  s.bind(14, now);
  // A usage counter counted another home (or a user removed before): it
  // goes, before the row that tells the old home changes.
  Statement stale(db_, insert ? "DELETE FROM usage_counters WHERE user_name = ?1"
                              : "DELETE FROM usage_counters WHERE user_name = ?1 AND EXISTS"
                                " (SELECT 1 FROM users WHERE name = ?1 AND home <> ?2)");
  stale.bind(1, u.name);
  if (!insert)
    stale.bind(2, u.home.string());
  if (stale.step() != SQLITE_DONE)
    return fail("can not drop a usage counter");
  const int rc = s.step();
  if (rc != SQLITE_DONE) {
    if (insert && sqlite3_extended_errcode(db_) == SQLITE_CONSTRAINT_PRIMARYKEY)
      return core::unexpected(Errc::exists);
    return fail(insert ? "can not add a user" : "can not update a user");
  }
  if (!insert && sqlite3_changes(db_) == 0)
    return core::unexpected(Errc::no_such_user);
  if (!t.commit())
    return fail("can not commit");
  return {};
}

core::Result<void> SqliteStore::add_user(const UserRecord& user) {
  return write_user(user, true);
}

core::Result<void> SqliteStore::update_user(const UserRecord& user) {
  return write_user(user, false);
}

core::Result<void> SqliteStore::remove_user(std::string_view name) {
  std::lock_guard lock(mutex_);
  Transaction t(db_);
  if (!t.began())
    return fail("can not begin a transaction");
  Statement s(db_, "DELETE FROM users WHERE name = ?");
  s.bind(1, name);
  if (s.step() != SQLITE_DONE)
    return fail("can not remove a user");
  if (sqlite3_changes(db_) == 0)
    return core::unexpected(Errc::no_such_user);
  // A user added again under this name counts their own home.
  Statement counter(db_, "DELETE FROM usage_counters WHERE user_name = ?");
  counter.bind(1, name);
  if (counter.step() != SQLITE_DONE)
    return fail("can not remove a usage counter");
  if (!t.commit())
    return fail("can not commit");
  return {};
}

core::Result<UserRecord> SqliteStore::get_user(std::string_view name) const {
  std::lock_guard lock(mutex_);
  const std::string sql = std::string(kSelectUser) + " WHERE name = ?";
  Statement s(db_, sql.c_str());
  s.bind(1, name);
  switch (s.step()) {
  case SQLITE_ROW:
    return read_user(s);
  case SQLITE_DONE:
    return core::unexpected(Errc::no_such_user);
  default:
    return fail("can not read a user");
  }
}

core::Result<std::vector<UserRecord>> SqliteStore::list_users() const {
  std::lock_guard lock(mutex_);
  const std::string sql = std::string(kSelectUser) + " ORDER BY name";
  Statement s(db_, sql.c_str());
  std::vector<UserRecord> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.push_back(read_user(s));
  if (rc != SQLITE_DONE)
    return fail("can not list users");
  return out;
}

core::Result<std::optional<Ban>> SqliteStore::get_ban(const std::string& address) const {
  std::lock_guard lock(mutex_);
  Statement s(db_, "SELECT address, until, level, reason FROM bans WHERE address = ?");
  s.bind(1, address);
  std::optional<Ban> ban;
  if (sqlite::step_one(s, ban, read_ban) != SQLITE_DONE)
    return fail("can not read a ban");
  return ban;
}

core::Result<void> SqliteStore::set_ban(const Ban& ban) {
  std::lock_guard lock(mutex_);
  Statement s(db_, "INSERT INTO bans (address, until, level, reason) VALUES (?, ?, ?, ?)"
                   " ON CONFLICT (address) DO UPDATE SET until = excluded.until,"
                   " level = excluded.level, reason = excluded.reason");
  s.bind(1, ban.address);
  s.bind(2, unix_seconds(ban.until));
  s.bind(3, std::int64_t{ban.level});
  s.bind(4, ban.reason);
  if (s.step() != SQLITE_DONE)
    return fail("can not store a ban");
  return {};
}

core::Result<std::vector<Ban>> SqliteStore::list_bans() const {
  std::lock_guard lock(mutex_);
  Statement s(db_, "SELECT address, until, level, reason FROM bans ORDER BY address");
  std::vector<Ban> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.push_back(read_ban(s));
  if (rc != SQLITE_DONE)
    return fail("can not list bans");
  return out;
}

core::Result<bool> SqliteStore::remove_ban(const std::string& address) {
  std::lock_guard lock(mutex_);
  Statement s(db_, "DELETE FROM bans WHERE address = ?");
  s.bind(1, address);
  if (s.step() != SQLITE_DONE)
    return fail("can not remove a ban");
  return sqlite3_changes(db_) != 0;
}

// The asynchronous interface: the same queries on the pool. Each awaits
// pool_->run directly, so the lambda may refer to this frame.

core::Task<core::Result<UserRecord>> SqliteStore::find(std::string_view name) {
  const std::string key(name);
  if (pool_ == nullptr)
    co_return get_user(key);
  auto query = [this, &key] { return get_user(key); };
  co_return co_await pool_->run(query);
}

core::Task<core::Result<std::optional<Ban>>> SqliteStore::find_ban(const std::string& address) {
  const std::string key(address);
  if (pool_ == nullptr)
    co_return get_ban(key);
  auto query = [this, &key] { return get_ban(key); };
  co_return co_await pool_->run(query);
}

core::Task<core::Result<void>> SqliteStore::put_ban(const Ban& ban) {
  const Ban copy = ban;
  if (pool_ == nullptr)
    co_return set_ban(copy);
  auto query = [this, &copy] { return set_ban(copy); };
  co_return co_await pool_->run(query);
}

} // namespace berth::store
