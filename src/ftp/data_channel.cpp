#include "ftp/data_channel.hpp"

#include "core/log.hpp"
#include "core/metrics.hpp"
#include "net/passive_ports.hpp"
#include "net/proxy_reader.hpp"
#include "net/socket_ops.hpp"

#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>

namespace berth::ftp {
namespace {
constexpr auto kTuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr std::chrono::milliseconds kProxyHeaderTimeout{10000};
std::atomic<bool> g_warned_source_port{false};
} // namespace

void DataChannel::cancel() {
  cancelled_ = true;
  std::error_code ignored;
  if (acceptor_)
    acceptor_->close(ignored);
  if (setting_up_ != nullptr)
    setting_up_->close(ignored);
}

void DataChannel::reset() {
  cancelled_ = false;
  if (acceptor_) {
    std::error_code ignored;
    acceptor_->close(ignored);
    if (gauge_ != nullptr)
      gauge_->sub();
  }
  acceptor_.reset();
  active_.reset();
  ready_.reset();
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

net::Stream* DataChannel::accept_ready(const net::Address& peer, const core::CidrList* proxy_from) {
  if (ready_)
    return &*ready_;
  if (!acceptor_ || cancelled_ || proxy_from != nullptr)
    return nullptr;
  std::error_code ec;
  if (!acceptor_->non_blocking())
    acceptor_->non_blocking(true, ec);
  for (;;) {
    net::Endpoint remote;
    net::Socket sock = acceptor_->accept(remote, ec);
    if (ec)
      return nullptr; // would_block: not yet; anything else: open() meets it too
    if (accepted(sock, remote.address(), peer)) {
      ready_.emplace(std::move(sock));
      return &*ready_;
    }
  }
}

core::Task<core::Result<net::Stream>> DataChannel::open(net::Address peer, net::Endpoint source,
                                                        const core::CidrList* proxy_from) {
  if (cancelled_)
    co_return core::unexpected(asio::error::operation_aborted);
  if (ready_) {
    net::Stream s = std::move(*ready_);
    ready_.reset();
    co_return std::move(s);
  }
  core::Result<net::Socket> sock = core::unexpected(asio::error::not_connected);
  if (acceptor_)
    sock = co_await accept_from(peer, proxy_from);
  else if (active_)
    sock = co_await connect_active(source);
  if (!sock)
    co_return core::unexpected(sock.error());
  co_return net::Stream(std::move(*sock));
}

bool DataChannel::accepted(net::Socket& sock, const net::Address& client,
                           const net::Address& peer) {
  // SECURITY: only the control connection's client may use the data port
  // (RFC 2577 "port stealing"); a stranger is closed and we keep waiting.
  if (net::unmapped(client) == net::unmapped(peer)) {
    net::tune_data_socket(sock);
    return true;
  }
  log_refused(client, peer);
  std::error_code ignored;
  sock.close(ignored);
  return false;
}

void DataChannel::log_refused(const net::Address& from, const net::Address& peer) {
  spdlog::warn("ftp: refused passive data connection from {} (control peer is {})",
               from.to_string(), peer.to_string());
}

namespace {
// Points `slot` at a socket being set up for as long as it lives in scope.
struct SettingUp {
  net::Socket*& slot;
  SettingUp(net::Socket*& s, net::Socket& sock) : slot(s) { slot = &sock; }
  SettingUp(const SettingUp&) = delete;
  SettingUp& operator=(const SettingUp&) = delete;
  ~SettingUp() { slot = nullptr; }
};
} // namespace

core::Task<core::Result<net::Socket>> DataChannel::accept_from(net::Address peer,
                                                               const core::CidrList* proxy_from) {
  for (;;) {
    net::Endpoint remote; // from accept(2) itself, no getpeername(2)
    auto [ec, sock] = co_await acceptor_->async_accept(remote, kTuple);
    if (ec)
      co_return core::unexpected(ec);
    net::Address client = remote.address();
    bool known = proxy_from == nullptr; // false while a PROXY header is missing or wrong
    if (!known && proxy_from->contains(remote.address())) {
      // Through the load balancer: the client is in the PROXY header.
      const SettingUp watched(setting_up_, sock);
      auto header = co_await net::read_proxy_header(sock, kProxyHeaderTimeout);
      if (header && header->source) {
        client = header->source->address();
        known = true;
      }
    }
    if (cancelled_)
      co_return core::unexpected(asio::error::operation_aborted);
    if (!known)
      log_refused(remote.address(), peer);
    else if (accepted(sock, client, peer))
      co_return std::move(sock);
  }
}

core::Task<core::Result<net::Socket>> DataChannel::connect_active(net::Endpoint source) {
  auto target = *active_;
  net::Socket s(co_await asio::this_coro::executor);
  const SettingUp watched(setting_up_, s);
  if (source.port() != 0) {
    auto c = co_await net::connect_from(s, source, target);
    if (c) {
      net::tune_data_socket(s);
      co_return std::move(s);
    }
    if (cancelled_ ||
        (c.error() != asio::error::access_denied && c.error() != asio::error::address_in_use &&
         c.error() != std::errc::address_not_available))
      co_return core::unexpected(c.error());
    if (c.error() == asio::error::access_denied && !g_warned_source_port.exchange(true))
      spdlog::warn("ftp: can not bind active data source port {} ({}); using any port",
                   source.port(), c.error().message());
    std::error_code ignored;
    s.close(ignored);
  }
  auto c = co_await net::connect_from(s, net::Endpoint(source.address(), 0), target);
  if (!c)
    co_return core::unexpected(c.error());
  if (cancelled_)
    co_return core::unexpected(asio::error::operation_aborted);
  net::tune_data_socket(s);
  co_return std::move(s);
}

} // namespace berth::ftp
