#include "vfs/local/local_fs.hpp"

#include "vfs/local/staged_upload.hpp"

#include "core/log.hpp"
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
#include <optional>
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
  s.atime = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(st.st_atim.tv_sec) + std::chrono::nanoseconds(st.st_atim.tv_nsec)));
  s.mode = st.st_mode & 07777;
  s.nlink = static_cast<std::uint32_t>(st.st_nlink);
  s.device = st.st_dev;
  s.inode = st.st_ino;
  s.uid = st.st_uid;
  s.gid = st.st_gid;
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

// The text of symlink `name` in directory `dir`, as stored.
core::Result<std::string> link_text(int dir, const char* name) {
  for (std::size_t size = 256; size <= 65536; size *= 2) {
    std::string buf(size, '\0');
    ssize_t n = ::readlinkat(dir, name, buf.data(), buf.size());
    if (n < 0)
      return last_error();
    if (static_cast<std::size_t>(n) < size) {
      buf.resize(static_cast<std::size_t>(n));
      return buf;
    }
  }
  return core::unexpected(Errc::invalid_name);
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
  std::unique_ptr<StagedUpload> staged; ///< rename_temp: what commit() publishes.
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

class LocalFile final : public File, public net::ZeroCopyFile {
public:
  LocalFile(core::WorkerPool* io, UniqueFd fd, std::uint64_t pos, FileSetup setup)
      : io_(io), fd_(std::move(fd)), pos_(pos), setup_(std::move(setup)) {}
  // An unpublished staged upload is discarded with its StagedUpload.
  ~LocalFile() override = default;

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
    if (setup_.on_commit == OnCommit::rename_temp) {
      auto r = setup_.staged->publish();
      if (!r)
        co_return r;
    }
    co_return core::Result<void>{};
  }

  std::optional<Stat> replaced() const override {
    if (setup_.on_commit == OnCommit::rename_temp && setup_.staged->replaced())
      return to_stat(*setup_.staged->replaced());
    return std::nullopt;
  }

  net::ZeroCopyFile* zero_copy() override { return this; }

  // net::ZeroCopyFile
  int descriptor() const override { return fd_.get(); }
  std::uint64_t position() const override { return pos_; }
  void advance(std::uint64_t n) override { pos_ += n; }
  core::Task<core::Result<std::size_t>> write_from_pipe(int pipe_fd, std::size_t n) override {
    auto op = [this, pipe_fd, n] { return splice_in(pipe_fd, n); };
    co_return co_await blocking(op);
  }

  core::Task<core::Result<std::size_t>> read_at(std::uint64_t offset,
                                                std::span<std::byte> buf) override {
    // Page-cache hits are read here and now; only what would wait for the
    // disk goes to the pool. RWF_NOWAIT stops at the first page that is not
    // cached: the rest of the range is read on the pool, as File::read_at
    // promises the whole range short of the end of the file (issue 17: a short
    // SFTP READ mid-file made FileZilla, scp, curl and sshfs save holes or stop).
    std::size_t done = 0;
    if (io_ != nullptr) {
      auto n = pread_some(offset, buf, RWF_NOWAIT);
      if (!n && n.error() != std::errc::resource_unavailable_try_again)
        co_return n;
      if (n && (*n == 0 || *n == buf.size()))
        co_return n;
      done = n ? *n : 0;
    }
    const std::span<std::byte> rest = buf.subspan(done);
    auto op = [this, offset, done, rest] { return pread_full(offset + done, rest); };
    auto m = co_await blocking(op);
    if (!m)
      co_return m;
    co_return done + *m;
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

  // Reads until `buf` is full or the end of the file: pread(2) may stop short
  // of both (a signal, a file system's own limit).
  core::Result<std::size_t> pread_full(std::uint64_t offset, std::span<std::byte> buf) const {
    std::size_t done = 0;
    while (done < buf.size()) {
      auto n = pread_some(offset + done, buf.subspan(done), 0);
      if (!n)
        return n;
      if (*n == 0)
        break;
      done += *n;
    }
    return done;
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

LocalFs::LocalFs(UniqueFd root, core::WorkerPool* io, core::UploadMode upload_mode)
    : root_(std::move(root)), io_(io), upload_mode_(upload_mode),
      staged_(std::make_shared<StagedUploads>()) {}

core::Result<UniqueFd> LocalFs::resolve(const VirtualPath& path, int flags, unsigned mode) const {
  if (!staged_->empty()) {
    auto staged = staged_->with(path, [flags, mode](int dir, const char* name) {
      return ::openat(dir, name, (flags & ~(O_CREAT | O_EXCL)) | O_NOFOLLOW | O_CLOEXEC, mode);
    });
    if (staged && *staged < 0)
      return last_error();
    if (staged)
      return UniqueFd(*staged);
  }
  // SECURITY: the kernel resolves the whole path with the home as "/": "..",
  // absolute symlinks and races can not leave it; /proc magic links are refused.
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
  how.mode = (flags & O_CREAT) != 0 ? mode : 0;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  std::string rel = path.relative();
  // EAGAIN: a rename elsewhere in the tree raced a ".." of the path; retried
  // a bounded number of times, so that a client renaming in a loop can not
  // hold this thread.
  constexpr int kMaxRetries = 64;
  for (int retries = 0;;) {
    long fd = ::syscall(SYS_openat2, root_.get(), rel.c_str(), &how, sizeof how);
    if (fd >= 0)
      return UniqueFd(static_cast<int>(fd));
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN)
      return last_error();
    if (++retries > kMaxRetries) {
      spdlog::warn("vfs: {} could not be resolved: the tree kept changing ({} retries)",
                   core::printable(path.str()), kMaxRetries);
      return core::unexpected(Errc::io_error);
    }
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
    // SECURITY: the link itself, never its target (DirEntry): a listing that
    // showed a link to a directory as a directory made sshfs `rm -rf` delete
    // through it, outside the tree it was asked to remove (issue 17).
    DirEntry entry{std::string(name), to_stat(st), {}};
    if (S_ISLNK(st.st_mode)) {
      if (auto text = link_text(::dirfd(d), e->d_name))
        entry.link_target = std::move(*text);
    }
    out.push_back(std::move(entry));
  }
  ::closedir(d);
  return out;
}

core::Result<std::pair<UniqueFd, struct stat>>
LocalFs::open_regular(const VirtualPath& path, int flags, unsigned mode) const {
  // SECURITY: the type first, on a descriptor that opens nothing for I/O: a
  // FIFO, device or socket is never opened (a device's open has effects).
  auto probe = resolve(path, O_PATH, 0);
  if (!probe && probe.error() == Errc::not_found && (flags & O_CREAT) != 0) {
    // Nothing there: create it. O_NONBLOCK: should a FIFO appear there
    // meanwhile, the open does not hang; it is refused below.
    auto fd = resolve(path, flags | O_NONBLOCK | O_NOCTTY, mode);
    if (!fd)
      return core::unexpected(fd.error());
    auto st = stat_regular(fd->get());
    if (!st)
      return core::unexpected(st.error());
    ::fcntl(fd->get(), F_SETFL, flags & O_APPEND);
    return std::make_pair(std::move(*fd), *st);
  }
  if (!probe)
    return core::unexpected(probe.error());
  auto st = stat_regular(probe->get());
  if (!st)
    return core::unexpected(st.error());
  // The descriptor's own inode, reopened for I/O: no second lookup by name.
  int fd = ::open(fd_path(probe->get()).c_str(),
                  (flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_NOCTTY | O_CLOEXEC);
  if (fd < 0)
    return last_error();
  return std::make_pair(UniqueFd(fd), *st);
}

core::Result<std::unique_ptr<File>> LocalFs::open_upload(const VirtualPath& path, int access,
                                                         unsigned mode, NewFile new_file,
                                                         bool must_be_new) {
  auto parent = open_parent(path);
  if (!parent)
    return core::unexpected(parent.error());
  std::string name(path.name());
  FileSetup setup = write_only(OnCommit::nothing, (access & O_APPEND) != 0);
  setup.readable = (access & O_ACCMODE) == O_RDWR;
  struct stat st {};
  bool exists = ::fstatat(parent->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (!exists && new_file == NewFile::at_name) {
    // Clients that look at the file they write (sshfs stats it right after the
    // open) find it at its name. Interrupted, it stays partial, as in the
    // direct mode: nothing complete is lost.
    // SECURITY: O_EXCL | O_NOFOLLOW: never through a symlink, never over a
    // file that appeared meanwhile (which is staged instead, or refused).
    int fd = ::openat(parent->get(), name.c_str(),
                      access | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, mode);
    if (fd >= 0)
      return std::unique_ptr<File>(new LocalFile(io_, UniqueFd(fd), 0, std::move(setup)));
    if (errno != EEXIST || must_be_new)
      return last_error();
    exists = ::fstatat(parent->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (!exists)
      return last_error();
  }
  if (exists && must_be_new)
    return core::unexpected(Errc::exists);
  if (exists && S_ISDIR(st.st_mode))
    return core::unexpected(Errc::is_directory);
  if (exists && S_ISLNK(st.st_mode)) {
    // As open(2) would say: a link to a directory names a directory. Any other
    // link is replaced itself on commit.
    auto followed = resolve(path, O_PATH, 0);
    struct stat fst {};
    if (followed && ::fstat(followed->get(), &fst) == 0 && S_ISDIR(fst.st_mode))
      return core::unexpected(Errc::is_directory);
  }
  auto temp = create_temp(parent->get(), access, mode);
  if (!temp)
    return core::unexpected(temp.error());
  // SECURITY: the replaced file's permission bits, never its setuid, setgid
  // or sticky bits: an upload must not make a set-id program of the user's bytes.
  if (exists && S_ISREG(st.st_mode))
    ::fchmod(temp->first.get(), st.st_mode & 0777);
  setup.on_commit = OnCommit::rename_temp;
  // must_be_new: published with RENAME_NOREPLACE, never over what appeared meanwhile.
  setup.staged =
      std::make_unique<StagedUpload>(staged_, path.str(), std::move(*parent),
                                     std::move(temp->second), std::move(name), must_be_new);
  return std::unique_ptr<File>(new LocalFile(io_, std::move(temp->first), 0, std::move(setup)));
}

core::Task<core::Result<std::unique_ptr<File>>> LocalFs::open_read(const VirtualPath& path,
                                                                   std::uint64_t offset) {
  auto fd = open_regular(path, O_RDONLY, 0);
  if (!fd)
    co_return core::unexpected(fd.error());
  co_return std::unique_ptr<File>(new LocalFile(io_, std::move(fd->first), offset, read_only()));
}

namespace {

// SECURITY: a file written in place loses its setuid and setgid bits (the
// kernel keeps them when the writer has CAP_FSETID, as a root-run server has),
// so that no upload leaves a set-id program of the user's bytes.
void drop_set_id(int fd, const struct stat& st) {
  if ((st.st_mode & (S_ISUID | S_ISGID)) != 0)
    ::fchmod(fd, st.st_mode & 0777);
}

} // namespace

core::Task<core::Result<std::unique_ptr<File>>>
LocalFs::open_write(const VirtualPath& path, WriteMode mode, std::uint64_t offset) {
  if (path.is_root())
    co_return core::unexpected(Errc::is_directory);
  const bool direct = upload_mode_ == core::UploadMode::direct;
  // FTP streams a file and can not look at it meanwhile: a new one is staged
  // too, so that nothing of an interrupted STOR is left (see open()).
  const bool create = mode == WriteMode::create;
  if (!direct && (create || mode == WriteMode::replace)) {
    if (!create)
      co_await drop_cached(path);
    co_return open_upload(path, O_WRONLY, 0666, NewFile::staged, create);
  }
  if (create)
    co_return open_upload(path, O_WRONLY, 0666, NewFile::at_name, true);
  const int append = mode == WriteMode::append ? O_APPEND : 0;
  auto fd = open_regular(path, O_WRONLY | O_CREAT | append, 0666);
  if (!fd)
    co_return core::unexpected(fd.error());
  drop_set_id(fd->first.get(), fd->second);
  // A direct replace starts empty, once the target is known to be a file.
  if (mode == WriteMode::replace && ::ftruncate(fd->first.get(), 0) != 0)
    co_return last_error();
  std::uint64_t pos =
      mode == WriteMode::append ? static_cast<std::uint64_t>(fd->second.st_size) : offset;
  co_return std::unique_ptr<File>(new LocalFile(io_, std::move(fd->first), pos,
                                                mode == WriteMode::append
                                                    ? write_only(OnCommit::nothing, true)
                                                    : write_only(OnCommit::truncate)));
}

core::Task<void> LocalFs::drop_cached(const VirtualPath& path) {
  // The old file stays whole on disk until the rename; only its clean cached
  // pages go, so that the new copy is written into memory freed a moment ago,
  // as an in-place truncation would, rather than into memory the machine may
  // have handed back to a hypervisor meanwhile (free page reporting: a host
  // page fault per page). Readers of the old file read it from disk again.
  auto op = [this, &path] {
    auto parent = open_parent(path);
    if (!parent)
      return false;
    int fd = ::openat(parent->get(), std::string(path.name()).c_str(),
                      O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
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

core::Task<core::Result<void>> LocalFs::make_directory(const VirtualPath& path,
                                                       std::uint32_t mode) {
  if (path.is_root())
    co_return core::unexpected(Errc::exists);
  // The kernel takes the umask off, as it does for files: a client's 0777
  // never makes a world-writable directory under a 022 umask.
  const auto bits = static_cast<mode_t>(mode & 0777);
  co_return at_name(open_parent(path), path,
                    [bits](int dir, const char* name) { return ::mkdirat(dir, name, bits); });
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
  // The session removes the file it sees at the name: one it is writing there
  // (staged) is published first, so that the name goes as it asked.
  if (auto r = staged_->publish(path); !r)
    co_return r;
  co_return at_name(open_parent(path), path,
                    [](int dir, const char* name) { return ::unlinkat(dir, name, 0); });
}

core::Result<void> LocalFs::rename_now(const VirtualPath& from, const VirtualPath& to,
                                       RenameMode mode) const {
  if (from.is_root() || to.is_root())
    return core::unexpected(Errc::permission_denied);
  // The session renames the files it sees at the names: staged ones are
  // published first.
  if (auto r = staged_->publish(from); !r)
    return r;
  if (auto r = staged_->publish(to); !r)
    return r;
  auto pf = open_parent(from);
  if (!pf)
    return core::unexpected(pf.error());
  auto pt = open_parent(to);
  if (!pt)
    return core::unexpected(pt.error());
  const std::string from_name(from.name());
  const std::string to_name(to.name());
  const bool no_replace = mode == RenameMode::no_replace;
  struct stat st {};
  const bool is_link =
      ::fstatat(pf->get(), from_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
  std::string text;
  if (is_link) {
    if (auto t = link_text(pf->get(), from_name.c_str()))
      text = std::move(*t);
  }
  const bool relative = !text.empty() && text.front() != '/';
  auto from_dir = relative ? location_of(pf->get()) : core::unexpected(Errc::not_found);
  auto to_dir = relative ? location_of(pt->get()) : core::unexpected(Errc::not_found);
  // SECURITY: a link's relative text means something else in another
  // directory: moved as it is, a link made to name /etc/shadow inside the
  // jail would name the host's /etc/shadow to every process but us. It is
  // recreated with a text naming the same file from its new directory (under
  // a temporary name there, renamed onto the target), then the old one goes.
  // Absolute texts (not made by clients) mean the same anywhere.
  if (from_dir && to_dir && *from_dir != *to_dir) {
    if (auto target = VirtualPath::resolve(*from_dir, text)) {
      const std::string moved = relative_path(*to_dir, *target);
      std::string temp;
      int made = -1;
      for (int attempt = 0; attempt < 8 && made != 0; ++attempt) {
        temp = std::string(kUploadPrefix) + random_suffix();
        made = ::symlinkat(moved.c_str(), pt->get(), temp.c_str());
        if (made != 0 && errno != EEXIST)
          return last_error();
      }
      if (made != 0)
        return core::unexpected(Errc::io_error);
      if (rename_entry(pt->get(), temp.c_str(), pt->get(), to_name.c_str(), no_replace) != 0) {
        auto err = last_error();
        ::unlinkat(pt->get(), temp.c_str(), 0);
        return err;
      }
      // The old name goes only if it is still the link that was moved.
      struct stat now {};
      if (::fstatat(pf->get(), from_name.c_str(), &now, AT_SYMLINK_NOFOLLOW) == 0 &&
          now.st_ino == st.st_ino && now.st_dev == st.st_dev)
        ::unlinkat(pf->get(), from_name.c_str(), 0);
      return {};
    }
  }
  if (rename_entry(pf->get(), from_name.c_str(), pt->get(), to_name.c_str(), no_replace) != 0)
    return last_error();
  return {};
}

core::Task<core::Result<void>> LocalFs::rename(const VirtualPath& from, const VirtualPath& to,
                                               RenameMode mode) {
  co_return rename_now(from, to, mode);
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
  // A file this session is writing under a staged name is seen at its name.
  if (auto staged = staged_->with(path, [&st](int dir, const char* name) {
        return ::fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW);
      })) {
    if (*staged != 0)
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

  // An upload of new content (create + truncate + write), unless this session
  // already stages one at the name: then it truncates that staged file in place.
  if (flags.create && flags.truncate && flags.write && !exclusive &&
      upload_mode_ == core::UploadMode::atomic &&
      !staged_->with(path, [](int, const char*) { return 0; })) {
    // SFTP clients look at the file they write (sshfs stats it right after
    // the open; paramiko stat()s while writing): a new one is at its name at once.
    co_await drop_cached(path);
    auto f = open_upload(path, access | append, mode, NewFile::at_name, false);
    co_return std::move(f);
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

  // In place.
  auto fd = open_regular(path, access | append | (flags.create ? O_CREAT : 0), mode);
  if (!fd)
    co_return core::unexpected(fd.error());
  if (flags.write)
    drop_set_id(fd->first.get(), fd->second);
  // Truncation only through a handle that may write (O_RDONLY | O_TRUNC would
  // still truncate on Linux), and only once the target is known to be a file.
  if (flags.truncate && flags.write && ::ftruncate(fd->first.get(), 0) != 0)
    co_return last_error();
  co_return std::unique_ptr<File>(new LocalFile(io_, std::move(fd->first), 0, std::move(setup)));
}

core::Task<core::Result<std::string>> LocalFs::read_link(const VirtualPath& path) {
  if (path.is_root())
    co_return core::unexpected(Errc::invalid_name); // readlink(2): EINVAL, not a link
  auto parent = open_parent(path);
  if (!parent)
    co_return core::unexpected(parent.error());
  co_return link_text(parent->get(), std::string(path.name()).c_str());
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
  // SECURITY: no AT_SYMLINK_FOLLOW, and no symlink linked itself either: a
  // hard link to a link would keep its relative text in another directory,
  // where it names another file (see rename()); only regular files are linked.
  struct stat st {};
  if (::fstatat(from->get(), std::string(target.name()).c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    co_return last_error();
  if (S_ISLNK(st.st_mode))
    co_return core::unexpected(Errc::permission_denied);
  if (::linkat(from->get(), std::string(target.name()).c_str(), to->get(),
               std::string(link.name()).c_str(), 0) != 0)
    co_return last_error();
  co_return core::Result<void>{};
}

core::Task<core::Result<void>> LocalFs::set_size(const VirtualPath& path, std::uint64_t size) {
  if (size > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max()))
    co_return core::unexpected(Errc::no_space);
  auto fd = open_regular(path, O_WRONLY, 0);
  if (!fd)
    co_return core::unexpected(fd.error());
  drop_set_id(fd->first.get(), fd->second);
  if (::ftruncate(fd->first.get(), static_cast<off_t>(size)) != 0)
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
