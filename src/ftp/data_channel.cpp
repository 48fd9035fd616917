#include "ftp/data_channel.hpp"

#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/timeout.hpp"
#include "net/passive_ports.hpp"
#include "net/proxy_reader.hpp"
#include "net/socket_ops.hpp"

#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>

namespace berth::ftp {
namespace {
constexpr auto kTuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr std::chrono::milliseconds kProxyHeaderTimeout{10000};
std::atomic<bool> g_warned_source_port{false};
} // namespace

void DataChannel::reset() {
  if (acceptor_) {
    std::error_code ignored;
    acceptor_->close(ignored);
    if (gauge_ != nullptr)
      gauge_->sub();
  }
  acceptor_.reset();
  active_.reset();
}

core::Result<std::uint16_t> DataChannel::listen_passive(const asio::any_io_executor& ex,
                                                        const net::Address& local,
                                                        core::PortRange range) {
  reset();
  auto a = net::open_passive(ex, local, range);
  if (!a)
    return core::unexpected(a.error());
  std::error_code ec;
  auto port = a->local_endpoint(ec).port();
  if (ec)
    return core::unexpected(ec);
  acceptor_.emplace(std::move(*a));
  if (gauge_ != nullptr)
    gauge_->add();
  return port;
}

core::Task<core::Result<net::Socket>> DataChannel::open(net::Address peer, net::Endpoint source,
                                                        std::chrono::steady_clock::duration limit,
                                                        const core::CidrList* proxy_from) {
  if (acceptor_)
    co_return co_await core::with_timeout(accept_from(peer, proxy_from), limit);
  if (active_)
    co_return co_await core::with_timeout(connect_active(source), limit);
  co_return core::unexpected(asio::error::not_connected);
}

core::Task<core::Result<net::Socket>> DataChannel::accept_from(net::Address peer,
                                                               const core::CidrList* proxy_from) {
  for (;;) {
    auto [ec, sock] = co_await acceptor_->async_accept(kTuple);
    if (ec)
      co_return core::unexpected(ec);
    std::error_code rec;
    auto remote = sock.remote_endpoint(rec);
    net::Address client = rec ? net::Address() : remote.address();
    if (!rec && proxy_from != nullptr) {
      // Through the load balancer: the client is in the PROXY header.
      rec = asio::error::access_denied;
      if (proxy_from->contains(remote.address())) {
        auto header = co_await net::read_proxy_header(sock, kProxyHeaderTimeout);
        if (header && header->source) {
          client = header->source->address();
          rec = {};
        }
      }
    }
    // SECURITY: only the control connection's client may use the data port
    // (RFC 2577 "port stealing"); a stranger is closed and we keep waiting.
    if (!rec && net::unmapped(client) == net::unmapped(peer)) {
      net::tune_data_socket(sock);
      co_return std::move(sock);
    }
    spdlog::warn("ftp: refused passive data connection from {} (control peer is {})",
                 rec ? remote.address().to_string() : client.to_string(), peer.to_string());
  }
}

core::Task<core::Result<net::Socket>> DataChannel::connect_active(net::Endpoint source) {
  auto target = *active_;
  if (source.port() != 0) {
    auto s = co_await net::connect_from(source, target);
    if (s) {
      net::tune_data_socket(*s);
      co_return std::move(*s);
    }
    if (s.error() != asio::error::access_denied && s.error() != asio::error::address_in_use &&
        s.error() != std::errc::address_not_available)
      co_return core::unexpected(s.error());
    if (s.error() == asio::error::access_denied && !g_warned_source_port.exchange(true))
      spdlog::warn("ftp: can not bind active data source port {} ({}); using any port",
                   source.port(), s.error().message());
  }
  auto s = co_await net::connect_from(net::Endpoint(source.address(), 0), target);
  if (!s)
    co_return core::unexpected(s.error());
  net::tune_data_socket(*s);
  co_return std::move(*s);
}

} // namespace berth::ftp
