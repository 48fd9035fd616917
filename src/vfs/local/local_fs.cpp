#include "vfs/local/local_fs.hpp"

#include "vfs/errc.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <limits>
#include <random>
#include <string_view>
#include <vector>

namespace berth::vfs {
namespace {

constexpr std::string_view kUploadPrefix = LocalFs::kUploadPrefix;

core::Unexpected last_error() {
  return core::unexpected(from_errno(errno));
}

Stat to_stat(const struct stat& st) {
  Stat s;
  if (S_ISREG(st.st_mode))
    s.type = FileType::regular;
  else if (S_ISDIR(st.st_mode))
    s.type = FileType::directory;
  else if (S_ISLNK(st.st_mode))
    s.type = FileType::symlink;
  s.size = static_cast<std::uint64_t>(st.st_size);
  s.mtime = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
  s.mode = st.st_mode & 07777;
  s.nlink = static_cast<std::uint32_t>(st.st_nlink);
  s.device = st.st_dev;
  s.inode = st.st_ino;
  return s;
}

std::string random_suffix() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  auto v = rng();
  for (int i = 0; i < 12; ++i, v >>= 4)
    out.push_back(kHex[v & 15]);
  return out;
}

// A path naming our own descriptor: lets utimensat/chmod act on an O_PATH
// descriptor that the kernel resolved inside the root, with no second lookup.
std::string fd_path(int fd) {
  return "/proc/self/fd/" + std::to_string(fd);
}

timespec to_timespec(std::chrono::system_clock::time_point t) {
  // floor, not truncation: times before 1970 keep tv_nsec in [0, 1e9).
  const auto secs = std::chrono::floor<std::chrono::seconds>(t);
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t - secs);
  return timespec{static_cast<time_t>(secs.time_since_epoch().count()),
                  static_cast<long>(ns.count())};
}

// The components of a normalized absolute path: "/a/b" -> {"a", "b"}, "/" -> {}.
std::vector<std::string_view> components(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t i = 1;
  while (i < path.size()) {
    std::size_t j = path.find('/', i);
    if (j == std::string_view::npos)
      j = path.size();
    out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// The relative path from directory `from` to `to`, both virtual:
// ("/a/b", "/docs/x") -> "../../docs/x", ("/a/b", "/a/b/c") -> "c", ("/a", "/") -> "..".
std::string relative_path(const VirtualPath& from, const VirtualPath& to) {
  const auto base = components(from.str());
  const auto dest = components(to.str());
  std::size_t common = 0;
  while (common < base.size() && common < dest.size() && base[common] == dest[common])
    ++common;
  std::string out;
  for (std::size_t i = common; i < base.size(); ++i)
    out += out.empty() ? ".." : "/..";
  for (std::size_t i = common; i < dest.size(); ++i) {
    if (!out.empty())
      out += '/';
    out += dest[i];
  }
  return out.empty() ? "." : out;
}

// The kernel's name for a descriptor: its host path, as /proc shows it.
core::Result<std::string> host_path_of(int fd) {
  std::string buf(4096, '\0');
  ssize_t n = ::readlink(fd_path(fd).c_str(), buf.data(), buf.size());
  if (n < 0)
    return last_error();
  if (static_cast<std::size_t>(n) == buf.size())
    return core::unexpected(Errc::invalid_name);
  buf.resize(static_cast<std::size_t>(n));
  return buf;
}

// SECURITY: a replace upload writes to a fresh temporary name in the target's
// directory (O_EXCL, never a symlink) that replaces the target only on commit,
// so an interrupted upload never damages a complete file.
core::Result<std::pair<UniqueFd, std::string>> create_temp(int dir, int access, unsigned mode) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::string temp = std::string(kUploadPrefix) + random_suffix();
    int fd = ::openat(dir, temp.c_str(), access | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0 && errno == EEXIST)
      continue;
    if (fd < 0)
      return last_error();
    return std::make_pair(UniqueFd(fd), std::move(temp));
  }
  return core::unexpected(Errc::io_error);
}

/// What LocalFile::commit() does.
enum class OnCommit {
  nothing,     ///< Reads, appends, random-access opens in place.
  rename_temp, ///< Replace: rename the temporary file over the target.
  truncate,    ///< Resume: cut the file after the last byte written.
};

