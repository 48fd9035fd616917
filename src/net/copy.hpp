#pragma once
// Zero-copy transfers between a socket and a file: the one place above the
// raw calls (socket_ops: sendfile(2), splice(2)) that moves file bytes
// without copying them through user space.

#include "core/result.hpp"
#include "core/task.hpp"
#include "net/socket_ops.hpp"
#include "net/types.hpp"

#include <cstddef>
#include <cstdint>

namespace berth::net {

/// What a file must offer for zero-copy I/O: a kernel descriptor and its
/// sequential position. An optional capability of vfs::File (zero_copy()):
/// the local backend offers it, a decorator that must see every byte (a
/// throttle, a quota) withdraws it, and object storage has none.
class ZeroCopyFile {
public:
  virtual ~ZeroCopyFile() = default;
  /// The descriptor sendfile(2) reads from or splice(2) writes to.
  virtual int descriptor() const = 0;
  /// The position of the next sequential read or write.
  virtual std::uint64_t position() const = 0;
  /// Advances the position by `n` after bytes were moved at it.
  virtual void advance(std::uint64_t n) = 0;
  /// Moves up to `n` bytes out of pipe `pipe_fd` into the file at the
  /// position and advances it; returns the bytes moved (at least one while
  /// the pipe holds data). May wait for the disk.
  virtual core::Task<core::Result<std::size_t>> write_from_pipe(int pipe_fd, std::size_t n) = 0;
};

/// Sends `file` from its position to its end over `s` (sendfile), adding
/// each byte sent to `progress` as it goes (also before an error: the
/// transfer log counts what went out) and advancing the file.
core::Task<core::Result<void>> send_to_end(Socket& s, ZeroCopyFile& file, std::uint64_t& progress);

/// Moves what `s` receives until the peer closes into `file` at its position
/// (socket to `pipe` to file, splice), adding each byte to `progress`.
core::Task<core::Result<void>> receive_to_close(Socket& s, ZeroCopyFile& file,
                                                std::uint64_t& progress, Pipe& pipe);

} // namespace berth::net
