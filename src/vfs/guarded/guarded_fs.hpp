#pragma once
// A user's rules below every protocol (DESIGN.md rule 1): permissions, the
// quota and bandwidth limits, as a decorator of vfs::Filesystem and vfs::File.

#include "core/permissions.hpp"
#include "net/throttle.hpp"
#include "vfs/filesystem.hpp"
#include "vfs/open_files.hpp"
#include "vfs/quota.hpp"

#include <memory>
#include <string>
#include <vector>

namespace berth::vfs {

/// What one user may do, and how fast.
struct Rules {
  /// Which operations are allowed; the others fail with Errc::permission_denied.
  core::Permissions permissions;
  /// The user's quota, shared by all their sessions (hence shared_ptr); null: none.
  std::shared_ptr<Quota> quota;
  /// Each is awaited before uploaded bytes are written (e.g. the user's cap and
  /// the server's); null entries and rate 0 do not limit.
  std::vector<std::shared_ptr<net::Throttle>> upload;
  /// As `upload`, for bytes read by downloads.
  std::vector<std::shared_ptr<net::Throttle>> download;
  /// The server's budget of open files (shared by every session); null: none.
  /// Each open file and each listing in progress takes a place of `user`.
  std::shared_ptr<OpenFiles> open_files;
  /// The user's name, for log lines and the budget of open files.
  std::string user;
};

/// `inner` as the user may use it. Every method checks one core::Perm first:
/// - list: stat, lstat, list, read_link, fs_stats (and open() with neither read,
///   write nor create);
/// - download: open_read, open() with read;
/// - upload: open_write, open() and create_unique creating a new file;
/// - overwrite: open_write and open() on an existing name (replace, append,
///   resume, truncate, write in place); rename onto an existing non-directory;
///   set_size (of paths, and of Files that did not create their file). Without
///   it, what was allowed as new is made O_EXCL (WriteMode::create, exclusive)
///   and renamed RenameMode::no_replace, so it never replaces what appears meanwhile;
/// - remove: remove_file; rename: rename; mkdir: make_directory;
/// - rmdir: remove_directory, rename onto a directory (it replaces an empty one);
/// - chmod: set_mode, set_mtime, set_times;
/// - symlink: make_symlink, make_hard_link.
/// A refusal is Errc::permission_denied and one log line.
///
/// With a quota, regular files count their size and 1 file each, directories
/// and symlinks kEntryBytes and 1 file each (as LocalFs::usage() counts them):
/// creating a file, directory or link past the files limit, or growing files
/// past the bytes limit, fails with Errc::quota_exceeded and writes nothing.
/// Each check, change and charge or release runs in the user's critical
/// section (Quota::hold()), so racing sessions count every change once. Writes are charged only for
/// growth past the file's end; a replace upload is given back in full when discarded and gives back
/// the file it replaced on commit(); remove_file, rename over a file and shrinking set_size,
/// remove_directory and removing a link give back what the disk lost.
///
/// Files read and written through the result await the throttles; their
/// native_handle() is -1 when zero-copy I/O would bypass a limit or the quota.
std::unique_ptr<Filesystem> guard(std::unique_ptr<Filesystem> inner, Rules rules);

} // namespace berth::vfs