/// How a LocalFile was opened, beyond its descriptor.
struct FileSetup {
  bool readable = false;
  bool writable = false;
  bool append = false;
  OnCommit on_commit = OnCommit::nothing;
  UniqueFd parent;    ///< rename_temp: the directory of temp and target.
  std::string temp;   ///< rename_temp: the temporary name.
  std::string target; ///< rename_temp: the final name.
};

FileSetup read_only() {
  FileSetup s;
  s.readable = true;
  return s;
}

FileSetup write_only(OnCommit on_commit, bool append = false) {
  FileSetup s;
  s.writable = true;
  s.append = append;
  s.on_commit = on_commit;
  return s;
}

// fstat(2) of a descriptor that must be a regular file to be opened as one:
// a directory says is_directory, a device, FIFO or socket permission_denied.
core::Result<struct stat> stat_regular(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return last_error();
  if (S_ISDIR(st.st_mode))
    return core::unexpected(Errc::is_directory);
  if (!S_ISREG(st.st_mode))
    return core::unexpected(Errc::permission_denied);
  return st;
}

class LocalFile final : public File {
public:
  LocalFile(core::WorkerPool* io, UniqueFd fd, std::uint64_t pos, FileSetup setup)
      : io_(io), fd_(std::move(fd)), pos_(pos), setup_(std::move(setup)) {}
  ~LocalFile() override {
    if (setup_.on_commit == OnCommit::rename_temp && !committed_)
      ::unlinkat(setup_.parent.get(), setup_.temp.c_str(), 0);
  }

  core::Task<core::Result<std::size_t>> read(std::span<std::byte> buf) override {
    auto n = co_await read_at(pos_, buf);
    if (n)
      pos_ += *n;
    co_return n;
  }

  core::Task<core::Result<void>> write(std::span<const std::byte> buf) override {
    auto op = [this, buf] { return pwrite_all(pos_, buf); };
    co_return co_await blocking(op);
  }

  core::Task<core::Result<void>> commit() override {
    if (setup_.on_commit == OnCommit::truncate &&
        ::ftruncate(fd_.get(), static_cast<off_t>(pos_)) != 0)
      co_return last_error();
    if (setup_.on_commit == OnCommit::rename_temp && !committed_) {
      if (::renameat(setup_.parent.get(), setup_.temp.c_str(), setup_.parent.get(),
                     setup_.target.c_str()) != 0)
        co_return last_error();
    }
    committed_ = true;
    co_return core::Result<void>{};
  }

  std::uint64_t position() const override { return pos_; }
  void advance(std::uint64_t n) override { pos_ += n; }
  int native_handle() const override { return fd_.get(); }

  core::Task<core::Result<std::size_t>> write_from_pipe(int pipe_fd, std::size_t n) override {
    auto op = [this, pipe_fd, n] { return splice_in(pipe_fd, n); };
    co_return co_await blocking(op);
  }

  core::Task<core::Result<std::size_t>> read_at(std::uint64_t offset,
                                                std::span<std::byte> buf) override {
    // Page-cache hits are read here and now; only a read that would wait for
    // the disk goes to the pool.
    if (io_ != nullptr) {
      auto n = pread_some(offset, buf, RWF_NOWAIT);
      if (n || n.error() != std::errc::resource_unavailable_try_again)
        co_return n;
    }
    auto op = [this, offset, buf] { return pread_some(offset, buf, 0); };
    co_return co_await blocking(op);
  }

  core::Task<core::Result<void>> write_at(std::uint64_t offset,
                                          std::span<const std::byte> buf) override {
    auto op = [this, offset, buf] {
      std::uint64_t at = offset; // a copy: position() is not used
      return pwrite_all(at, buf);
    };
    co_return co_await blocking(op);
  }

