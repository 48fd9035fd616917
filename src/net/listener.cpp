#include "net/listener.hpp"

#include <asio/ip/v6_only.hpp>

namespace berth::net {

core::Result<Acceptor> bind_listener(asio::io_context& ctx, const Endpoint& ep, int backlog) {
  Acceptor a(ctx);
  std::error_code ec;
  a.open(ep.protocol(), ec);
  if (!ec)
    a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && ep.address().is_v6())
    a.set_option(asio::ip::v6_only(true), ec);
  if (!ec)
    a.bind(ep, ec);
  if (!ec)
    a.listen(backlog, ec);
  if (ec)
    return core::unexpected(ec);
  return a;
}

} // namespace berth::net
