#include "net/stream.hpp"

#include "core/errc.hpp"
#include "core/timeout.hpp"
#include "net/tls_context.hpp"

#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ssl/error.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <openssl/ssl.h>

#include <tuple>

namespace berth::net {
namespace {
constexpr auto kTuple = asio::experimental::as_tuple(asio::use_awaitable);

bool is_end_of_stream(const std::error_code& ec) {
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
}
} // namespace

struct Stream::Tls {
  asio::ssl::stream<Socket> stream;
};

Stream::Stream(Socket socket) : plain_(std::make_unique<Socket>(std::move(socket))) {}
Stream::Stream(Stream&&) noexcept = default;
Stream& Stream::operator=(Stream&&) noexcept = default;
Stream::~Stream() = default;

Socket& Stream::socket() {
  return tls_ ? tls_->stream.next_layer() : *plain_;
}

SSL* Stream::native_ssl() const {
  return tls_ ? tls_->stream.native_handle() : nullptr;
}

core::Task<core::Result<std::size_t>> Stream::read_some(asio::mutable_buffer buf) {
  // No co_await inside ?: — GCC 12 miscompiles it.
  std::error_code ec;
  std::size_t n = 0;
  if (tls_)
    std::tie(ec, n) = co_await tls_->stream.async_read_some(buf, kTuple);
  else
    std::tie(ec, n) = co_await plain_->async_read_some(buf, kTuple);
  if (ec && n == 0) {
    if (is_end_of_stream(ec))
      co_return core::unexpected(core::Errc::closed);
    co_return core::unexpected(ec);
  }
  co_return n;
}

core::Task<core::Result<void>> Stream::write_all(asio::const_buffer buf) {
  std::error_code ec;
  std::size_t n = 0;
  if (tls_)
    std::tie(ec, n) = co_await asio::async_write(tls_->stream, buf, kTuple);
  else
    std::tie(ec, n) = co_await asio::async_write(*plain_, buf, kTuple);
  (void)n;
  if (ec)
    co_return core::unexpected(ec);
  co_return core::Result<void>{};
}

core::Task<core::Result<void>> Stream::accept_tls(TlsContext& tls,
                                                  std::chrono::steady_clock::duration limit,
                                                  void (*prepare)(SSL*, std::uint64_t),
                                                  std::uint64_t prepare_arg, bool tickets) {
  if (tls_)
    co_return core::unexpected(asio::error::already_connected);
  tls_ = std::make_unique<Tls>(Tls{asio::ssl::stream<Socket>(std::move(*plain_), tls.context())});
  plain_.reset();
  if (prepare != nullptr)
    prepare(tls_->stream.native_handle(), prepare_arg);
  if (!tickets)
    SSL_set_num_tickets(tls_->stream.native_handle(), 0);
  auto handshake = [](asio::ssl::stream<Socket>& s) -> core::Task<core::Result<void>> {
    auto [ec] = co_await s.async_handshake(asio::ssl::stream_base::server, kTuple);
    if (ec)
      co_return core::unexpected(ec);
    co_return core::Result<void>{};
  };
  co_return co_await core::with_timeout(handshake(tls_->stream), limit);
}

core::Task<void> Stream::shutdown(std::chrono::steady_clock::duration limit) {
  if (tls_) {
    // Send close_notify so that the client can tell a complete download from a
    // truncated one; do not wait for the peer's (it may just close).
    auto send_close_notify = [](asio::ssl::stream<Socket>& s) -> core::Task<core::Result<void>> {
      auto [ec] = co_await s.async_shutdown(kTuple);
      (void)ec;
      co_return core::Result<void>{};
    };
    SSL_set_quiet_shutdown(tls_->stream.native_handle(), 0);
    auto r = co_await core::with_timeout(send_close_notify(tls_->stream), limit);
    (void)r;
  }
  close();
}

void Stream::close() {
  if (tls_) {
    // An abrupt end (ABOR, refused data connection) must not make OpenSSL
    // drop the session from its cache: under TLS 1.2 a data connection shares
    // the control connection's session, and later transfers resume it.
    SSL_set_shutdown(tls_->stream.native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  }
  std::error_code ignored;
  Socket& s = socket();
  s.shutdown(Socket::shutdown_both, ignored);
  s.close(ignored);
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
