#pragma once
// Passive-mode data ports: a listener on a random free port of the configured range.

#include "core/host_port.hpp"
#include "core/result.hpp"
#include "net/types.hpp"

#include <asio/any_io_executor.hpp>

namespace berth::net {

/// Opens a listener on `address` and a random free port of `range`. Thread-safe
/// (the kernel decides which ports are free). Errors: address_in_use when no port
/// of the range could be bound after a bounded number of tries.
core::Result<Acceptor> open_passive(const asio::any_io_executor& ex, const Address& address,
                                    core::PortRange range);

} // namespace berth::net
