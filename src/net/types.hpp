#pragma once
// Socket and timer aliases used across the protocol layers.

#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

namespace berth::net {

using Tcp = asio::ip::tcp;
using Socket = asio::ip::tcp::socket;
using Acceptor = asio::ip::tcp::acceptor;
using Endpoint = asio::ip::tcp::endpoint;
using Address = asio::ip::address;

/// An IPv4-mapped IPv6 address as plain IPv4; anything else unchanged.
inline Address unmapped(const Address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  return a;
}

} // namespace berth::net
