#pragma once
// Reads a PROXY protocol header (net/proxy_protocol.hpp) off a freshly
// accepted connection, before the protocol's own first byte.

#include "core/result.hpp"
#include "core/task.hpp"
#include "net/proxy_protocol.hpp"
#include "net/types.hpp"

#include <chrono>

namespace berth::net {

/// Reads the PROXY header (v1 or v2) at the start of `socket` and consumes
/// exactly its bytes: what follows (an SSH version line, a TLS ClientHello)
/// stays in the socket for the protocol. Waits at most `timeout` for the whole
/// header (proxy-protocol.txt section 2 suggests a few seconds).
/// Errors: a ProxyErrc when the bytes are not a valid header, core::Errc::closed
/// when the peer closes first, core::Errc::timed_out, or the socket error. After
/// an error the connection is to be closed (some header bytes may be consumed).
/// Awaited directly: `socket` must outlive it.
core::Task<core::Result<ProxyHeader>> read_proxy_header(Socket& socket,
                                                        std::chrono::milliseconds timeout);

} // namespace berth::net
