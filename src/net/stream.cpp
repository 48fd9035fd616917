#include "net/stream.hpp"

#include "net/socket_ops.hpp"

#include "core/errc.hpp"
#include "core/timeout.hpp"
#include "net/deflate.hpp"
#include "net/tls_context.hpp"

#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cerrno>
#include <optional>
#include <tuple>
#include <utility>

namespace berth::net {
namespace {
constexpr auto kTuple = asio::experimental::as_tuple(asio::use_awaitable);

// A data connection reads TLS records in batches: this much per read(2)
// (OpenSSL's read-ahead), instead of a header and a body per record.
constexpr std::size_t kDataReadBuffer = 128 * 1024;

// What an OpenSSL call that returned `ret` on `ssl` means: retry after the
// socket is readable or writable, the peer's end of the stream (with
// close_notify, or without: truncated), or an error.
enum class Next { read, write, closed, truncated, failed };

struct Outcome {
  Next next;
  std::error_code error; // for Next::failed
};

Outcome outcome_of(SSL* ssl, int ret) {
  const int err = SSL_get_error(ssl, ret);
  switch (err) {
  case SSL_ERROR_WANT_READ:
    return {Next::read, {}};
  case SSL_ERROR_WANT_WRITE:
    return {Next::write, {}};
  case SSL_ERROR_ZERO_RETURN: // close_notify
    return {Next::closed, {}};
  case SSL_ERROR_SYSCALL: {
    const int sys = errno;
    ERR_clear_error();
    if (sys == 0) // end of file without close_notify (OpenSSL 1.1 style)
      return {Next::truncated, {}};
    return {Next::failed, std::error_code(sys, asio::error::get_system_category())};
  }
  default: {
    const unsigned long e = ERR_peek_last_error();
    ERR_clear_error();
    // The peer closed without close_notify: the stream may have been cut
    // short (a killed client, a reset path), which read_some() reports.
    if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
      return {Next::truncated, {}};
    if (e == 0)
      return {Next::failed, asio::error::make_error_code(asio::error::connection_reset)};
    return {Next::failed, std::error_code(static_cast<int>(e), asio::error::get_ssl_category())};
  }
  }
}

// SSL_write_ex until all of `buf` is written or OpenSSL must wait; returns
// the bytes written and, in `blocked`, what it waits for (read or write). A
// record it could not finish stays inside OpenSSL, and the next call
// continues it with the same bytes (they are not counted as written).
core::Result<std::size_t> write_until_blocked(SSL* ssl, asio::const_buffer buf, Next& blocked) {
  const auto* p = static_cast<const char*>(buf.data());
  std::size_t done = 0;
  while (done < buf.size()) {
    ERR_clear_error();
    std::size_t n = 0;
    const int ret = SSL_write_ex(ssl, p + done, buf.size() - done, &n);
    if (ret == 1) {
      done += n;
      continue;
    }
    const Outcome o = outcome_of(ssl, ret);
    if (o.next == Next::read || o.next == Next::write) {
      blocked = o.next;
      break;
    }
    if (o.next == Next::closed || o.next == Next::truncated)
      return core::unexpected(asio::error::make_error_code(asio::error::broken_pipe));
    return core::unexpected(o.error);
  }
  return done;
}

core::Task<std::error_code> wait_for(Socket& s, Next next) {
  auto [ec] =
      co_await s.async_wait(next == Next::read ? Socket::wait_read : Socket::wait_write, kTuple);
  co_return ec;
}
} // namespace

// TLS straight on the socket (OpenSSL's socket BIO, the descriptor
// non-blocking): records are encrypted into OpenSSL's own buffer and written
// from there, read from the socket into it, with no copy in between; the
// coroutines wait on the socket when OpenSSL asks to.
struct Stream::Tls {
  explicit Tls(Socket s) : socket(std::move(s)) {}
  Tls(const Tls&) = delete;
  Tls& operator=(const Tls&) = delete;
  ~Tls() {
    // A stream dropped without close() (its coroutine cancelled) keeps the
    // TLS session in the cache too, as close() does.
    if (ssl != nullptr)
      SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(ssl);
  }

  Socket socket;
  SSL* ssl = nullptr;
  std::error_code pending;          ///< A read error met after data that read_some() returned.
  bool ack_drained = false;         ///< Acknowledge at once each time the socket is read empty.
  std::error_code handshake_error;  ///< Met before accept_tls(), which reports it.
  bool require_close_notify = true; ///< TlsAccept::require_close_notify.

