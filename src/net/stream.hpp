#pragma once
// A byte stream over TCP, optionally TLS (upgraded in place, as AUTH TLS does).
// Protocol code is written against it, never against the socket directly.

#include "core/result.hpp"
#include "core/task.hpp"
#include "net/types.hpp"

#include <asio/buffer.hpp>

#include <chrono>
#include <cstddef>
#include <memory>

typedef struct ssl_st SSL;

namespace berth::net {

class TlsContext;
class TlsSessions;

/// How accept_tls() sets up a connection.
struct TlsAccept {
  /// The control connection's sessions (TlsContext::attach): a control
  /// connection keeps the sessions it makes there, a data connection may
  /// resume them. Null: neither.
  TlsSessions* sessions = nullptr;
  /// An FTP data connection: no TLS 1.3 session ticket (it needs none, and a
  /// client that never reads one would see a reset), buffers for bulk transfer.
  bool data = false;
  /// A peer that closes without TLS close_notify cut the stream short: reads
  /// report core::Errc::truncated. False: such a close ends the stream as
  /// close_notify does (core::Errc::closed).
  bool require_close_notify = true;
};

/// A connected stream. Not thread-safe; one coroutine may read while another
/// writes.
class Stream {
public:
  explicit Stream(Socket socket);
  Stream(Stream&&) noexcept;
  Stream& operator=(Stream&&) noexcept;
  ~Stream();

  /// Reads at least one byte. Errors: core::Errc::closed at end of stream,
  /// core::Errc::truncated when a TLS peer closed without close_notify (unless
  /// TlsAccept::require_close_notify was false: then closed), or the socket or
  /// TLS error.
  core::Task<core::Result<std::size_t>> read_some(asio::mutable_buffer buf);

  /// Writes the whole buffer. Errors: the socket or TLS error.
  core::Task<core::Result<void>> write_all(asio::const_buffer buf);

  /// Writes what the socket takes now, never waiting; returns the bytes
  /// written (the rest goes with write_all()). For a short reply that fits
  /// (nearly always) this saves a timer and a wait. Errors: the socket or TLS
  /// error.
  core::Result<std::size_t> try_write(asio::const_buffer buf);

  /// Turns this stream into TLS and runs the server side of the handshake, or
  /// finishes one that advance_tls() began. `tls` must outlive the stream.
  core::Task<core::Result<void>>
  accept_tls(TlsContext& tls, std::chrono::steady_clock::duration limit, const TlsAccept& how);

  /// Without waiting: turns this stream into TLS (once) and takes the server
  /// side of the handshake as far as the bytes already received allow;
  /// accept_tls() finishes it. True once the handshake is complete; an error
  /// stays, and accept_tls() reports it.
  core::Result<bool> advance_tls(TlsContext& tls, const TlsAccept& how);

  /// CCC (RFC 4217 12.2): ends TLS and keeps the TCP connection, the stream
  /// plain from then on. Sends close_notify and reads until the peer's (any
  /// data before it is dropped), waiting at most `limit`; bytes after it stay
  /// in the socket for the next read. Errors: the socket or TLS error,
  /// core::Errc::timed_out, core::Errc::closed if the peer closed instead; the
  /// stream is unusable after an error.
  core::Task<core::Result<void>> end_tls(std::chrono::steady_clock::duration limit);

  /// Ends the stream: for TLS sends close_notify (waiting at most `limit` for it
  /// to leave), then closes the socket.
  core::Task<void> shutdown(std::chrono::steady_clock::duration limit);

  /// MODE Z (draft-preston-ftpext-deflate): from now on write_all() compresses
  /// into one zlib stream at `level` (1-9) that finish_deflate() ends, and
  /// read_some() inflates one zlib stream, reporting core::Errc::bad_data for
  /// a corrupt one, one cut short, or bytes after its end (an empty stream,
  /// no bytes at all, is an empty file). Errors: out of memory.
  core::Result<void> start_deflate(int level);

  /// Writes the end of the zlib stream (for an empty download too) unless the
  /// stream was read from (an upload). Nothing without start_deflate().
  /// Errors: the socket or TLS error.
  core::Task<core::Result<void>> finish_deflate();

  bool is_tls() const { return tls_ != nullptr; }
  /// Neither TLS nor compressed: the socket carries the bytes as they are,
  /// so zero-copy paths (sendfile, splice) may use it.
  bool is_plain() const { return tls_ == nullptr && z_ == nullptr; }
  /// The OpenSSL handle of a TLS stream, or nullptr.
  SSL* native_ssl() const;

  /// The TCP socket underneath (for options, endpoints, zero-copy paths on plain streams).
  Socket& socket();

  /// Closes the stream at once; pending operations complete with operation_aborted.
  void close();

  /// Ends reading for good, from outside the coroutine that reads (a
  /// deadline, a stopping server): a pending read completes with
  /// operation_aborted, later ones find the end of the stream. Writing still
  /// works, for a last reply.
  void stop_reading();

  Endpoint remote_endpoint();
  Endpoint local_endpoint();

private:
  struct Tls;
  struct Z;
  core::Task<core::Result<std::size_t>> raw_read_some(asio::mutable_buffer buf);
  core::Task<core::Result<void>> raw_write_all(asio::const_buffer buf);
  core::Task<core::Result<std::size_t>> inflate_some(asio::mutable_buffer buf);
  core::Task<core::Result<void>> deflate_all(asio::const_buffer buf, bool finish);
  core::Result<void> begin_tls(TlsContext& tls, const TlsAccept& how);
  /// Begins TLS unless it was; true once the handshake is complete, or the
  /// error advance_tls() met.
  core::Result<bool> tls_state(TlsContext& tls, const TlsAccept& how);
  std::unique_ptr<Socket> plain_;
  std::unique_ptr<Tls> tls_;
  std::unique_ptr<Z> z_;
};

} // namespace berth::net
