#pragma once
// The one filesystem every protocol talks to. Backends live in subfolders.

#include "core/result.hpp"
#include "core/task.hpp"
#include "vfs/virtual_path.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace berth::vfs {

enum class FileType { regular, directory, symlink, other };

/// What a listing shows of a file.
struct Stat {
  FileType type = FileType::other;
  std::uint64_t size = 0;
  std::chrono::system_clock::time_point mtime{};
  std::uint32_t mode = 0; ///< Permission bits (07777).
  std::uint32_t nlink = 1;
  std::uint64_t device = 0; ///< With inode: a unique id within the backend.
  std::uint64_t inode = 0;
};

/// One directory entry; symlinks that resolve inside the jail show their target's
/// Stat, dangling or escaping ones show type symlink.
struct DirEntry {
  std::string name;
  Stat stat;
};

/// How an upload opens its target.
enum class WriteMode {
  replace, ///< New content; the old file stays intact until commit() (atomic rename).
  append,  ///< Append to the end, creating the file if needed.
  resume,  ///< Write from a given offset, keeping what is before it; truncate at commit().
};

/// An open file. Used from one coroutine at a time.
class File {
public:
  virtual ~File() = default;
  /// Reads up to buf.size() bytes at the current position; 0 at end of file.
  virtual core::Task<core::Result<std::size_t>> read(std::span<std::byte> buf) = 0;
  /// Writes all of buf at the current position.
  virtual core::Task<core::Result<void>> write(std::span<const std::byte> buf) = 0;
  /// Makes a finished upload visible (replace: rename over the target; resume:
  /// truncate after the last byte written). Without commit(), a replace upload is
  /// discarded when the File is destroyed and the old file is unchanged.
  virtual core::Task<core::Result<void>> commit() = 0;
  /// The position of the next read or write.
  virtual std::uint64_t position() const = 0;
  /// Advances the position by n after the caller moved data itself (zero-copy).
  virtual void advance(std::uint64_t n) = 0;
  /// A kernel descriptor for zero-copy paths, or -1 when the backend has none.
  virtual int native_handle() const = 0;
};

/// A user's view of files, rooted at their home. Every path is a VirtualPath and
/// cannot leave the root. Methods may block briefly on local disks.
class Filesystem {
public:
  virtual ~Filesystem() = default;

  /// Stat of `path`, following symlinks that stay inside the root.
  virtual core::Task<core::Result<Stat>> stat(const VirtualPath& path) = 0;
  /// The entries of directory `dir`, without "." and "..", unsorted.
  virtual core::Task<core::Result<std::vector<DirEntry>>> list(const VirtualPath& dir) = 0;
  /// Opens a regular file for reading at `offset`. Errors: not_found, is_directory, ...
  virtual core::Task<core::Result<std::unique_ptr<File>>> open_read(const VirtualPath& path,
                                                                    std::uint64_t offset) = 0;
  /// Opens a file for an upload in `mode` (offset for resume).
  virtual core::Task<core::Result<std::unique_ptr<File>>>
  open_write(const VirtualPath& path, WriteMode mode, std::uint64_t offset) = 0;
  /// Creates a new file with a unique name in `dir` for STOU; returns its name too.
  virtual core::Task<core::Result<std::pair<std::unique_ptr<File>, std::string>>>
  create_unique(const VirtualPath& dir, std::string_view prefix) = 0;
  virtual core::Task<core::Result<void>> make_directory(const VirtualPath& path) = 0;
  virtual core::Task<core::Result<void>> remove_directory(const VirtualPath& path) = 0;
  /// Removes a file or a symlink (never follows it).
  virtual core::Task<core::Result<void>> remove_file(const VirtualPath& path) = 0;
  /// Renames, replacing a file target as rename(2) does.
  virtual core::Task<core::Result<void>> rename(const VirtualPath& from,
                                                const VirtualPath& to) = 0;
  virtual core::Task<core::Result<void>>
  set_mtime(const VirtualPath& path, std::chrono::system_clock::time_point mtime) = 0;
  virtual core::Task<core::Result<void>> set_mode(const VirtualPath& path, std::uint32_t mode) = 0;
};

} // namespace berth::vfs
