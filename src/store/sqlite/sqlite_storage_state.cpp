// SqliteStore as store::StorageState: uploads in progress to object storage
// and usage counters, in the tables of schema version 2.

#include "store/sqlite/sqlite_store.hpp"
#include "store/sqlite/statement.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <set>
#include <system_error>

namespace berth::store {
namespace {

using sqlite::from_db;
using sqlite::from_unix_seconds;
using sqlite::Statement;
using sqlite::to_db;
using sqlite::Transaction;
using sqlite::unix_seconds;

constexpr std::uint64_t kMaxStored = std::numeric_limits<std::int64_t>::max();

core::Unexpected invalid() {
  return core::unexpected(std::make_error_code(std::errc::invalid_argument));
}

bool storable(const PartRecord& p) {
  return p.number >= 1 && p.number <= kMaxPartNumber && p.size <= kMaxStored;
}

bool storable(const UploadRecord& u) {
  if (u.location.empty() || u.key.empty() || u.upload_id.empty())
    return false;
  std::set<std::uint32_t> numbers;
  return std::all_of(u.parts.begin(), u.parts.end(), [&](const PartRecord& p) {
    return storable(p) && numbers.insert(p.number).second;
  });
}

// Inserts or replaces one part; SQLITE_DONE when it did.
int put_part(sqlite3* db, const std::string& location, const std::string& key,
             const PartRecord& p) {
  Statement s(db, "INSERT INTO upload_parts (location, object_key, number, etag, size)"
                  " VALUES (?, ?, ?, ?, ?) ON CONFLICT (location, object_key, number)"
                  " DO UPDATE SET etag = excluded.etag, size = excluded.size");
  s.bind(1, location);
  s.bind(2, key);
  s.bind(3, std::int64_t{p.number});
  s.bind(4, p.etag);
  s.bind(5, to_db(p.size));
  return s.step();
}

// Uploads joined with their parts, ordered by upload then part number:
// consecutive rows of one upload make one record. SQLITE_DONE when all were read.
constexpr const char* kSelectUploads =
    "SELECT u.location, u.object_key, u.upload_id, u.user_name, u.started, u.updated,"
    " p.number, p.etag, p.size FROM u LEFT JOIN upload_parts p"
    " ON p.location = u.location AND p.object_key = u.object_key";

int read_uploads(Statement& s, std::vector<UploadRecord>& out) {
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    std::string location = s.text(0);
    std::string key = s.text(1);
    if (out.empty() || out.back().location != location || out.back().key != key) {
      UploadRecord u;
      u.location = std::move(location);
      u.key = std::move(key);
      u.upload_id = s.text(2);
      u.user = s.text(3);
      u.started = from_unix_seconds(s.int64(4));
      u.updated = from_unix_seconds(s.int64(5));
      out.push_back(std::move(u));
    }
    if (!s.is_null(6))
      out.back().parts.push_back(
          {static_cast<std::uint32_t>(s.int64(6)), s.text(7), from_db(s.int64(8))});
  }
  return rc;
}

UsageRecord read_usage(const Statement& s) {
  return {s.int64(0), s.int64(1)};
}

} // namespace

core::Result<void> SqliteStore::save_upload(const UploadRecord& upload) {
  if (!storable(upload))
    return invalid();
  std::lock_guard lock(mutex_);
  Transaction t(db_);
  if (!t.began())
    return fail("can not begin a transaction");
  // The parts of whatever was recorded go: another upload's, or this one's
  // as they were (the record lists them all).
  Statement drop(db_, "DELETE FROM upload_parts WHERE location = ? AND object_key = ?");
  drop.bind(1, upload.location);
  drop.bind(2, upload.key);
  if (drop.step() != SQLITE_DONE)
    return fail("can not replace an upload's parts");
  Statement s(db_, "INSERT INTO uploads (location, object_key, upload_id, user_name, started,"
                   " updated) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (location, object_key)"
                   " DO UPDATE SET upload_id = excluded.upload_id,"
                   " user_name = excluded.user_name, started = excluded.started,"
                   " updated = excluded.updated");
  s.bind(1, upload.location);
  s.bind(2, upload.key);
  s.bind(3, upload.upload_id);
  s.bind(4, upload.user);
  s.bind(5, unix_seconds(upload.started));
  s.bind(6, unix_seconds(upload.updated));
  if (s.step() != SQLITE_DONE)
    return fail("can not save an upload");
  for (const PartRecord& p : upload.parts)
    if (put_part(db_, upload.location, upload.key, p) != SQLITE_DONE)
      return fail("can not save an upload's part");
  if (!t.commit())
    return fail("can not commit");
  return {};
}

