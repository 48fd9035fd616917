#include "vfs/local/local_fs.hpp"

#include "vfs/errc.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <random>

namespace berth::vfs {
namespace {

core::Unexpected last_error() { return core::unexpected(from_errno(errno)); }

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
std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

class LocalFile final : public File {
public:
  LocalFile(UniqueFd fd, std::uint64_t pos) : fd_(std::move(fd)), pos_(pos) {}
  LocalFile(UniqueFd fd, std::uint64_t pos, WriteMode mode, UniqueFd parent, std::string temp,
            std::string target)
      : fd_(std::move(fd)), pos_(pos), mode_(mode), parent_(std::move(parent)),
        temp_(std::move(temp)), target_(std::move(target)) {}
  ~LocalFile() override {
    if (mode_ == WriteMode::replace && !committed_ && parent_.get() >= 0)
      ::unlinkat(parent_.get(), temp_.c_str(), 0);
  }

  core::Task<core::Result<std::size_t>> read(std::span<std::byte> buf) override {
    for (;;) {
      ssize_t n = ::pread(fd_.get(), buf.data(), buf.size(), static_cast<off_t>(pos_));
      if (n >= 0) {
        pos_ += static_cast<std::uint64_t>(n);
        co_return static_cast<std::size_t>(n);
      }
      if (errno != EINTR)
        co_return last_error();
    }
  }

  core::Task<core::Result<void>> write(std::span<const std::byte> buf) override {
    while (!buf.empty()) {
      ssize_t n = mode_ == WriteMode::append
                      ? ::write(fd_.get(), buf.data(), buf.size())
                      : ::pwrite(fd_.get(), buf.data(), buf.size(), static_cast<off_t>(pos_));
      if (n < 0) {
        if (errno == EINTR)
          continue;
        co_return last_error();
      }
      pos_ += static_cast<std::uint64_t>(n);
      buf = buf.subspan(static_cast<std::size_t>(n));
    }
    co_return core::Result<void>{};
  }

  core::Task<core::Result<void>> commit() override {
    if (mode_ == WriteMode::resume && ::ftruncate(fd_.get(), static_cast<off_t>(pos_)) != 0)
      co_return last_error();
    if (mode_ == WriteMode::replace && !committed_) {
      if (::renameat(parent_.get(), temp_.c_str(), parent_.get(), target_.c_str()) != 0)
        co_return last_error();
    }
    committed_ = true;
    co_return core::Result<void>{};
  }

