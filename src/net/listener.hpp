#pragma once
// Listening sockets.

#include "core/result.hpp"
#include "net/types.hpp"

#include <asio/io_context.hpp>

namespace berth::net {

/// Binds and listens on `ep` (SO_REUSEADDR; IPV6_V6ONLY for IPv6 addresses).
core::Result<Acceptor> bind_listener(asio::io_context& ctx, const Endpoint& ep, int backlog);

} // namespace berth::net