  /// What read_some() reports for the peer's end of the stream.
  std::error_code end_of(Next next) const {
    if (next == Next::truncated && require_close_notify)
      return core::Errc::truncated;
    return core::Errc::closed;
  }
};

// MODE Z: a compressor for what is written, a decompressor for what is read
// (each made at its first use), and the compressed bytes between them and
// the wire. Both buffers are fixed: an upload that inflates a thousandfold
// still holds only the caller's buffer of output at a time.
struct Stream::Z {
  static constexpr std::size_t kBuffer = 64 * 1024;
  int level = 6;
  std::optional<ZStream> out;
  std::optional<ZStream> in;
  std::unique_ptr<char[]> out_buf;
  std::unique_ptr<char[]> in_buf;
  std::size_t in_pos = 0;
  std::size_t in_len = 0;
  bool got_bytes = false; ///< Any compressed byte was read.
};

Stream::Stream(Socket socket) : plain_(std::make_unique<Socket>(std::move(socket))) {}
Stream::Stream(Stream&&) noexcept = default;
Stream& Stream::operator=(Stream&&) noexcept = default;
Stream::~Stream() = default;

Socket& Stream::socket() {
  return tls_ ? tls_->socket : *plain_;
}

SSL* Stream::native_ssl() const {
  return tls_ ? tls_->ssl : nullptr;
}

core::Task<core::Result<std::size_t>> Stream::read_some(asio::mutable_buffer buf) {
  if (z_)
    co_return co_await inflate_some(buf);
  co_return co_await raw_read_some(buf);
}

core::Task<core::Result<void>> Stream::write_all(asio::const_buffer buf) {
  if (z_)
    co_return co_await deflate_all(buf, false);
  co_return co_await raw_write_all(buf);
}

core::Result<void> Stream::start_deflate(int level) {
  z_ = std::make_unique<Z>();
  z_->level = level;
  return {};
}

core::Task<core::Result<void>> Stream::finish_deflate() {
  if (!z_ || z_->in)
    co_return core::Result<void>{};
  const asio::const_buffer nothing;
  co_return co_await deflate_all(nothing, true);
}

// The loops below end with break, never co_return: GCC 12 miscompiles a
// co_return inside for(;;) in some coroutines returning a value.
core::Task<core::Result<void>> Stream::deflate_all(asio::const_buffer buf, bool finish) {
  Z& z = *z_;
  if (!z.out) {
    auto made = ZStream::make(ZStream::Kind::deflate, z.level);
    if (!made)
      co_return core::unexpected(made.error());
    z.out.emplace(std::move(*made));
    z.out_buf = std::make_unique_for_overwrite<char[]>(Z::kBuffer);
  }
  // Each step fills at most the output buffer, which goes out before the next.
  core::Result<void> result;
  for (;;) {
    auto step = z.out->run(buf, asio::buffer(z.out_buf.get(), Z::kBuffer), finish);
    if (!step) {
      result = core::unexpected(step.error());
      break;
    }
    buf += step->consumed;
    if (step->produced > 0) {
      result = co_await raw_write_all(asio::buffer(z.out_buf.get(), step->produced));
      if (!result)
        break;
    }
    if (finish ? step->ended : buf.size() == 0 && step->produced < Z::kBuffer)
      break;
  }
  co_return result;
}

core::Task<core::Result<std::size_t>> Stream::inflate_some(asio::mutable_buffer buf) {
  Z& z = *z_;
  if (!z.in) {
    auto made = ZStream::make(ZStream::Kind::inflate);
    if (!made)
      co_return core::unexpected(made.error());
    z.in.emplace(std::move(*made));
    z.in_buf = std::make_unique_for_overwrite<char[]>(Z::kBuffer);
  }
  if (buf.size() == 0)
    co_return std::size_t{0};
  core::Result<std::size_t> result = std::size_t{0};
  for (;;) {
    if (z.in_pos < z.in_len) {
      // At most buf.size() bytes out of any input (a decompression bomb included).
      auto step = z.in->run(asio::buffer(z.in_buf.get() + z.in_pos, z.in_len - z.in_pos), buf);
      if (!step) {
        result = core::unexpected(step.error());
        break;
      }
      z.in_pos += step->consumed;
      if (step->produced > 0) {
        result = step->produced;
        break;
      }
      if (step->consumed == 0 && !step->ended) { // no progress: zlib can not go on
        result = core::unexpected(core::Errc::bad_data);
        break;
      }
      continue;
    }
    auto n = co_await raw_read_some(asio::buffer(z.in_buf.get(), Z::kBuffer));
    if (!n) {
      // Closed before the stream's end: cut short (no bytes at all: an empty file).
      const bool cut = n.error() == core::Errc::closed && z.got_bytes && !z.in->ended();
      result = core::unexpected(cut ? std::error_code(core::Errc::bad_data) : n.error());
      break;
    }
    if (z.in->ended() && *n > 0) { // bytes after the stream's end
      result = core::unexpected(core::Errc::bad_data);
      break;
    }
    z.in_pos = 0;
    z.in_len = *n;
    z.got_bytes = z.got_bytes || *n > 0;
  }
  co_return result;
}

core::Task<core::Result<std::size_t>> Stream::raw_read_some(asio::mutable_buffer buf) {
  if (!tls_) {
    auto [ec, n] = co_await plain_->async_read_some(buf, kTuple);
    if (ec && n == 0) {
      if (ec == asio::error::eof)
        co_return core::unexpected(core::Errc::closed);
      co_return core::unexpected(ec);
    }
    co_return n;
  }
  if (buf.size() == 0)
    co_return std::size_t{0};
  // As many records as are there without waiting (OpenSSL returns one per
  // call): fewer rounds through the caller for a bulk upload.
  if (tls_->pending)
    co_return core::unexpected(std::exchange(tls_->pending, {}));
  auto* p = static_cast<char*>(buf.data());
  std::size_t got = 0;
  for (;;) {
    ERR_clear_error();
    std::size_t n = 0;
    const int ret = SSL_read_ex(tls_->ssl, p + got, buf.size() - got, &n);
    if (ret == 1) {
      got += n;
      if (got == buf.size())
        co_return got;
      continue;
    }
    const Outcome o = outcome_of(tls_->ssl, ret);
    if (got > 0) {
      // Kept for the next call: a reset, or an end without close_notify, is
      // reported once, after the data that came before it.
      if (o.next == Next::failed)
        tls_->pending = o.error;
      else if (o.next == Next::truncated)
        tls_->pending = tls_->end_of(o.next);
      // An upload's last record is followed by the client's close_notify, a
      // few bytes that a client with Nagle's algorithm on (Python's ftplib,
      // most libraries) holds back until this data is acknowledged, and the
      // kernel delays that ACK by up to 40 ms: per small file, far more than
      // the transfer. Acknowledging each time the socket is read empty
      // removes the wait, for one setsockopt per drain.
      if (tls_->ack_drained && o.next == Next::read)
        ack_now(tls_->socket);
      co_return got;
    }
    if (o.next == Next::closed || o.next == Next::truncated)
      co_return core::unexpected(tls_->end_of(o.next));
    if (o.next == Next::failed)
      co_return core::unexpected(o.error);
    if (auto ec = co_await wait_for(tls_->socket, o.next))
      co_return core::unexpected(ec);
  }
}

core::Task<core::Result<void>> Stream::raw_write_all(asio::const_buffer buf) {
  if (!tls_) {
    auto [ec, n] = co_await asio::async_write(*plain_, buf, kTuple);
    (void)n;
    if (ec)
      co_return core::unexpected(ec);
    co_return core::Result<void>{};
  }
  for (;;) {
    Next blocked = Next::write;
    auto n = write_until_blocked(tls_->ssl, buf, blocked);
    if (!n)
      co_return core::unexpected(n.error());
    buf += *n;
    if (buf.size() == 0)
      co_return core::Result<void>{};
    if (auto ec = co_await wait_for(tls_->socket, blocked))
      co_return core::unexpected(ec);
  }
}

core::Result<std::size_t> Stream::try_write(asio::const_buffer buf) {
  if (!tls_) {
    std::size_t done = 0;
    while (done < buf.size()) {
      ssize_t n = ::send(plain_->native_handle(), static_cast<const char*>(buf.data()) + done,
                         buf.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        done += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        break;
      return core::unexpected(std::error_code(n < 0 ? errno : EPIPE, std::system_category()));
    }
    return done;
  }
  Next blocked = Next::write;
  return write_until_blocked(tls_->ssl, buf, blocked);
}

core::Result<void> Stream::begin_tls(TlsContext& tls, const TlsAccept& how) {
  SSL* ssl = SSL_new(tls.context().native_handle());
  if (ssl == nullptr)
    return core::unexpected(asio::error::no_memory);
  tls_ = std::make_unique<Tls>(std::move(*plain_));
  plain_.reset();
  tls_->ssl = ssl;
  std::error_code ignored;
  tls_->socket.native_non_blocking(true, ignored);
  if (SSL_set_fd(ssl, tls_->socket.native_handle()) != 1) {
    tls_->handshake_error = asio::error::no_memory; // for good: the stream is TLS now
    return core::unexpected(tls_->handshake_error);
  }
  SSL_set_accept_state(ssl);
  // One record per SSL_write_ex call (the loop above writes the rest).
  SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (how.data) {
    // No TLS 1.3 session ticket: a data connection needs none, and a client
    // that never reads one would see a reset. Buffers kept for the whole
    // transfer (not given back after each record), records read in batches.
    SSL_set_num_tickets(ssl, 0);
    SSL_clear_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
    SSL_set_default_read_buffer_len(ssl, kDataReadBuffer);
    SSL_set_read_ahead(ssl, 1);
    tls_->ack_drained = true;
  }
  tls_->require_close_notify = how.require_close_notify;
  if (how.sessions != nullptr)
    tls.attach(ssl, *how.sessions, how.data);
  return {};
}

namespace {
// One step of a server handshake: nothing once it is complete, else what to
// wait for (read or write) or Next::failed with the error.
std::optional<Outcome> handshake_step(SSL* ssl, Socket& socket, bool ack_drained) {
  ERR_clear_error();
  const int ret = SSL_do_handshake(ssl);
  if (ret == 1) {
    // The client's Finished ends a data connection's handshake and nothing
    // answers it (no ticket): its ACK would wait, and with it a client's
    // first small record, held back by Nagle's algorithm (see read_some).
    if (ack_drained)
      ack_now(socket);
    return std::nullopt;
  }
  const Outcome o = outcome_of(ssl, ret);
  if (o.next == Next::closed || o.next == Next::truncated)
    return Outcome{Next::failed, asio::error::make_error_code(asio::error::eof)};
  return o;
}
} // namespace

core::Result<bool> Stream::tls_state(TlsContext& tls, const TlsAccept& how) {
  if (!tls_) {
    if (auto b = begin_tls(tls, how); !b)
      return core::unexpected(b.error());
  }
  if (tls_->handshake_error)
    return core::unexpected(tls_->handshake_error);
  return SSL_is_init_finished(tls_->ssl) == 1;
}

core::Result<bool> Stream::advance_tls(TlsContext& tls, const TlsAccept& how) {
  auto done = tls_state(tls, how);
  if (!done || *done)
    return done;
  const auto o = handshake_step(tls_->ssl, tls_->socket, tls_->ack_drained);
  if (!o)
    return true;
  if (o->next == Next::failed) {
    tls_->handshake_error = o->error;
    return core::unexpected(o->error);
  }
  return false;
}

core::Task<core::Result<void>> Stream::accept_tls(TlsContext& tls,
                                                  std::chrono::steady_clock::duration limit,
                                                  const TlsAccept& how) {
  auto done = tls_state(tls, how);
  if (!done)
    co_return core::unexpected(done.error());
  if (*done)
    co_return core::Result<void>{}; // advance_tls() finished it
  auto handshake = [](Tls& t) -> core::Task<core::Result<void>> {
    for (;;) {
      const auto o = handshake_step(t.ssl, t.socket, t.ack_drained);
      if (!o)
        co_return core::Result<void>{};
      if (o->next == Next::failed)
        co_return core::unexpected(o->error);
      if (auto ec = co_await wait_for(t.socket, o->next))
        co_return core::unexpected(ec);
    }
  };
  co_return co_await core::with_timeout(handshake(*tls_), limit);
}

core::Task<void> Stream::shutdown(std::chrono::steady_clock::duration limit) {
  if (tls_) {
    // Send close_notify so that the client can tell a complete download from a
    // truncated one; do not wait for the peer's (it may just close).
    auto send_close_notify = [](Tls& t) -> core::Task<core::Result<void>> {
      for (;;) {
        ERR_clear_error();
        const int ret = SSL_shutdown(t.ssl);
        if (ret >= 0) // 0: ours is sent, the peer's not read; 1: both
          co_return core::Result<void>{};
        const Outcome o = outcome_of(t.ssl, ret);
        if (o.next != Next::write)
          co_return core::Result<void>{};
        if (auto ec = co_await wait_for(t.socket, o.next))
          co_return core::unexpected(ec);
      }
    };
    SSL_set_quiet_shutdown(tls_->ssl, 0);
    auto r = co_await core::with_timeout(send_close_notify(*tls_), limit);
    (void)r;
  }
  close();
}

core::Task<core::Result<void>> Stream::end_tls(std::chrono::steady_clock::duration limit) {
  if (!tls_)
    co_return core::Result<void>{};
  // Our close_notify, then the peer's if it sends one (curl's
  // --ftp-ssl-ccc-mode active does; passive waits for ours and never
  // answers, as RFC 4217 12.2 allows). The control
  // connection reads without read-ahead, so OpenSSL takes no byte past the
  // peer's alert: what the client sends next in clear stays in the socket.
  auto exchange = [](Tls& t) -> core::Task<core::Result<void>> {
    bool sent = false;
    char drop[512];
    core::Result<void> result;
    for (;;) {
      ERR_clear_error();
      int ret = 0;
      if (!sent) {
        ret = SSL_shutdown(t.ssl);
        if (ret == 1)
          break; // both alerts done
        if (ret == 0) {
          sent = true;
          continue;
        }
      } else {
        // curl's --ftp-ssl-ccc-mode passive never answers our close_notify
        // and goes on in clear: a next byte that can not begin a TLS record
        // (content types 20-23) ends the exchange, and stays unread.
        unsigned char first = 0;
        const ssize_t got = ::recv(t.socket.native_handle(), &first, 1, MSG_PEEK | MSG_DONTWAIT);
        if (got == 1 && (first < 20 || first > 23))
          break;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && SSL_pending(t.ssl) == 0) {
          if (auto ec = co_await wait_for(t.socket, Next::read)) {
            result = core::unexpected(ec);
            break;
          }
          continue;
        }
        std::size_t n = 0;
        ret = SSL_read_ex(t.ssl, drop, sizeof drop, &n);
        if (ret == 1)
          continue; // data the client sent before its close_notify
      }
      const Outcome o = outcome_of(t.ssl, ret);
      if (o.next == Next::closed) {
        if (!sent) // SSL_shutdown does not read: not expected, but no loop
          result = core::unexpected(core::Errc::closed);
        break; // the peer's close_notify after ours
      }
      if (o.next == Next::truncated) {
        result = core::unexpected(core::Errc::closed);
        break;
      }
      if (o.next == Next::failed) {
        result = core::unexpected(o.error);
        break;
      }
      if (auto ec = co_await wait_for(t.socket, o.next)) {
        result = core::unexpected(ec);
        break;
      }
    }
    co_return result;
  };
  SSL_set_quiet_shutdown(tls_->ssl, 0);
  auto r = co_await core::with_timeout(exchange(*tls_), limit);
  if (!r)
    co_return r;
  // SECURITY: as in close(), OpenSSL must not reach the descriptor any more.
  // The session stays in the cache for data connections to resume.
  SSL_set_shutdown(tls_->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  if (BIO* bio = SSL_get_rbio(tls_->ssl); bio != nullptr)
    BIO_set_fd(bio, -1, BIO_NOCLOSE);
  plain_ = std::make_unique<Socket>(std::move(tls_->socket));
  tls_.reset();
  co_return core::Result<void>{};
}

void Stream::close() {
  if (tls_) {
    // An abrupt end (ABOR, refused data connection) must not make OpenSSL
    // drop the session from its cache: under TLS 1.2 a data connection shares
    // the control connection's session, and later transfers resume it.
    SSL_set_shutdown(tls_->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    // SECURITY: the descriptor number is free for another connection once
    // closed; OpenSSL must not reach it through this stream any more.
    if (BIO* bio = SSL_get_rbio(tls_->ssl); bio != nullptr)
      BIO_set_fd(bio, -1, BIO_NOCLOSE);
  }
  std::error_code ignored;
  Socket& s = socket();
  s.shutdown(Socket::shutdown_both, ignored);
  s.close(ignored);
}

void Stream::stop_reading() {
  std::error_code ignored;
  Socket& s = socket();
  s.shutdown(Socket::shutdown_receive, ignored);
  s.cancel(ignored);
}

Endpoint Stream::remote_endpoint() {
  std::error_code ec;
  return socket().remote_endpoint(ec);
}

Endpoint Stream::local_endpoint() {
  std::error_code ec;
  return socket().local_endpoint(ec);
}

} // namespace berth::net
