#pragma once
// The S3 backend of vfs::Filesystem: a home in a bucket, under a key prefix,
// through vfs::s3::Client. The semantics (keys, folders, uploads, listings,
// renames, times) are described at the top of s3_fs.cpp.

#include "core/result.hpp"
#include "core/task.hpp"
#include "vfs/filesystem.hpp"
#include "vfs/quota.hpp"
#include "vfs/s3/client.hpp"
#include "vfs/s3/memory_budget.hpp"
#include "vfs/s3/spool.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace berth::vfs::s3 {

/// A finished part of a multipart upload, for a store that records uploads
/// so that a later session can resume them (the seam for resume across
/// connections; nothing records parts yet).
struct FinishedPart {
  std::string key;
  std::string upload_id;
  Part part;
};

/// An upload in progress as a journal recorded it: its id and finished parts.
struct RecordedUpload {
  std::string upload_id;
  std::vector<Part> parts; ///< Ascending numbers.
  /// The bytes of parts 1..n without a gap (what a client resumes after).
  std::uint64_t finished_bytes() const;
  /// The number of the first part missing from 1..n.
  int next_number() const;
};

/// Where uploads in progress are recorded, so that a client that reconnects
/// continues one without sending its finished parts again. Every call awaits
/// (the implementation runs its blocking work off the loop) and is
/// thread-safe. Errors are the journal's; an upload goes on without it.
class UploadJournal {
public:
  virtual ~UploadJournal() = default;
  virtual core::Task<core::Result<void>> started(std::string key, std::string upload_id) = 0;
  virtual core::Task<core::Result<void>> part(std::string key, std::string upload_id,
                                              Part part) = 0;
  /// The upload completed or was aborted.
  virtual core::Task<core::Result<void>> ended(std::string key, std::string upload_id) = 0;
  virtual core::Task<core::Result<std::optional<RecordedUpload>>> find(std::string key) = 0;
};

struct S3FsOptions {
  /// The bucket's client; shared by every session of the node (thread-safe).
  std::shared_ptr<Client> client;
  /// Key prefix of the home: no leading or trailing '/', "" for the bucket's root.
  std::string prefix;
  /// Node-wide bytes for upload part buffers; shared by every session (thread-safe).
  /// Null: a budget of part_size * (upload_concurrency + 1) for this filesystem alone.
  std::shared_ptr<MemoryBudget> budget;
  /// Multipart part size (at least 5 MiB; S3's minimum for all but the last part).
  std::uint64_t part_size = 8ull << 20;
  /// Parts in flight per upload (at least 1).
  unsigned upload_concurrency = 4;
  /// Most objects one folder rename moves; above it, rename refuses with Errc::unsupported.
  std::uint32_t max_rename_objects = 10000;
  /// Read-ahead of a download (bytes buffered by the streaming GET).
  std::size_t read_ahead = 4u << 20;
  /// Called on the upload's loop after each part is uploaded; empty: nothing.
  std::function<void(const FinishedPart&)> on_part;
  /// Records uploads in progress for resume (shared, thread-safe); null: an
  /// interrupted upload is aborted and nothing resumes it.
  std::shared_ptr<UploadJournal> journal;
  /// The node's spool for writes far out of order (shared, thread-safe); null:
  /// a write outside an upload's window is refused with Errc::unsupported.
  std::shared_ptr<SpoolSpace> spool;
};

/// A Filesystem over the objects under options.prefix. Does not contact the
/// endpoint (check it with Client::check_bucket()).
std::unique_ptr<Filesystem> open_s3_fs(S3FsOptions options);

/// Walks every object under `prefix` (a home's prefix, as in S3FsOptions):
/// the Usage LocalFs::usage() rules would give (files: size + 1 file; folder
/// markers and folders that exist only as a prefix: kEntryBytes + 1 file).
/// Errors: the client's. Runs on the caller's loop, one listing page at a time.
core::Task<core::Result<Usage>> count_usage(Client& client, std::string prefix);

} // namespace berth::vfs::s3
