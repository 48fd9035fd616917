#pragma once
// The S3 REST API (the subset berth needs), signed with AWS Signature V4, over
// net::HttpClient. Keys are full object keys (the home's prefix included);
// vfs/s3/s3_fs turns virtual paths into keys.

#include "core/config.hpp"
#include "core/result.hpp"
#include "core/task.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace berth::vfs::s3 {

/// User metadata of an object (x-amz-meta-NAME: value), names in lower case
/// without the prefix. berth keeps "mtime" (seconds since the epoch, decimal).
using Metadata = std::map<std::string, std::string>;

struct ObjectInfo {
  std::string key;
  std::uint64_t size = 0;
  std::chrono::system_clock::time_point last_modified{};
  std::string etag;  ///< Without its double quotes, as everywhere in this API.
  Metadata metadata; ///< Only from head(); a listing carries none.
};

/// One page of ListObjectsV2.
struct ListPage {
  std::vector<ObjectInfo> objects;   ///< Contents, in key order.
  std::vector<std::string> prefixes; ///< CommonPrefixes (each ends with the delimiter).
  std::string next_token;            ///< For the next page; empty: this was the last.
};

struct Part {
  int number = 0; ///< 1..10000
  std::string etag;
  std::uint64_t size = 0; ///< From list_parts(); ignored by complete_multipart().
};

/// The bytes of an object as they arrive (a streaming GET).
class ObjectReader {
public:
  virtual ~ObjectReader() = default;
  /// The whole object's size (not only the range asked for).
  virtual std::uint64_t object_size() const = 0;
  /// At least one byte and at most buf.size(); 0 at the end of the range.
  virtual core::Task<core::Result<std::size_t>> read_some(std::span<std::byte> buf) = 0;
};

/// Thread-safe to share; each call runs on the calling coroutine's loop.
/// Errors are vfs::Errc: not_found (404, NoSuchKey, NoSuchUpload), exists
/// (412 on a conditional put), permission_denied (403), unavailable (the
/// endpoint did not answer, timed out or answered 5xx after the retries), and
/// io_error (any other refusal; the S3 error code and message are logged).
/// Idempotent requests (all but complete_multipart and create_multipart) are
/// retried with backoff on unavailable.
class Client {
public:
  /// `bucket` of the endpoint in `profile`.
  Client(core::S3Profile profile, std::string bucket);

  /// HeadBucket: the bucket answers with these credentials.
  core::Task<core::Result<void>> check_bucket();
  /// HeadObject.
  core::Task<core::Result<ObjectInfo>> head(std::string key);
  /// GetObject from `offset` to the end (or `length` bytes), streamed with at
  /// most `window` bytes buffered. offset == size is an empty read, not an error.
  core::Task<core::Result<std::unique_ptr<ObjectReader>>> get(std::string key, std::uint64_t offset,
                                                              std::optional<std::uint64_t> length,
                                                              std::size_t window);
  /// PutObject. `if_none_match`: fail with exists when the key is taken.
  core::Task<core::Result<std::string>> put(std::string key, std::span<const std::byte> body,
                                            Metadata metadata, bool if_none_match = false);
  /// DeleteObject; a missing key is success (as S3 answers).
  core::Task<core::Result<void>> remove(std::string key);
  /// DeleteObjects (at most 1000 keys a call).
  core::Task<core::Result<void>> remove_many(std::vector<std::string> keys);
  /// ListObjectsV2 of `prefix` with `delimiter` ("" for all below), one page of
  /// at most `max_keys` (<= 1000), after `continuation` (empty: the first page).
  core::Task<core::Result<ListPage>> list(std::string prefix, std::string delimiter,
                                          std::string continuation, std::size_t max_keys = 1000);
  /// CopyObject within the bucket. `metadata`: replaces the source's when set.
  core::Task<core::Result<void>> copy(std::string from, std::string to,
                                      std::optional<Metadata> metadata = std::nullopt);

  /// CreateMultipartUpload; returns the upload id.
  core::Task<core::Result<std::string>> create_multipart(std::string key, Metadata metadata);
  /// UploadPart; returns its ETag.
  core::Task<core::Result<std::string>> upload_part(std::string key, std::string upload_id,
                                                    int number, std::span<const std::byte> body);
  /// UploadPartCopy of bytes [first, last] of `source`; returns its ETag.
  core::Task<core::Result<std::string>> upload_part_copy(std::string key, std::string upload_id,
                                                         int number, std::string source,
                                                         std::uint64_t first, std::uint64_t last);
  /// CompleteMultipartUpload with `parts` in number order.
  core::Task<core::Result<void>> complete_multipart(std::string key, std::string upload_id,
                                                    std::vector<Part> parts);
  /// AbortMultipartUpload; an unknown id is success.
  core::Task<core::Result<void>> abort_multipart(std::string key, std::string upload_id);
  /// ListParts (every page).
  core::Task<core::Result<std::vector<Part>>> list_parts(std::string key, std::string upload_id);

  const core::S3Profile& profile() const { return profile_; }
  const std::string& bucket() const { return bucket_; }

private:
  core::S3Profile profile_;
  std::string bucket_;
};

/// The ETag S3 gives the object a multipart upload of `parts` completes to
/// (the MD5 of the parts' binary MD5s, then "-N"); nullopt when a part's ETag
/// is not an MD5 (encrypted objects). complete_multipart() uses it to know a
/// lost answer's upload completed.
std::optional<std::string> multipart_etag(std::span<const Part> parts);

} // namespace berth::vfs::s3