  core::Task<core::Result<Stat>> stat() override {
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0)
      co_return last_error();
    co_return to_stat(st);
  }

  core::Task<core::Result<void>> sync() override {
    auto op = [this]() -> core::Result<void> {
      if (::fsync(fd_.get()) != 0)
        return last_error();
      return {};
    };
    co_return co_await blocking(op);
  }

  core::Task<core::Result<void>> set_size(std::uint64_t size) override {
    // ftruncate(2) of a read-only descriptor says EINVAL; the client lacks the right.
    if (!setup_.writable)
      co_return core::unexpected(Errc::permission_denied);
    if (size > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max()))
      co_return core::unexpected(Errc::no_space);
    if (::ftruncate(fd_.get(), static_cast<off_t>(size)) != 0)
      co_return last_error();
    co_return core::Result<void>{};
  }

  core::Task<core::Result<void>> set_mode(std::uint32_t mode) override {
    // SECURITY: no setuid, setgid or sticky bits from clients.
    if (::fchmod(fd_.get(), static_cast<mode_t>(mode & 0777)) != 0)
      co_return last_error();
    co_return core::Result<void>{};
  }

  core::Task<core::Result<void>> set_times(std::chrono::system_clock::time_point atime,
                                           std::chrono::system_clock::time_point mtime) override {
    const timespec times[2] = {to_timespec(atime), to_timespec(mtime)};
    if (::futimens(fd_.get(), times) != 0)
      co_return last_error();
    co_return core::Result<void>{};
  }

private:
  // Runs `op` on the I/O pool, or here when the file system never blocks.
  template <class F> core::Task<std::invoke_result_t<F&>> blocking(const F& op) {
    if (io_ == nullptr)
      co_return op();
    co_return co_await io_->run(op);
  }

  // `flags`: preadv2 flags (RWF_NOWAIT: EAGAIN instead of waiting for the disk;
  // file systems without support say EOPNOTSUPP, turned into EAGAIN here).
  core::Result<std::size_t> pread_some(std::uint64_t offset, std::span<std::byte> buf,
                                       int flags) const {
    if (!setup_.readable)
      return core::unexpected(Errc::permission_denied);
    if (offset > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max()))
      return std::size_t{0}; // past any possible end of file
    for (;;) {
      iovec io{buf.data(), buf.size()};
      ssize_t n = ::preadv2(fd_.get(), &io, 1, static_cast<off_t>(offset), flags);
      if (n < 0 && flags != 0 && (errno == EAGAIN || errno == EOPNOTSUPP))
        return core::unexpected(std::make_error_code(std::errc::resource_unavailable_try_again));
      if (n >= 0)
        return static_cast<std::size_t>(n);
      if (errno != EINTR)
        return last_error();
    }
  }

  // Advances `offset` by what was written, also on error. O_APPEND descriptors go
  // through write(2): the kernel puts every byte at the end, whatever the offset.
  // One splice(2) from the pipe to pos_ (for an append open, the end), or,
  // where the file system takes no splice, one read(2) and a write of it.
  core::Result<std::size_t> splice_in(int pipe_fd, std::size_t n) {
    if (!setup_.writable)
      return core::unexpected(Errc::permission_denied);
    for (;;) {
      auto off = static_cast<loff_t>(pos_);
      ssize_t m =
          ::splice(pipe_fd, nullptr, fd_.get(), setup_.append ? nullptr : &off, n, SPLICE_F_MOVE);
      if (m > 0) {
        pos_ += static_cast<std::uint64_t>(m);
        return static_cast<std::size_t>(m);
      }
      if (m < 0 && errno == EINTR)
        continue;
      if (m < 0 && errno == EINVAL)
        break;
      if (m == 0)
        return core::unexpected(Errc::io_error); // the caller's pipe was empty
      return last_error();
    }
    std::array<std::byte, 64 * 1024> buf;
    ssize_t got;
    do
      got = ::read(pipe_fd, buf.data(), std::min(n, buf.size()));
    while (got < 0 && errno == EINTR);
    if (got <= 0)
      return core::unexpected(Errc::io_error);
    auto w = pwrite_all(pos_, std::span(buf).first(static_cast<std::size_t>(got)));
    if (!w)
      return core::unexpected(w.error());
    return static_cast<std::size_t>(got);
  }

  core::Result<void> pwrite_all(std::uint64_t& offset, std::span<const std::byte> buf) {
    if (!setup_.writable)
      return core::unexpected(Errc::permission_denied);
    while (!buf.empty()) {
      if (!setup_.append &&
          offset > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max()) - buf.size())
        return core::unexpected(Errc::no_space);
      ssize_t n = setup_.append
                      ? ::write(fd_.get(), buf.data(), buf.size())
                      : ::pwrite(fd_.get(), buf.data(), buf.size(), static_cast<off_t>(offset));
      if (n < 0) {
        if (errno == EINTR)
          continue;
        return last_error();
      }
      offset += static_cast<std::uint64_t>(n);
      buf = buf.subspan(static_cast<std::size_t>(n));
    }
    return core::Result<void>{};
  }

  core::WorkerPool* io_; ///< Null: do file I/O on the caller's loop.
  UniqueFd fd_;
  std::uint64_t pos_ = 0;
  FileSetup setup_;
  bool committed_ = false;
};

} // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0)
    ::close(fd_);
}

