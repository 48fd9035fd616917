#pragma once
// The one filesystem every protocol talks to. Backends live in subfolders.

#include "core/result.hpp"
#include "core/task.hpp"
#include "core/upload_mode.hpp"
#include "net/copy.hpp"
#include "vfs/virtual_path.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
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
  std::chrono::system_clock::time_point atime{}; ///< Last access, as the backend keeps it.
  std::uint32_t mode = 0;                        ///< Permission bits (07777).
  std::uint32_t nlink = 1;
  std::uint64_t device = 0; ///< With inode: a unique id within the backend.
  std::uint64_t inode = 0;
  std::uint32_t uid = 0; ///< The host's owner and group ids (0 where the backend has none).
  std::uint32_t gid = 0;
};

/// One directory entry, as lstat(2) sees it: a symlink is reported as itself
/// (type symlink, the size of its target text), never as what it points to,
/// as OpenSSH's READDIR and vsftpd's LIST do. A recursive client (sshfs
/// `rm -rf`, scp -r, rsync, lftp mirror) then never descends through a link.
/// Filesystem::stat follows links, Filesystem::lstat does not.
struct DirEntry {
  std::string name;
  Stat stat;
  std::string link_target{}; ///< A symlink's stored text (as read_link); empty otherwise.
};

/// How an upload opens its target.
enum class WriteMode {
  replace, ///< New content. Atomic upload mode: the old file stays intact until
           ///< commit() (a rename); direct: the target is truncated at the open.
  create,  ///< As replace, for a name that must not exist (Errc::exists if taken):
           ///< atomic: commit() renames with RENAME_NOREPLACE, never over what
           ///< appeared meanwhile; direct: created O_EXCL, never through a symlink.
  append,  ///< Append to the end, creating the file if needed.
  resume,  ///< Write from a given offset, keeping what is before it; truncate at commit().
};

/// Statistics of the filesystem holding a path (statvfs(3) fields).
struct FsStats {
  std::uint64_t block_size = 0;
  std::uint64_t fragment_size = 0;
  std::uint64_t blocks = 0;
  std::uint64_t blocks_free = 0;
  std::uint64_t blocks_available = 0;
  std::uint64_t files = 0;
  std::uint64_t files_free = 0;
  std::uint64_t files_available = 0;
  std::uint64_t fsid = 0;
  std::uint64_t flags = 0; ///< bit 0: read-only, bit 1: nosuid (as OpenSSH's statvfs@openssh.com)
  std::uint64_t name_max = 0;
};

/// How a random-access open (SFTP) treats its target.
struct OpenFlags {
  bool read = false;
  bool write = false;
  bool append = false;       ///< Writes go to the end.
  bool create = false;       ///< Create if missing.
  bool truncate = false;     ///< Start empty. With create and write, in the atomic upload
                             ///< mode: a missing file is created at its name at once, an
                             ///< existing one is staged (it stays until commit()); the
                             ///< session that staged it sees the staged file at the name.
  bool exclusive = false;    ///< With create: fail with Errc::exists if it exists (O_EXCL).
  std::uint32_t mode = 0666; ///< Of a created file: & 0777, less the server's umask.
};

/// Whether rename() may replace what is at its target.
enum class RenameMode {
  replace,    ///< As rename(2): a file, or an empty directory for a directory, is replaced.
  no_replace, ///< Errc::exists if anything is at the target (renameat2 RENAME_NOREPLACE).
};

