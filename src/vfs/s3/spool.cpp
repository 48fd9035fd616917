// The spool's files: pwrite/pread on a nameless file, on the worker pool.
#include "vfs/s3/spool.hpp"

#include "vfs/errc.hpp"

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace berth::vfs::s3 {
namespace {

/// Runs `fn` on `io`, or inline without one.
template <class F> core::Task<std::invoke_result_t<F&>> on_pool(core::WorkerPool* io, const F& fn) {
  if (io != nullptr)
    co_return co_await io->run(fn);
  co_return fn();
}

/// A file in `dir` that no name reaches: O_TMPFILE, else a unique name
/// unlinked at once. Returns the descriptor or -errno.
int open_nameless(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return -ec.value();
  // SECURITY: the spool holds users' bytes: 0600 in a 0700 folder, no name.
  ::chmod(dir.c_str(), 0700);
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0)
    return fd;
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
    return -errno;
  std::string name = (dir / "upload-XXXXXX").string();
  fd = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd < 0)
    return -errno;
  ::unlink(name.c_str());
  return fd;
}

} // namespace

bool SpoolSpace::take(std::uint64_t bytes) {
  std::lock_guard lock(mu_);
  if (bytes > limit_ - used_)
    return false;
  used_ += bytes;
  return true;
}

void SpoolSpace::give_back(std::uint64_t bytes) {
  std::lock_guard lock(mu_);
  used_ -= std::min(bytes, used_);
}

std::uint64_t SpoolSpace::used() const {
  std::lock_guard lock(mu_);
  return used_;
}

core::Task<core::Result<std::unique_ptr<Spool>>> Spool::create(std::shared_ptr<SpoolSpace> space,
                                                               std::uint64_t base) {
  auto dir = space->dir();
  auto fn = [dir] { return open_nameless(dir); };
  const int fd = co_await on_pool(space->io(), fn);
  if (fd < 0)
    co_return core::unexpected(from_errno(-fd));
  co_return std::unique_ptr<Spool>(new Spool(std::move(space), fd, base));
}

Spool::~Spool() {
  ::close(fd_);
  space_->give_back(size_);
}

bool Spool::charge(std::uint64_t size) {
  if (size > size_ && !space_->take(size - size_))
    return false;
  if (size < size_)
    space_->give_back(size_ - size);
  size_ = size;
  return true;
}

core::Task<core::Result<void>> Spool::write(std::uint64_t offset, std::span<const std::byte> data) {
  const std::uint64_t at = offset - base_;
  const std::uint64_t before = size_;
  if (!charge(std::max(size_, at + data.size())))
    co_return core::unexpected(Errc::no_space);
  const int fd = fd_;
  auto fn = [fd, at, data]() -> int {
    std::size_t done = 0;
    while (done < data.size()) {
      auto n = ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(at + done));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return n < 0 ? errno : EIO;
      done += static_cast<std::size_t>(n);
    }
    return 0;
  };
  const int err = co_await on_pool(space_->io(), fn);
  if (err != 0) {
    charge(before); // the file may have grown; it is dropped with the upload anyway
    co_return core::unexpected(from_errno(err));
  }
  co_return core::Result<void>{};
}

core::Task<core::Result<std::size_t>> Spool::read(std::uint64_t offset, std::span<std::byte> buf) {
  if (offset >= end())
    co_return std::size_t{0};
  const std::uint64_t at = offset - base_;
  buf = buf.first(static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), size_ - at)));
  const int fd = fd_;
  auto fn = [fd, at, buf]() -> long {
    std::size_t done = 0;
    while (done < buf.size()) {
      auto n = ::pread(fd, buf.data() + done, buf.size() - done, static_cast<off_t>(at + done));
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -errno;
      if (n == 0) { // a hole at the end of the file: zeros up to size_
        std::fill(buf.begin() + static_cast<std::ptrdiff_t>(done), buf.end(), std::byte{0});
        return static_cast<long>(buf.size());
      }
      done += static_cast<std::size_t>(n);
    }
    return static_cast<long>(done);
  };
  const long n = co_await on_pool(space_->io(), fn);
  if (n < 0)
    co_return core::unexpected(from_errno(static_cast<int>(-n)));
  co_return static_cast<std::size_t>(n);
}

core::Task<core::Result<void>> Spool::resize(std::uint64_t end) {
  const std::uint64_t size = end - base_;
  const std::uint64_t before = size_;
  if (!charge(size))
    co_return core::unexpected(Errc::no_space);
  const int fd = fd_;
  auto fn = [fd, size]() -> int {
    return ::ftruncate(fd, static_cast<off_t>(size)) == 0 ? 0 : errno;
  };
  const int err = co_await on_pool(space_->io(), fn);
  if (err != 0) {
    charge(before);
    co_return core::unexpected(from_errno(err));
  }
  co_return core::Result<void>{};
}

} // namespace berth::vfs::s3