core::Result<std::unique_ptr<LocalFs>> LocalFs::open(const std::filesystem::path& home,
                                                     core::WorkerPool* io,
                                                     core::UploadMode upload_mode) {
  int fd = ::open(home.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return last_error();
  // Memory-backed file systems never wait for a disk: their I/O stays on the
  // loop, sparing two thread hand-overs per read or write.
  struct statfs sfs {};
  if (io != nullptr && ::fstatfs(fd, &sfs) == 0 &&
      (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC))
    io = nullptr;
  return std::unique_ptr<LocalFs>(new LocalFs(UniqueFd(fd), io, upload_mode));
}

core::Result<std::unique_ptr<LocalFs>> LocalFs::open_for_test(const std::filesystem::path& home,
                                                              core::WorkerPool* io) {
  auto fs = open(home, nullptr);
  if (fs)
    (*fs)->io_ = io;
  return fs;
}

core::Result<UniqueFd> LocalFs::resolve(const VirtualPath& path, int flags, unsigned mode) const {
  // SECURITY: the kernel resolves the whole path with the home as "/": "..",
  // absolute symlinks and races can not leave it; /proc magic links are refused.
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
  how.mode = (flags & O_CREAT) != 0 ? mode : 0;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  std::string rel = path.relative();
  for (;;) {
    long fd = ::syscall(SYS_openat2, root_.get(), rel.c_str(), &how, sizeof how);
    if (fd >= 0)
      return UniqueFd(static_cast<int>(fd));
    if (errno != EINTR && errno != EAGAIN)
      return last_error();
  }
}

core::Result<UniqueFd> LocalFs::open_parent(const VirtualPath& path) const {
  return resolve(path.parent(), O_PATH | O_DIRECTORY, 0);
}

core::Task<core::Result<Stat>> LocalFs::stat(const VirtualPath& path) {
  auto fd = resolve(path, O_PATH, 0);
  if (!fd)
    co_return core::unexpected(fd.error());
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0)
    co_return last_error();
  co_return to_stat(st);
}

core::Task<core::Result<std::vector<DirEntry>>> LocalFs::list(const VirtualPath& dir) {
  // A big folder takes a while to read and stat: on the I/O pool, so the
  // other sessions of this event loop are not held up meanwhile.
  auto op = [this, dir] { return list_now(dir); };
  if (io_ == nullptr)
    co_return op();
  co_return co_await io_->run(op);
}

core::Result<std::vector<DirEntry>> LocalFs::list_now(const VirtualPath& dir) const {
  auto fd = resolve(dir, O_RDONLY | O_DIRECTORY, 0);
  if (!fd)
    return core::unexpected(fd.error());
  DIR* d = ::fdopendir(fd->get());
  if (d == nullptr)
    return last_error();
  fd->release();
  std::vector<DirEntry> out;
  while (dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    // Uploads in progress are not files yet, for any protocol.
    if (name == "." || name == ".." || name.starts_with(kUploadPrefix))
      continue;
    struct stat st {};
    if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
      continue; // removed meanwhile
    DirEntry entry{std::string(name), to_stat(st)};
    if (S_ISLNK(st.st_mode)) {
      // Show what the link names inside the jail; escaping or dangling links stay links.
      if (auto target = resolve(dir.child(name), O_PATH, 0)) {
        struct stat tst {};
        if (::fstat(target->get(), &tst) == 0)
          entry.stat = to_stat(tst);
      }
    }
    out.push_back(std::move(entry));
  }
  ::closedir(d);
  return out;
}

