#pragma once
// What object storage keeps in the node's database: multipart uploads in
// progress (so that a client resumes on any node, and abandoned ones are
// found and aborted) and each user's usage counter (quotas without a bucket
// scan at login). The SQLite user database holds them (sqlite/); PostgreSQL
// later. Plain values: nothing of vfs or of a database shows here.

#include "core/result.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace berth::store {

/// One finished part of a multipart upload.
struct PartRecord {
  std::uint32_t number = 0; ///< 1 to kMaxPartNumber.
  std::string etag;         ///< As the storage answered it (quotes kept).
  std::uint64_t size = 0;   ///< Bytes; at most INT64_MAX.
  bool operator==(const PartRecord&) const = default;
};

/// A multipart upload in progress: one per object (location + key).
struct UploadRecord {
  std::string location;          ///< The storage's text form, e.g. "s3://profile@bucket".
  std::string key;               ///< The object's key in it.
  std::string upload_id;         ///< The storage's id of the multipart upload.
  std::string user;              ///< Who uploads (for the quota when it completes).
  std::vector<PartRecord> parts; ///< Finished parts, by number.
  std::chrono::system_clock::time_point started; ///< Kept to the second.
  std::chrono::system_clock::time_point updated; ///< Last save or part; kept to the second.
  bool operator==(const UploadRecord&) const = default;
};

/// What a user stores: bytes of files and their number (vfs::Usage's rules).
struct UsageRecord {
  std::int64_t bytes = 0;
  std::int64_t files = 0;
  bool operator==(const UsageRecord&) const = default;
};

/// S3's limit on part numbers (and on parts per upload).
inline constexpr std::uint32_t kMaxPartNumber = 10000;

/// Uploads in progress and usage counters. Implementations are thread-safe,
/// and consistent across the processes (or nodes) sharing the database.
///
/// Every method blocks on the database (milliseconds; longer while another
/// process writes, up to the backend's lock timeout): callers on an event
/// loop run them on a worker pool (core::WorkerPool) and await that.
///
/// Errors: std::errc::invalid_argument for a value the database can not hold
/// (below); Errc::no_such_upload as documented; Errc::database when the
/// database fails (its cause has been logged).
class StorageState {
public:
  virtual ~StorageState() = default;

  /// Records `upload` as the one in progress for its location and key,
  /// replacing whatever was recorded for them (another upload id and its
  /// parts included), all or nothing. Refused (invalid_argument): an empty
  /// location, key or upload_id; a part number outside 1..kMaxPartNumber or
  /// given twice; a part size above INT64_MAX.
  virtual core::Result<void> save_upload(const UploadRecord& upload) = 0;

  /// Adds one finished part to the upload `upload_id` of location + key (a
  /// part of that number recorded before is replaced, as the storage keeps
  /// the last one) and sets its `updated` to `when`, all or nothing.
  /// Errors: Errc::no_such_upload when that upload is not the one recorded
  /// (none, or another replaced it); invalid_argument as save_upload.
  virtual core::Result<void> add_upload_part(const std::string& location, const std::string& key,
                                             const std::string& upload_id, const PartRecord& part,
                                             std::chrono::system_clock::time_point when) = 0;

  /// The upload in progress for location + key with its parts (ascending
  /// numbers), or nullopt.
  virtual core::Result<std::optional<UploadRecord>> find_upload(const std::string& location,
                                                                const std::string& key) = 0;

  /// Forgets the upload `upload_id` of location + key and its parts (it
  /// completed or was aborted). False when it was not the one recorded: an
  /// upload that replaced it stays.
  virtual core::Result<bool> remove_upload(const std::string& location, const std::string& key,
                                           const std::string& upload_id) = 0;

  /// At most `limit` uploads last updated before `before`, oldest first,
  /// with their parts: abandoned ones, for a cleanup to abort and remove.
  virtual core::Result<std::vector<UploadRecord>>
  uploads_older_than(std::chrono::system_clock::time_point before, std::size_t limit) = 0;

  /// The usage counter of `user`, or nullopt when it was never counted (the
  /// caller counts the home and set_usage()s it).
  virtual core::Result<std::optional<UsageRecord>> usage(const std::string& user) = 0;

  /// Adds the deltas to the counter of `user` in one step (concurrent adds
  /// from any thread or process all count), neither going below 0, and
  /// returns the new usage. A user without a counter keeps none (nullopt):
  /// counting from 0 would make up a usage.
  virtual core::Result<std::optional<UsageRecord>>
  add_usage(const std::string& user, std::int64_t bytes_delta, std::int64_t files_delta) = 0;

  /// Sets the counter of `user` (after a recount), creating it. Refused
  /// (invalid_argument): an empty user, a negative count.
  virtual core::Result<void> set_usage(const std::string& user, const UsageRecord& usage) = 0;
};

} // namespace berth::store
