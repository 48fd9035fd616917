#pragma once
// What the SQLite store's files share: a prepared statement, a write
// transaction, and how values are kept. Internal to store/sqlite/.

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace berth::store::sqlite {

// SQLite integers are signed 64-bit; unsigned values are kept bit for bit
// (callers keep them below 2^63, where both readings agree).
inline std::int64_t to_db(std::uint64_t v) {
  return static_cast<std::int64_t>(v);
}
inline std::uint64_t from_db(std::int64_t v) {
  return static_cast<std::uint64_t>(v);
}

// Times are unix seconds.
inline std::int64_t unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
inline std::chrono::system_clock::time_point from_unix_seconds(std::int64_t s) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(s));
}

// A prepared statement. A failed prepare or bind is remembered and returned
// by the next step(), so callers check one place.
class Statement {
public:
  Statement(sqlite3* db, const char* sql) : rc_(sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr)) {}
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() { sqlite3_finalize(stmt_); }

  void bind(int i, std::int64_t v) {
    if (rc_ == SQLITE_OK)
      rc_ = sqlite3_bind_int64(stmt_, i, v);
  }
  void bind(int i, std::string_view text) {
    if (rc_ == SQLITE_OK)
      rc_ = sqlite3_bind_text64(stmt_, i, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  }
  /// SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return rc_ == SQLITE_OK ? sqlite3_step(stmt_) : rc_; }
  /// For running it again with other values.
  void reset() {
    if (rc_ == SQLITE_OK) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }

  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p == nullptr ? std::string()
                        : std::string(reinterpret_cast<const char*>(p),
                                      static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
  }

private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

// Runs a query of at most one row: SQLITE_DONE with `out` the row read by
// `read` (or nullopt when there is none), else SQLite's error.
template <class T, class Read> int step_one(Statement& s, std::optional<T>& out, Read read) {
  const int rc = s.step();
  if (rc == SQLITE_ROW)
    out = read(s);
  return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

// BEGIN IMMEDIATE (take the write lock now, waiting up to the busy timeout,
// rather than fail on upgrade later); rolled back unless committed.
class Transaction {
public:
  explicit Transaction(sqlite3* db)
      : db_(db),
        open_(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK) {}
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction() {
    if (open_)
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  bool began() const { return open_; }
  bool commit() {
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
      return false; // the destructor rolls back
    open_ = false;
    return true;
  }

private:
  sqlite3* db_;
  bool open_;
};

} // namespace berth::store::sqlite
