#pragma once
// Socket options and raw socket calls. The only place outside listener.cpp and
// passive_ports.cpp that touches socket options.

#include "core/result.hpp"
#include "core/task.hpp"
#include "net/types.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace berth::net {

/// Options for a control connection: TCP_NODELAY, and SO_OOBINLINE so that the
/// Telnet Synch (urgent data) that clients send before ABOR stays in the stream.
void tune_control_socket(Socket& s);

/// Options for a data connection: TCP_NODELAY off (bulk), non-blocking native fd.
void tune_data_socket(Socket& s);

/// Sends the ACK for what was read now instead of after the delayed-ACK
/// timer (TCP_QUICKACK; it lasts until the kernel turns it off again).
void ack_now(Socket& s);

/// Opens `s` and connects it to `remote` from `local` (address and port; port
/// 0 = any). Binding a port below 1024 needs privilege; the error is returned,
/// not hidden. Closing `s` meanwhile ends the wait with an error.
core::Task<core::Result<void>> connect_from(Socket& s, Endpoint local, Endpoint remote);

/// Sends `count` bytes of file descriptor `fd` from `offset` with sendfile(2),
/// waiting for writability as needed. Returns the bytes sent (less than `count`
/// only at end of file). `offset` advances.
core::Task<core::Result<std::uint64_t>> send_file(Socket& s, int fd, std::uint64_t& offset,
                                                  std::uint64_t count);

/// A pipe for splice(2): socket to pipe to file, no copy through user space.
/// Both ends non-blocking, close-on-exec; sized up to 1 MiB where allowed.
class Pipe {
public:
  /// Errors: the pipe2(2) error (out of descriptors).
  static core::Result<Pipe> open();
  Pipe(Pipe&& o) noexcept;
  Pipe& operator=(Pipe&&) = delete;
  Pipe(const Pipe&) = delete;
  ~Pipe();
  int read_end() const { return fds_[0]; }

  /// Moves what `s` has received into the pipe (which must be empty), at most
  /// its capacity, waiting for data as needed; yields to the loop's other
  /// sessions now and then when data keeps coming. Returns the bytes moved; 0
  /// when the peer has closed. Errors: the socket error.
  core::Task<core::Result<std::size_t>> fill_from(Socket& s);

private:
  Pipe() = default;
  int fds_[2] = {-1, -1};
  std::size_t capacity_ = 0;
  std::uint64_t since_yield_ = 0;
};

/// Copies the bytes waiting in the receive queue of `s` into `buf`, at most
/// buf.size() (not 0), without consuming them (recv with MSG_PEEK). Never blocks.
/// Errors: asio::error::would_block when nothing waits, core::Errc::closed
/// when the peer closed and nothing waits, or the socket error.
core::Result<std::size_t> peek(Socket& s, std::span<std::byte> buf);

} // namespace berth::net