  std::uint64_t position() const override { return pos_; }
  void advance(std::uint64_t n) override { pos_ += n; }
  int native_handle() const override { return fd_.get(); }

private:
  UniqueFd fd_;
  std::uint64_t pos_ = 0;
  WriteMode mode_ = WriteMode::resume; // read-only files never commit anything
  UniqueFd parent_;
  std::string temp_;
  std::string target_;
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

core::Result<std::unique_ptr<LocalFs>> LocalFs::open(const std::filesystem::path& home) {
  int fd = ::open(home.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return last_error();
  return std::unique_ptr<LocalFs>(new LocalFs(UniqueFd(fd)));
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
  auto fd = resolve(dir, O_RDONLY | O_DIRECTORY, 0);
  if (!fd)
    co_return core::unexpected(fd.error());
  DIR* d = ::fdopendir(fd->get());
  if (d == nullptr)
    co_return last_error();
  fd->release();
  std::vector<DirEntry> out;
  while (dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (name == "." || name == "..")
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
  co_return out;
}

core::Task<core::Result<std::unique_ptr<File>>> LocalFs::open_read(const VirtualPath& path,
                                                                   std::uint64_t offset) {
  auto fd = resolve(path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
  if (!fd)
    co_return core::unexpected(fd.error());
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0)
    co_return last_error();
  if (S_ISDIR(st.st_mode))
    co_return core::unexpected(Errc::is_directory);
  if (!S_ISREG(st.st_mode))
    co_return core::unexpected(Errc::permission_denied);
  // Regular files never block on O_NONBLOCK; drop it so sendfile/pread behave plainly.
  ::fcntl(fd->get(), F_SETFL, 0);
  co_return std::unique_ptr<File>(new LocalFile(std::move(*fd), offset));
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
  if (mode == WriteMode::replace) {
    // SECURITY: the new content goes to a fresh temporary name in the same
    // directory (O_EXCL, never a symlink) and replaces the target only on commit,
    // so an interrupted upload never damages a complete file.
    for (int attempt = 0; attempt < 8; ++attempt) {
      std::string temp = ".berth-upload-" + random_suffix();
      int fd = ::openat(parent->get(), temp.c_str(),
                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
      if (fd < 0 && errno == EEXIST)
        continue;
      if (fd < 0)
        co_return last_error();
      if (exists && S_ISREG(st.st_mode))
        ::fchmod(fd, st.st_mode & 07777);
      co_return std::unique_ptr<File>(new LocalFile(UniqueFd(fd), 0, mode, std::move(*parent),
                                                    std::move(temp), std::move(name)));
    }
    co_return core::unexpected(Errc::io_error);
  }
  int flags = O_WRONLY | O_CREAT | O_NOCTTY | O_NONBLOCK | (mode == WriteMode::append ? O_APPEND : 0);
  auto fd = resolve(path, flags, 0666);
  if (!fd)
    co_return core::unexpected(fd.error());
  if (::fstat(fd->get(), &st) != 0)
    co_return last_error();
  if (!S_ISREG(st.st_mode))
    co_return core::unexpected(Errc::permission_denied);
  ::fcntl(fd->get(), F_SETFL, mode == WriteMode::append ? O_APPEND : 0);
  std::uint64_t pos = mode == WriteMode::append ? static_cast<std::uint64_t>(st.st_size) : offset;
  co_return std::unique_ptr<File>(new LocalFile(std::move(*fd), pos, mode, UniqueFd(), {}, {}));
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
    std::unique_ptr<File> f(
        new LocalFile(UniqueFd(fd), 0, WriteMode::resume, UniqueFd(), {}, {}));
    co_return std::make_pair(std::move(f), std::move(name));
  }
  co_return core::unexpected(Errc::io_error);
}

core::Task<core::Result<void>> LocalFs::make_directory(const VirtualPath& path) {
  if (path.is_root())
    co_return core::unexpected(Errc::exists);
  auto parent = open_parent(path);
  if (!parent)
    co_return core::unexpected(parent.error());
  if (::mkdirat(parent->get(), std::string(path.name()).c_str(), 0777) != 0)
    co_return last_error();
  co_return core::Result<void>{};
}

core::Task<core::Result<void>> LocalFs::remove_directory(const VirtualPath& path) {
  if (path.is_root())
    co_return core::unexpected(Errc::permission_denied);
  auto parent = open_parent(path);
  if (!parent)
    co_return core::unexpected(parent.error());
  if (::unlinkat(parent->get(), std::string(path.name()).c_str(), AT_REMOVEDIR) != 0)
    co_return last_error();
  co_return core::Result<void>{};
}

core::Task<core::Result<void>> LocalFs::remove_file(const VirtualPath& path) {
  if (path.is_root())
    co_return core::unexpected(Errc::is_directory);
  auto parent = open_parent(path);
  if (!parent)
    co_return core::unexpected(parent.error());
  if (::unlinkat(parent->get(), std::string(path.name()).c_str(), 0) != 0)
    co_return last_error();
  co_return core::Result<void>{};
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
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(mtime.time_since_epoch()).count();
  timespec times[2];
  times[0].tv_sec = 0;
  times[0].tv_nsec = UTIME_OMIT;
  times[1].tv_sec = static_cast<time_t>(ns / 1000000000);
  times[1].tv_nsec = static_cast<long>(ns % 1000000000);
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

} // namespace berth::vfs
