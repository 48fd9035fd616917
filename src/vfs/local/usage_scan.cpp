// LocalFs::usage(): the initial usage of a home for its user's Quota:
// regular files their size, directories and symlinks kEntryBytes, one file each.

#include "vfs/errc.hpp"
#include "vfs/local/local_fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <vector>

namespace berth::vfs {
namespace {

struct CloseDir {
  void operator()(DIR* d) const { ::closedir(d); }
};
using DirStream = std::unique_ptr<DIR, CloseDir>;

core::Unexpected last_error() {
  return core::unexpected(from_errno(errno));
}

// A directory stream for descriptor `fd`, which it takes over (closed on failure too).
core::Result<DirStream> stream_of(int fd) {
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    const int err = errno;
    ::close(fd);
    return core::unexpected(from_errno(err));
  }
  return DirStream(d);
}

// Entries that vanish or may not be read during the walk are skipped: the
// walk races with uploads and deletes, and what we may not read is not the user's.
bool skippable(int err) {
  return err == ENOENT || err == EACCES || err == ENOTDIR || err == ELOOP;
}

} // namespace

core::Result<Usage> LocalFs::usage(const std::filesystem::path& home) {
  int fd = ::open(home.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return last_error();
  auto top = stream_of(fd);
  if (!top)
    return core::unexpected(top.error());
  // Depth first, one open stream per level; no recursion.
  std::vector<DirStream> stack;
  stack.push_back(std::move(*top));
  Usage total;
  while (!stack.empty()) {
    DIR* dir = stack.back().get();
    errno = 0;
    const dirent* e = ::readdir(dir);
    if (e == nullptr) {
      if (errno != 0)
        return last_error();
      stack.pop_back();
      continue;
    }
    const std::string_view name = e->d_name;
    if (name == "." || name == ".." || name.starts_with(kUploadPrefix))
      continue;
    struct stat st {};
    if (::fstatat(::dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (skippable(errno))
        continue;
      return last_error();
    }
    if (S_ISREG(st.st_mode)) {
      total.bytes += static_cast<std::int64_t>(st.st_size);
      total.files += 1;
    } else if (S_ISLNK(st.st_mode)) {
      total.bytes += kEntryBytes; // as GuardedFs charges a link it makes
      total.files += 1;
    } else if (S_ISDIR(st.st_mode)) {
      total.bytes += kEntryBytes; // as GuardedFs charges a directory it makes
      total.files += 1;
      // O_NOFOLLOW: a directory replaced by a symlink since fstatat is not entered.
      int sub = ::openat(::dirfd(dir), e->d_name,
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
      if (sub < 0) {
        if (skippable(errno))
          continue;
        return last_error();
      }
      auto next = stream_of(sub);
      if (!next)
        return core::unexpected(next.error());
      stack.push_back(std::move(*next));
    }
  }
  return total;
}

} // namespace berth::vfs