/// An open file. Used from one coroutine at a time.
class File {
public:
  virtual ~File() = default;
  /// Reads buf.size() bytes at the current position and advances it. Fewer only
  /// at the end of the file (0: at the end), never because the rest is not at
  /// hand (an uncached page, a throttle): SFTP clients take a short READ for
  /// the end of the file or a damaged one. May wait for the disk or a throttle.
  virtual core::Task<core::Result<std::size_t>> read(std::span<std::byte> buf) = 0;
  /// Writes all of buf at the current position.
  virtual core::Task<core::Result<void>> write(std::span<const std::byte> buf) = 0;
  /// Makes a finished upload visible (replace: rename over the target; resume:
  /// truncate after the last byte written). Without commit(), a replace upload is
  /// discarded when the File is destroyed and the old file is unchanged.
  virtual core::Task<core::Result<void>> commit() = 0;
  /// After a commit() that replaced a file: that file's Stat as it was just
  /// before (for the quota); otherwise nothing.
  virtual std::optional<Stat> replaced() const { return std::nullopt; }
  /// The most bytes one read() should ask for so that it returns within about
  /// a quarter of a second (a throttled download), or 0 when any size is fine.
  /// Sequential readers that must show progress (FTP's stall watchdog) use it.
  virtual std::size_t read_size_limit() const { return 0; }
  /// Optional capability: zero-copy access (net/copy) for sequential read()
  /// and write() transfers, or null. The local backend offers it; a
  /// decorator withdraws it where it must see every byte (a throttle, a
  /// quota); object storage has none. Once a transfer has used it, read()
  /// and write() are not used on this File again.
  virtual net::ZeroCopyFile* zero_copy() { return nullptr; }

  // Random access (SFTP). Offsets are explicit; the sequential position is not used.
  /// Reads buf.size() bytes at `offset`, fewer only at the end of the file (0:
  /// at or past it), as read() does.
  virtual core::Task<core::Result<std::size_t>> read_at(std::uint64_t offset,
                                                        std::span<std::byte> buf) = 0;
  /// Writes all of buf at `offset` (at the end for an append open).
  virtual core::Task<core::Result<void>> write_at(std::uint64_t offset,
                                                  std::span<const std::byte> buf) = 0;
  /// The open file's attributes.
  virtual core::Task<core::Result<Stat>> stat() = 0;
  /// fsync(2).
  virtual core::Task<core::Result<void>> sync() = 0;
  virtual core::Task<core::Result<void>> set_size(std::uint64_t size) = 0;
  virtual core::Task<core::Result<void>> set_mode(std::uint32_t mode) = 0;
  virtual core::Task<core::Result<void>> set_times(std::chrono::system_clock::time_point atime,
                                                   std::chrono::system_clock::time_point mtime) = 0;
};

/// A directory's entries, a batch at a time, so that a folder of 100,000
/// objects never sits in memory whole. Used from one coroutine at a time.
class DirReader {
public:
  virtual ~DirReader() = default;
  /// The next entries, in byte order of their names across all batches
  /// (std::string's operator<); an empty batch at the end.
  virtual core::Task<core::Result<std::vector<DirEntry>>> next() = 0;
};

/// A user's view of files, rooted at their home. Every path is a VirtualPath and
/// cannot leave the root. Methods may block briefly on local disks.
class Filesystem {
public:
  virtual ~Filesystem() = default;

