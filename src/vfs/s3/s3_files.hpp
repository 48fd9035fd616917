#pragma once
// The open files of the S3 backend: a streaming download and a multipart
// upload. Internal to vfs/s3; s3_fs.cpp opens them.

#include "core/result.hpp"
#include "core/task.hpp"
#include "vfs/filesystem.hpp"
#include "vfs/s3/client.hpp"
#include "vfs/s3/s3_fs.hpp"
#include "vfs/s3/spool.hpp"

#include <memory>
#include <optional>
#include <string>

namespace berth::vfs::s3 {

/// What every file of one S3 filesystem shares.
struct S3Context {
  std::shared_ptr<Client> client;
  std::shared_ptr<MemoryBudget> budget;
  std::uint64_t part_size = 8ull << 20;
  unsigned upload_concurrency = 4;
  std::size_t read_ahead = 4u << 20;
  std::function<void(const FinishedPart&)> on_part;
  std::shared_ptr<UploadJournal> journal;
  std::shared_ptr<SpoolSpace> spool; ///< Null: writes outside the window are unsupported.
};

/// S3's smallest part but the last, and the largest one UploadPartCopy copies.
inline constexpr std::uint64_t kMinPartSize = 5ull << 20;
inline constexpr std::uint64_t kMaxCopySize = 5ull << 30;
/// S3's most parts in one upload.
inline constexpr int kMaxParts = 10000;

/// An inode for `key` (FNV-1a): the same for a key in every session, so that
/// MLSD's unique fact tells entries apart (a folder's key ends with "/").
std::uint64_t key_inode(std::string_view key);
/// The Stat of an object: a regular file, mtime from x-amz-meta-mtime when
/// present, else its LastModified; inode key_inode(info.key).
Stat object_stat(const ObjectInfo& info);
/// x-amz-meta-mtime's text for `mtime` (seconds since the epoch).
std::string mtime_text(std::chrono::system_clock::time_point mtime);

/// What both kinds of file share: the position read() and write() use.
class S3File : public File {
protected:
  std::uint64_t pos_ = 0;
};

/// A download of `key` (described by `info`) from `offset`.
std::unique_ptr<File> make_download(std::shared_ptr<const S3Context> ctx, std::string key,
                                    ObjectInfo info, std::uint64_t offset);

/// How an upload treats what is at its key.
struct UploadPlan {
  enum class Keep {
    nothing, ///< New content (replace, create, truncate).
    prefix,  ///< The existing object's first `origin` bytes, then the new ones (append, resume).
    lazy,    ///< As prefix, with origin the first write's offset (at most the object's
             ///< size); an upload with no write leaves the object as it is.
  };
  std::string key;
  Keep keep = Keep::nothing;
  std::uint64_t origin = 0;
  std::optional<ObjectInfo> existing; ///< What was at the key at the open.
  bool if_none_match = false;         ///< WriteMode::create: never over an existing object.
  bool append = false;                ///< Every write goes to the end (SFTP append).
  bool readable = false;              ///< Opened for reading too (reads are unsupported).
  /// Continue this recorded upload after its finished parts (origin = their bytes).
  std::optional<RecordedUpload> resume;
};

/// An upload; it must be opened on the loop that uses it.
core::Task<core::Result<std::unique_ptr<File>>> make_upload(std::shared_ptr<const S3Context> ctx,
                                                            UploadPlan plan);

/// Copies object `from` (of `size` bytes) to `to`: CopyObject up to 5 GiB, a
/// multipart copy above. `metadata`: replaces the source's when set.
core::Task<core::Result<void>> copy_object(Client& client, std::string from, std::string to,
                                           std::uint64_t size, std::optional<Metadata> metadata);

} // namespace berth::vfs::s3
