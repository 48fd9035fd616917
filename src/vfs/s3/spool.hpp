#pragma once
// The local spool of S3 uploads written far out of order (sshfs random
// writes): a private temporary file per upload in the node's spool folder,
// its bytes counted against a node-wide limit.

#include "core/result.hpp"
#include "core/task.hpp"
#include "core/worker_pool.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>

namespace berth::vfs::s3 {

/// The spool folder and the bytes its files may hold together. Thread-safe:
/// one is shared by the sessions of every loop and outlives their spools.
class SpoolSpace {
public:
  /// `dir`: made (0700) at the first spool; `limit`: bytes of every spool
  /// together (0: spooling refused); `io`: where file I/O runs (null: inline),
  /// must outlive the spools.
  SpoolSpace(std::filesystem::path dir, std::uint64_t limit, core::WorkerPool* io)
      : dir_(std::move(dir)), limit_(limit), io_(io) {}
  SpoolSpace(const SpoolSpace&) = delete;
  SpoolSpace& operator=(const SpoolSpace&) = delete;

  /// Takes `bytes` if the total stays within the limit.
  bool take(std::uint64_t bytes);
  void give_back(std::uint64_t bytes);

  const std::filesystem::path& dir() const { return dir_; }
  std::uint64_t limit() const { return limit_; }
  core::WorkerPool* io() const { return io_; }
  /// Bytes taken now.
  std::uint64_t used() const;

private:
  const std::filesystem::path dir_;
  const std::uint64_t limit_;
  core::WorkerPool* io_;
  mutable std::mutex mu_;
  std::uint64_t used_ = 0; // guarded by mu_
};

/// One upload's spool: a file with no name (O_TMPFILE, or unlinked at once
/// where the file system lacks it), mode 0600, so that nothing is left after
/// a crash. Bytes are stored at their offset minus `base` (the first byte the
/// spool holds); bytes never written read as zeros. Its size counts against
/// the space from the first write that reaches it until the spool is gone.
class Spool {
public:
  /// Errors: the OS's (io_error, no_space, permission_denied) when the folder
  /// or the file can not be made.
  static core::Task<core::Result<std::unique_ptr<Spool>>> create(std::shared_ptr<SpoolSpace> space,
                                                                 std::uint64_t base);
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;
  ~Spool();

  /// Writes `data` at `offset` (>= base()). Errors: vfs::Errc::no_space when
  /// the file would grow the space beyond its limit (nothing is written);
  /// the OS's.
  core::Task<core::Result<void>> write(std::uint64_t offset, std::span<const std::byte> data);
  /// Reads up to `buf.size()` bytes at `offset` (>= base()); short only at end().
  core::Task<core::Result<std::size_t>> read(std::uint64_t offset, std::span<std::byte> buf);
  /// Cuts or extends (with zeros) the spool to end at `end` (>= base()).
  /// Errors: as write().
  core::Task<core::Result<void>> resize(std::uint64_t end);

  std::uint64_t base() const { return base_; }
  /// One past the last byte (base() when empty).
  std::uint64_t end() const { return base_ + size_; }

private:
  Spool(std::shared_ptr<SpoolSpace> space, int fd, std::uint64_t base)
      : space_(std::move(space)), fd_(fd), base_(base) {}
  /// Charges the space for a file of `size` bytes (gives back when smaller).
  bool charge(std::uint64_t size);

  std::shared_ptr<SpoolSpace> space_;
  int fd_;
  std::uint64_t base_;
  std::uint64_t size_ = 0;
};

} // namespace berth::vfs::s3