  /// Stat of what `path` names, following symlinks with the root as "/" (they
  /// never leave it; a dangling one is not_found); lstat() does not follow.
  virtual core::Task<core::Result<Stat>> stat(const VirtualPath& path) = 0;
  /// The entries of directory `dir`, without "." and "..", unsorted; a symlink
  /// as itself (DirEntry). `dir` itself may be reached through links.
  virtual core::Task<core::Result<std::vector<DirEntry>>> list(const VirtualPath& dir) = 0;
  /// The entries of `dir` as list() finds them, sorted by name and read a
  /// batch at a time. The default reads list() whole and sorts it; a backend
  /// whose storage lists in pages (object storage) streams them.
  virtual core::Task<core::Result<std::unique_ptr<DirReader>>> open_dir(const VirtualPath& dir);
  /// Opens a regular file for reading at `offset`. Errors: not_found, is_directory, ...
  virtual core::Task<core::Result<std::unique_ptr<File>>> open_read(const VirtualPath& path,
                                                                    std::uint64_t offset) = 0;
  /// Opens a file for an upload in `mode` (offset for resume).
  virtual core::Task<core::Result<std::unique_ptr<File>>>
  open_write(const VirtualPath& path, WriteMode mode, std::uint64_t offset) = 0;
  /// How WriteMode::replace and open(create + truncate + write) reach the disk:
  /// atomic (a temporary name renamed on commit()) or direct (the target itself,
  /// truncated at the open).
  virtual core::UploadMode upload_mode() const = 0;
  /// Whether every file open for writing is its writer's alone until commit()
  /// (object storage: each upload is a new object, never the stored one
  /// changed in place), so that no other handle sees or changes its bytes.
  virtual bool private_writes() const { return false; }
  /// Creates a new file with a unique name in `dir` for STOU; returns its name too.
  virtual core::Task<core::Result<std::pair<std::unique_ptr<File>, std::string>>>
  create_unique(const VirtualPath& dir, std::string_view prefix) = 0;
  /// Creates directory `path` with permission bits `mode` & 0777, less the
  /// server's umask (the rule files get), so never wider than the umask allows.
  virtual core::Task<core::Result<void>> make_directory(const VirtualPath& path,
                                                        std::uint32_t mode) = 0;
  virtual core::Task<core::Result<void>> remove_directory(const VirtualPath& path) = 0;
  /// Removes a file or a symlink (never follows it).
  virtual core::Task<core::Result<void>> remove_file(const VirtualPath& path) = 0;
  /// Renames `from` to `to` as `mode` says. A symlink moved to another
  /// directory gets its stored text rewritten, so that it names the same file
  /// there (links are stored relative, see make_symlink).
  virtual core::Task<core::Result<void>> rename(const VirtualPath& from, const VirtualPath& to,
                                                RenameMode mode) = 0;
  virtual core::Task<core::Result<void>> set_mtime(const VirtualPath& path,
                                                   std::chrono::system_clock::time_point mtime) = 0;
  virtual core::Task<core::Result<void>> set_mode(const VirtualPath& path, std::uint32_t mode) = 0;

  // For SFTP.
  /// Stat of `path` itself: a final symlink is reported as a symlink.
  virtual core::Task<core::Result<Stat>> lstat(const VirtualPath& path) = 0;
  /// Opens for random access. Errors: exists (exclusive), not_found, is_directory...
  virtual core::Task<core::Result<std::unique_ptr<File>>> open(const VirtualPath& path,
                                                               const OpenFlags& flags) = 0;
  /// The target text of symlink `path` as a virtual path (links made by
  /// make_symlink are relative; an absolute host target is shown as stored).
  virtual core::Task<core::Result<std::string>> read_link(const VirtualPath& path) = 0;
  /// Creates symlink `link` pointing to `target`, resolved against the link's
  /// directory and the root: the link is stored relative, so that it means the
  /// same inside the jail and on the host, and never leaves the root.
  virtual core::Task<core::Result<void>> make_symlink(const VirtualPath& target,
                                                      const VirtualPath& link) = 0;
  /// Creates hard link `link` to regular file `target`; a symlink at `target`
  /// is refused (Errc::permission_denied): its copy would keep a relative text
  /// meant for another directory.
  virtual core::Task<core::Result<void>> make_hard_link(const VirtualPath& target,
                                                        const VirtualPath& link) = 0;
  virtual core::Task<core::Result<void>> set_size(const VirtualPath& path, std::uint64_t size) = 0;
  virtual core::Task<core::Result<void>> set_times(const VirtualPath& path,
                                                   std::chrono::system_clock::time_point atime,
                                                   std::chrono::system_clock::time_point mtime) = 0;
  /// The space and files available where `path` is (statvfs(3)): SFTP's
  /// statvfs@openssh.com and FTP's AVBL both ask here. A user's quota
  /// (vfs/guarded) answers as the filesystem: its limits are the size, what
  /// is left of them the free space.
  virtual core::Task<core::Result<FsStats>> fs_stats(const VirtualPath& path) = 0;
};

} // namespace berth::vfs