core::Task<core::Result<std::unique_ptr<File>>> LocalFs::open_read(const VirtualPath& path,
                                                                   std::uint64_t offset) {
  auto fd = resolve(path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
  if (!fd)
    co_return core::unexpected(fd.error());
  auto st = stat_regular(fd->get());
  if (!st)
    co_return core::unexpected(st.error());
  // Regular files never block on O_NONBLOCK; drop it so sendfile/pread behave plainly.
  ::fcntl(fd->get(), F_SETFL, 0);
  co_return std::unique_ptr<File>(new LocalFile(io_, std::move(*fd), offset, read_only()));
}

core::Task<core::Result<std::unique_ptr<File>>>
LocalFs::open_write(const VirtualPath& path, WriteMode mode, std::uint64_t offset) {
  if (path.is_root())
    co_return core::unexpected(Errc::is_directory);
  auto parent = open_parent(path);
  if (!parent)
    co_return core::unexpected(parent.error());
  std::string name(path.name());
  struct stat st {};
  bool exists = ::fstatat(parent->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (exists && S_ISDIR(st.st_mode))
    co_return core::unexpected(Errc::is_directory);
  const bool direct = upload_mode_ == core::UploadMode::direct;
  if (mode == WriteMode::replace && !direct) {
    auto temp = create_temp(parent->get(), O_WRONLY, 0666);
    if (!temp)
      co_return core::unexpected(temp.error());
    if (exists && S_ISREG(st.st_mode)) {
      ::fchmod(temp->first.get(), st.st_mode & 07777);
      co_await drop_cached(parent->get(), name);
    }
    FileSetup setup = write_only(OnCommit::rename_temp);
    setup.parent = std::move(*parent);
    setup.temp = std::move(temp->second);
    setup.target = std::move(name);
    co_return std::unique_ptr<File>(
        new LocalFile(io_, std::move(temp->first), 0, std::move(setup)));
  }
  int flags =
      O_WRONLY | O_CREAT | O_NOCTTY | O_NONBLOCK | (mode == WriteMode::append ? O_APPEND : 0);
  auto fd = resolve(path, flags, 0666);
  if (!fd)
    co_return core::unexpected(fd.error());
  if (::fstat(fd->get(), &st) != 0)
    co_return last_error();
  if (!S_ISREG(st.st_mode))
    co_return core::unexpected(Errc::permission_denied);
  // A direct replace starts empty, once the target is known to be a file.
  if (mode == WriteMode::replace && ::ftruncate(fd->get(), 0) != 0)
    co_return last_error();
  ::fcntl(fd->get(), F_SETFL, mode == WriteMode::append ? O_APPEND : 0);
  std::uint64_t pos = mode == WriteMode::append ? static_cast<std::uint64_t>(st.st_size) : offset;
  co_return std::unique_ptr<File>(new LocalFile(io_, std::move(*fd), pos,
                                                mode == WriteMode::append
                                                    ? write_only(OnCommit::nothing, true)
                                                    : write_only(OnCommit::truncate)));
}

core::Task<void> LocalFs::drop_cached(int dir, const std::string& name) {
  // The old file stays whole on disk until the rename; only its clean cached
  // pages go, so that the new copy is written into memory freed a moment ago,
  // as an in-place truncation would, rather than into memory the machine may
  // have handed back to a hypervisor meanwhile (free page reporting: a host
  // page fault per page). Readers of the old file read it from disk again.
  auto op = [dir, &name] {
    int fd = ::openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
      return false;
    struct stat st {};
    const bool dropped = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                         ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0;
    ::close(fd);
    return dropped;
  };
  if (io_ == nullptr)
    op();
  else
    co_await io_->run(op);
}

core::Task<core::Result<std::pair<std::unique_ptr<File>, std::string>>>
LocalFs::create_unique(const VirtualPath& dir, std::string_view prefix) {
  auto dfd = resolve(dir, O_PATH | O_DIRECTORY, 0);
  if (!dfd)
    co_return core::unexpected(dfd.error());
  for (int attempt = 0; attempt < 16; ++attempt) {
    std::string name = std::string(prefix) + random_suffix();
    int fd = ::openat(dfd->get(), name.c_str(),
                      O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0 && errno == EEXIST)
      continue;
    if (fd < 0)
      co_return last_error();
    std::unique_ptr<File> f(new LocalFile(io_, UniqueFd(fd), 0, write_only(OnCommit::truncate)));
    co_return std::make_pair(std::move(f), std::move(name));
  }
  co_return core::unexpected(Errc::io_error);
}

namespace {

// Runs one *at() call on the final component of `path`, relative to its
// parent directory (already resolved inside the root); never follows a final symlink.
template <class Op>
core::Result<void> at_name(core::Result<UniqueFd> parent, const VirtualPath& path, Op op) {
  if (!parent)
    return core::unexpected(parent.error());
  if (op(parent->get(), std::string(path.name()).c_str()) != 0)
    return last_error();
  return {};
}

} // namespace

core::Task<core::Result<void>> LocalFs::make_directory(const VirtualPath& path) {
  if (path.is_root())
    co_return core::unexpected(Errc::exists);
  co_return at_name(open_parent(path), path,
                    [](int dir, const char* name) { return ::mkdirat(dir, name, 0777); });
}

core::Task<core::Result<void>> LocalFs::remove_directory(const VirtualPath& path) {
  if (path.is_root())
    co_return core::unexpected(Errc::permission_denied);
  co_return at_name(open_parent(path), path,
                    [](int dir, const char* name) { return ::unlinkat(dir, name, AT_REMOVEDIR); });
}

core::Task<core::Result<void>> LocalFs::remove_file(const VirtualPath& path) {
  if (path.is_root())
    co_return core::unexpected(Errc::is_directory);
  co_return at_name(open_parent(path), path,
                    [](int dir, const char* name) { return ::unlinkat(dir, name, 0); });
}

core::Task<core::Result<void>> LocalFs::rename(const VirtualPath& from, const VirtualPath& to) {
  if (from.is_root() || to.is_root())
    co_return core::unexpected(Errc::permission_denied);
  auto pf = open_parent(from);
  if (!pf)
    co_return core::unexpected(pf.error());
  auto pt = open_parent(to);
  if (!pt)
    co_return core::unexpected(pt.error());
  if (::renameat(pf->get(), std::string(from.name()).c_str(), pt->get(),
                 std::string(to.name()).c_str()) != 0)
    co_return last_error();
  co_return core::Result<void>{};
}

core::Task<core::Result<void>> LocalFs::set_mtime(const VirtualPath& path,
                                                  std::chrono::system_clock::time_point mtime) {
  auto fd = resolve(path, O_PATH, 0);
  if (!fd)
    co_return core::unexpected(fd.error());
  const timespec times[2] = {timespec{0, UTIME_OMIT}, to_timespec(mtime)};
  if (::utimensat(AT_FDCWD, fd_path(fd->get()).c_str(), times, 0) != 0)
    co_return last_error();
  co_return core::Result<void>{};
}

core::Task<core::Result<void>> LocalFs::set_mode(const VirtualPath& path, std::uint32_t mode) {
  auto fd = resolve(path, O_PATH, 0);
  if (!fd)
    co_return core::unexpected(fd.error());
  // SECURITY: no setuid, setgid or sticky bits from clients.
  if (::chmod(fd_path(fd->get()).c_str(), static_cast<mode_t>(mode & 0777)) != 0)
    co_return last_error();
  co_return core::Result<void>{};
}

core::Result<VirtualPath> LocalFs::location_of(int dir) const {
  auto root = host_path_of(root_.get());
  if (!root)
    return core::unexpected(root.error());
  auto here = host_path_of(dir);
  if (!here)
    return core::unexpected(here.error());
  std::string_view rel = *here;
  if (*root != "/") {
    if (!rel.starts_with(*root))
      return core::unexpected(Errc::not_found);
    rel.remove_prefix(root->size());
    if (!rel.empty() && rel.front() != '/')
      return core::unexpected(Errc::not_found); // a sibling: "/home/ab" under "/home/a"
  }
  if (rel.empty())
    return VirtualPath();
  return VirtualPath::resolve(VirtualPath(), rel);
}

core::Task<core::Result<Stat>> LocalFs::lstat(const VirtualPath& path) {
  struct stat st {};
  if (path.is_root()) {
    if (::fstat(root_.get(), &st) != 0)
      co_return last_error();
    co_return to_stat(st);
  }
  auto parent = open_parent(path);
  if (!parent)
    co_return core::unexpected(parent.error());
  if (::fstatat(parent->get(), std::string(path.name()).c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    co_return last_error();
  co_return to_stat(st);
}

core::Task<core::Result<std::unique_ptr<File>>> LocalFs::open(const VirtualPath& path,
                                                              const OpenFlags& flags) {
  if (path.is_root())
    co_return core::unexpected(Errc::is_directory);
  FileSetup setup;
  // Neither read nor write asked: a handle that can only be stat'ed and closed.
  setup.readable = flags.read;
  setup.writable = flags.write;
  setup.append = flags.write && flags.append;
  const int access = (flags.read && flags.write) ? O_RDWR : flags.write ? O_WRONLY : O_RDONLY;
  const int append = setup.append ? O_APPEND : 0;
  // SECURITY: no setuid, setgid or sticky bits from clients.
  const unsigned mode = flags.mode & 0777;
  const bool exclusive = flags.create && flags.exclusive;

  if (flags.create && flags.truncate && flags.write && !exclusive &&
      upload_mode_ == core::UploadMode::atomic) {
    auto parent = open_parent(path);
    if (!parent)
      co_return core::unexpected(parent.error());
    std::string name(path.name());
    struct stat st {};
    bool exists = ::fstatat(parent->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (exists && S_ISDIR(st.st_mode))
      co_return core::unexpected(Errc::is_directory);
    if (exists && S_ISLNK(st.st_mode)) {
      // As open(2) would say: a link to a directory names a directory. Any other
      // link is replaced itself on commit, as open_write(WriteMode::replace) does.
      auto followed = resolve(path, O_PATH, 0);
      struct stat fst {};
      if (followed && ::fstat(followed->get(), &fst) == 0 && S_ISDIR(fst.st_mode))
        co_return core::unexpected(Errc::is_directory);
    }
    // As open_write(WriteMode::replace); the session commits on close.
    auto temp = create_temp(parent->get(), access | append, mode);
    if (!temp)
      co_return core::unexpected(temp.error());
    if (exists && S_ISREG(st.st_mode))
      ::fchmod(temp->first.get(), st.st_mode & 0777);
    setup.on_commit = OnCommit::rename_temp;
    setup.parent = std::move(*parent);
    setup.temp = std::move(temp->second);
    setup.target = std::move(name);
    co_return std::unique_ptr<File>(
        new LocalFile(io_, std::move(temp->first), 0, std::move(setup)));
  }

  if (exclusive) {
    auto parent = open_parent(path);
    if (!parent)
      co_return core::unexpected(parent.error());
    // SECURITY: O_EXCL | O_NOFOLLOW on the final name: a symlink there, even a
    // dangling one, counts as existing and its target is never created.
    int fd = ::openat(parent->get(), std::string(path.name()).c_str(),
                      access | append | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, mode);
    if (fd < 0)
      co_return last_error();
    co_return std::unique_ptr<File>(new LocalFile(io_, UniqueFd(fd), 0, std::move(setup)));
  }

  // In place. O_NONBLOCK: a FIFO must not hang the open; dropped below.
  auto fd =
      resolve(path, access | append | O_NONBLOCK | O_NOCTTY | (flags.create ? O_CREAT : 0), mode);
  if (!fd)
    co_return core::unexpected(fd.error());
  auto st = stat_regular(fd->get());
  if (!st)
    co_return core::unexpected(st.error());
  ::fcntl(fd->get(), F_SETFL, append);
  // Truncation only through a handle that may write (O_RDONLY | O_TRUNC would
  // still truncate on Linux), and only once the target is known to be a file.
  if (flags.truncate && flags.write && ::ftruncate(fd->get(), 0) != 0)
    co_return last_error();
  co_return std::unique_ptr<File>(new LocalFile(io_, std::move(*fd), 0, std::move(setup)));
}

core::Task<core::Result<std::string>> LocalFs::read_link(const VirtualPath& path) {
  if (path.is_root())
    co_return core::unexpected(Errc::invalid_name); // readlink(2): EINVAL, not a link
  auto parent = open_parent(path);
  if (!parent)
    co_return core::unexpected(parent.error());
  std::string name(path.name());
  for (std::size_t size = 256; size <= 65536; size *= 2) {
    std::string buf(size, '\0');
    ssize_t n = ::readlinkat(parent->get(), name.c_str(), buf.data(), buf.size());
    if (n < 0)
      co_return last_error();
    if (static_cast<std::size_t>(n) < size) {
      buf.resize(static_cast<std::size_t>(n));
      co_return buf;
    }
  }
  co_return core::unexpected(Errc::invalid_name);
}

core::Task<core::Result<void>> LocalFs::make_symlink(const VirtualPath& target,
                                                     const VirtualPath& link) {
  if (link.is_root())
    co_return core::unexpected(Errc::exists);
  auto parent = open_parent(link);
  if (!parent)
    co_return core::unexpected(parent.error());
  // SECURITY: the link is stored relative to the directory that really holds it
  // (the kernel's location, not link.parent(), which may pass through symlinks),
  // so it names the same file inside the jail and on the host. An absolute
  // target would name a host path to every process but us.
  auto where = location_of(parent->get());
  if (!where)
    co_return core::unexpected(where.error());
  const std::string text = relative_path(*where, target);
  if (::symlinkat(text.c_str(), parent->get(), std::string(link.name()).c_str()) != 0)
    co_return last_error();
  co_return core::Result<void>{};
}

core::Task<core::Result<void>> LocalFs::make_hard_link(const VirtualPath& target,
                                                       const VirtualPath& link) {
  if (link.is_root())
    co_return core::unexpected(Errc::exists);
  if (target.is_root())
    co_return core::unexpected(Errc::permission_denied); // a directory
  auto from = open_parent(target);
  if (!from)
    co_return core::unexpected(from.error());
  auto to = open_parent(link);
  if (!to)
    co_return core::unexpected(to.error());
  // SECURITY: no AT_SYMLINK_FOLLOW: a final symlink is linked itself, so a link
  // pointing outside the root never becomes a name for the file it points to.
  if (::linkat(from->get(), std::string(target.name()).c_str(), to->get(),
               std::string(link.name()).c_str(), 0) != 0)
    co_return last_error();
  co_return core::Result<void>{};
}

core::Task<core::Result<void>> LocalFs::set_size(const VirtualPath& path, std::uint64_t size) {
  if (size > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max()))
    co_return core::unexpected(Errc::no_space);
  auto fd = resolve(path, O_WRONLY | O_NONBLOCK | O_NOCTTY, 0);
  if (!fd)
    co_return core::unexpected(fd.error());
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0)
    co_return last_error();
  if (!S_ISREG(st.st_mode))
    co_return core::unexpected(Errc::permission_denied);
  if (::ftruncate(fd->get(), static_cast<off_t>(size)) != 0)
    co_return last_error();
  co_return core::Result<void>{};
}

core::Task<core::Result<void>> LocalFs::set_times(const VirtualPath& path,
                                                  std::chrono::system_clock::time_point atime,
                                                  std::chrono::system_clock::time_point mtime) {
  auto fd = resolve(path, O_PATH, 0);
  if (!fd)
    co_return core::unexpected(fd.error());
  const timespec times[2] = {to_timespec(atime), to_timespec(mtime)};
  if (::utimensat(AT_FDCWD, fd_path(fd->get()).c_str(), times, 0) != 0)
    co_return last_error();
  co_return core::Result<void>{};
}

core::Task<core::Result<FsStats>> LocalFs::fs_stats(const VirtualPath& path) {
  // fstatvfs(3) is fstatfs(2), which accepts O_PATH descriptors (Linux 3.12+).
  auto fd = resolve(path, O_PATH, 0);
  if (!fd)
    co_return core::unexpected(fd.error());
  struct statvfs sv {};
  if (::fstatvfs(fd->get(), &sv) != 0)
    co_return last_error();
  FsStats out;
  out.block_size = sv.f_bsize;
  out.fragment_size = sv.f_frsize;
  out.blocks = sv.f_blocks;
  out.blocks_free = sv.f_bfree;
  out.blocks_available = sv.f_bavail;
  out.files = sv.f_files;
  out.files_free = sv.f_ffree;
  out.files_available = sv.f_favail;
  out.fsid = sv.f_fsid;
  out.flags = ((sv.f_flag & ST_RDONLY) != 0 ? 1u : 0u) | ((sv.f_flag & ST_NOSUID) != 0 ? 2u : 0u);
  out.name_max = sv.f_namemax;
  co_return out;
}

} // namespace berth::vfs
