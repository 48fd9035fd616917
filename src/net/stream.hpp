#pragma once
// A byte stream over TCP. Protocol code is written against it so that TLS can be
// layered underneath later without touching the protocols.

#include "core/result.hpp"
#include "core/task.hpp"
#include "net/types.hpp"

#include <asio/buffer.hpp>

#include <cstddef>

namespace berth::net {

/// A connected stream. Not thread-safe; used from one coroutine at a time.
class Stream {
public:
  explicit Stream(Socket socket) : socket_(std::move(socket)) {}

  /// Reads at least one byte. Errors: core::Errc::closed at end of stream, or the socket error.
  core::Task<core::Result<std::size_t>> read_some(asio::mutable_buffer buf);

  /// Writes the whole buffer. Errors: the socket error.
  core::Task<core::Result<void>> write_all(asio::const_buffer buf);

  /// The underlying socket (for options, endpoints, zero-copy paths).
  Socket& socket() { return socket_; }

  /// Closes the stream; pending operations complete with operation_aborted.
  void close();

  /// Remote and local addresses; unspecified if the socket is no longer connected.
  Endpoint remote_endpoint() const;
  Endpoint local_endpoint() const;

private:
  Socket socket_;
};

} // namespace berth::net