core::Result<void> SqliteStore::add_upload_part(const std::string& location, const std::string& key,
                                                const std::string& upload_id,
                                                const PartRecord& part,
                                                std::chrono::system_clock::time_point when) {
  if (!storable(part))
    return invalid();
  std::lock_guard lock(mutex_);
  Transaction t(db_);
  if (!t.began())
    return fail("can not begin a transaction");
  Statement touch(db_, "UPDATE uploads SET updated = ?"
                       " WHERE location = ? AND object_key = ? AND upload_id = ?");
  touch.bind(1, unix_seconds(when));
  touch.bind(2, location);
  touch.bind(3, key);
  touch.bind(4, upload_id);
  if (touch.step() != SQLITE_DONE)
    return fail("can not update an upload");
  if (sqlite3_changes(db_) == 0)
    return core::unexpected(Errc::no_such_upload);
  if (put_part(db_, location, key, part) != SQLITE_DONE)
    return fail("can not add an upload's part");
  if (!t.commit())
    return fail("can not commit");
  return {};
}

core::Result<std::optional<UploadRecord>> SqliteStore::find_upload(const std::string& location,
                                                                   const std::string& key) {
  std::lock_guard lock(mutex_);
  // One statement: the upload and its parts from one snapshot.
  const std::string sql = std::string("WITH u AS (SELECT * FROM uploads WHERE location = ?"
                                      " AND object_key = ?) ") +
                          kSelectUploads + " ORDER BY p.number";
  Statement s(db_, sql.c_str());
  s.bind(1, location);
  s.bind(2, key);
  std::vector<UploadRecord> found;
  if (read_uploads(s, found) != SQLITE_DONE)
    return fail("can not read an upload");
  if (found.empty())
    return std::optional<UploadRecord>();
  return std::optional<UploadRecord>(std::move(found.front()));
}

core::Result<bool> SqliteStore::remove_upload(const std::string& location, const std::string& key,
                                              const std::string& upload_id) {
  std::lock_guard lock(mutex_);
  // The parts go with it (ON DELETE CASCADE).
  Statement s(db_, "DELETE FROM uploads WHERE location = ? AND object_key = ? AND upload_id = ?");
  s.bind(1, location);
  s.bind(2, key);
  s.bind(3, upload_id);
  if (s.step() != SQLITE_DONE)
    return fail("can not remove an upload");
  return sqlite3_changes(db_) != 0;
}

core::Result<std::vector<UploadRecord>>
SqliteStore::uploads_older_than(std::chrono::system_clock::time_point before, std::size_t limit) {
  std::lock_guard lock(mutex_);
  const std::string sql = std::string("WITH u AS (SELECT * FROM uploads WHERE updated < ?"
                                      " ORDER BY updated, location, object_key LIMIT ?) ") +
                          kSelectUploads +
                          " ORDER BY u.updated, u.location, u.object_key, p.number";
  Statement s(db_, sql.c_str());
  s.bind(1, unix_seconds(before));
  s.bind(2, static_cast<std::int64_t>(std::min<std::uint64_t>(limit, kMaxStored)));
  std::vector<UploadRecord> out;
  if (read_uploads(s, out) != SQLITE_DONE)
    return fail("can not list uploads");
  return out;
}

core::Result<std::optional<UsageRecord>> SqliteStore::usage(const std::string& user) {
  std::lock_guard lock(mutex_);
  Statement s(db_, "SELECT bytes, files FROM usage_counters WHERE user_name = ?");
  s.bind(1, user);
  std::optional<UsageRecord> out;
  if (sqlite::step_one(s, out, read_usage) != SQLITE_DONE)
    return fail("can not read a usage counter");
  return out;
}

core::Result<std::optional<UsageRecord>> SqliteStore::add_usage(const std::string& user,
                                                                std::int64_t bytes_delta,
                                                                std::int64_t files_delta) {
  std::lock_guard lock(mutex_);
  // One statement: atomic against every other connection too.
  Statement s(db_, "UPDATE usage_counters SET bytes = MAX(0, bytes + ?),"
                   " files = MAX(0, files + ?), updated = ? WHERE user_name = ?"
                   " RETURNING bytes, files");
  s.bind(1, bytes_delta);
  s.bind(2, files_delta);
  s.bind(3, unix_seconds(std::chrono::system_clock::now()));
  s.bind(4, user);
  // The change is made by the first step (RETURNING gives the new row).
  std::optional<UsageRecord> out;
  if (sqlite::step_one(s, out, read_usage) != SQLITE_DONE)
    return fail("can not add to a usage counter");
  return out;
}

core::Result<void> SqliteStore::set_usage(const std::string& user, const UsageRecord& usage) {
  if (user.empty() || usage.bytes < 0 || usage.files < 0)
    return invalid();
  std::lock_guard lock(mutex_);
  Statement s(db_, "INSERT INTO usage_counters (user_name, bytes, files, updated)"
                   " VALUES (?, ?, ?, ?) ON CONFLICT (user_name) DO UPDATE SET"
                   " bytes = excluded.bytes, files = excluded.files, updated = excluded.updated");
  s.bind(1, user);
  s.bind(2, usage.bytes);
  s.bind(3, usage.files);
  s.bind(4, unix_seconds(std::chrono::system_clock::now()));
  if (s.step() != SQLITE_DONE)
    return fail("can not set a usage counter");
  return {};
}

} // namespace berth::store
