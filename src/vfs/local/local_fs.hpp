#pragma once
// The local-disk backend: every path is resolved by the kernel beneath a
// descriptor of the user's home (openat2 RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS).

#include "core/worker_pool.hpp"
#include "vfs/filesystem.hpp"
#include "vfs/quota.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <memory>
#include <string_view>

namespace berth::vfs {

/// Owns a file descriptor; closes it on destruction.
class UniqueFd {
public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

private:
  int fd_ = -1;
};

/// Replace uploads staged by one LocalFs (vfs/local/staged_upload.hpp).
class StagedUploads;

class LocalFs final : public Filesystem {
public:
  /// Names of atomic uploads in progress (renamed over their target on commit):
  /// never listed, never counted as usage.
  static constexpr std::string_view kUploadPrefix = VirtualPath::kReservedPrefix;

  /// Opens `home` as the root. File reads that miss the page cache, writes and
  /// fsync run on `io` (which must outlive the files), or on the caller's loop
  /// when `io` is null or the home is on tmpfs/ramfs.
  /// Errors: the OS error for a missing or unreadable home.
  static core::Result<std::unique_ptr<LocalFs>>
  open(const std::filesystem::path& home, core::WorkerPool* io = nullptr,
       core::UploadMode upload_mode = core::UploadMode::atomic);

  // vfs::Filesystem
  core::Task<core::Result<Stat>> stat(const VirtualPath& path) override;
  core::Task<core::Result<std::vector<DirEntry>>> list(const VirtualPath& dir) override;
  core::Task<core::Result<std::unique_ptr<File>>> open_read(const VirtualPath& path,
                                                            std::uint64_t offset) override;
  core::Task<core::Result<std::unique_ptr<File>>>
  open_write(const VirtualPath& path, WriteMode mode, std::uint64_t offset) override;
  core::UploadMode upload_mode() const override { return upload_mode_; }
  core::Task<core::Result<std::pair<std::unique_ptr<File>, std::string>>>
  create_unique(const VirtualPath& dir, std::string_view prefix) override;
  core::Task<core::Result<void>> make_directory(const VirtualPath& path,
                                                std::uint32_t mode) override;
  core::Task<core::Result<void>> remove_directory(const VirtualPath& path) override;
  core::Task<core::Result<void>> remove_file(const VirtualPath& path) override;
  core::Task<core::Result<void>> rename(const VirtualPath& from, const VirtualPath& to,
                                        RenameMode mode) override;
  core::Task<core::Result<void>> set_mtime(const VirtualPath& path,
                                           std::chrono::system_clock::time_point mtime) override;
  core::Task<core::Result<void>> set_mode(const VirtualPath& path, std::uint32_t mode) override;
  core::Task<core::Result<Stat>> lstat(const VirtualPath& path) override;
  core::Task<core::Result<std::unique_ptr<File>>> open(const VirtualPath& path,
                                                       const OpenFlags& flags) override;
  core::Task<core::Result<std::string>> read_link(const VirtualPath& path) override;
  core::Task<core::Result<void>> make_symlink(const VirtualPath& target,
                                              const VirtualPath& link) override;
  core::Task<core::Result<void>> make_hard_link(const VirtualPath& target,
                                                const VirtualPath& link) override;
  core::Task<core::Result<void>> set_size(const VirtualPath& path, std::uint64_t size) override;
  core::Task<core::Result<void>> set_times(const VirtualPath& path,
                                           std::chrono::system_clock::time_point atime,
                                           std::chrono::system_clock::time_point mtime) override;
  core::Task<core::Result<FsStats>> fs_stats(const VirtualPath& path) override;

  /// The usage of the tree at `home`, for a Quota: the sizes and number of the
  /// regular files in it, recursively, and kEntryBytes and one file for each
  /// directory (not `home` itself) and symlink. Symlinks are not followed;
  /// hard links count once per name (as removing a name gives back its size);
  /// uploads in progress are skipped, as are subdirectories we may not read.
  /// Blocks for as long as the tree takes to walk: call it on a worker.
  /// Errors: the OS error for a missing or unreadable home, or a failed read.
  static core::Result<Usage> usage(const std::filesystem::path& home);

  /// As open(), but file I/O goes to `io` even on tmpfs, so tests can run it there.
  static core::Result<std::unique_ptr<LocalFs>> open_for_test(const std::filesystem::path& home,
                                                              core::WorkerPool* io);

  /// Resolves `path` beneath the root with open flags `flags`. Public for tests.
  core::Result<UniqueFd> resolve_for_test(const VirtualPath& path, int flags) const {
    return resolve(path, flags, 0);
  }

private:
  LocalFs(UniqueFd root, core::WorkerPool* io, core::UploadMode upload_mode);
  /// Opens `path` beneath the root; a path this LocalFs staged an upload for
  /// opens the staged file.
  core::Result<UniqueFd> resolve(const VirtualPath& path, int flags, unsigned mode) const;
  /// Opens regular file `path` for I/O with open flags `flags` (O_CREAT: create
  /// it if missing, with `mode`); its type is checked on an O_PATH descriptor
  /// first, so a FIFO or device is never opened. Returns its fstat too.
  core::Result<std::pair<UniqueFd, struct stat>> open_regular(const VirtualPath& path, int flags,
                                                              unsigned mode) const;
  /// Where open_upload() writes a file that does not exist yet.
  enum class NewFile {
    at_name, ///< At its name at once (O_EXCL): clients see the file being written.
    staged,  ///< Staged as a replacement is: nothing of it if interrupted.
  };
  /// An upload of new content to `path`, opened with `access` (O_WRONLY or
  /// O_RDWR, maybe | O_APPEND) and creation mode `mode`: an existing file is
  /// staged (published by commit()), a missing one as `new_file` says.
  /// `must_be_new`: Errc::exists if the name is taken, and a staged file is
  /// published with RENAME_NOREPLACE.
  core::Result<std::unique_ptr<File>> open_upload(const VirtualPath& path, int access,
                                                  unsigned mode, NewFile new_file,
                                                  bool must_be_new);
  /// rename(), blocking.
  core::Result<void> rename_now(const VirtualPath& from, const VirtualPath& to,
                                RenameMode mode) const;
  core::Result<UniqueFd> open_parent(const VirtualPath& path) const;
  /// list(), blocking.
  /// Drops the clean page cache of the regular file at `path` (a replace
  /// upload's old file; a symlink is not followed); errors are ignored. May
  /// block: on the I/O pool.
  core::Task<void> drop_cached(const VirtualPath& path);
  core::Result<std::vector<DirEntry>> list_now(const VirtualPath& dir) const;
  /// Where directory `dir` really is beneath the root, as a virtual path
  /// (`dir` may have been reached through symlinks).
  core::Result<VirtualPath> location_of(int dir) const;

  UniqueFd root_;
  core::WorkerPool* io_;
  core::UploadMode upload_mode_;
  /// Shared with the Files that staged uploads, which may outlive this LocalFs.
  std::shared_ptr<StagedUploads> staged_;
};

} // namespace berth::vfs
