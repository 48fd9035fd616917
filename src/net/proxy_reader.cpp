#include "net/proxy_reader.hpp"

#include "core/timeout.hpp"
#include "net/socket_ops.hpp"

#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/read.hpp>
#include <asio/use_awaitable.hpp>

#include <array>
#include <cstddef>

namespace berth::net {
namespace {
constexpr auto kTuple = asio::experimental::as_tuple(asio::use_awaitable);

// Peeks at what has arrived, and consumes only bytes the parser has placed
// inside the header: while it needs more, everything seen so far belongs to the
// header (a complete header or an error would have been reported), so it is
// taken out of the socket, and the next wait sleeps until new bytes come
// instead of waking at once for the bytes already seen.
core::Task<core::Result<ProxyHeader>> read_header(Socket& socket) {
  std::array<std::byte, kMaxProxyHeader> buf{};
  std::size_t consumed = 0; // header bytes taken out of the socket, at the front of buf
  for (;;) {
    auto [wait_ec] = co_await socket.async_wait(Socket::wait_read, kTuple);
    if (wait_ec)
      co_return core::unexpected(wait_ec);
    auto free = std::span<std::byte>(buf).subspan(consumed);
    auto peeked = peek(socket, free);
    if (!peeked) {
      if (peeked.error() == asio::error::would_block)
        continue;
      co_return core::unexpected(peeked.error());
    }
    std::size_t seen = consumed + *peeked;
    ProxyParse parse = parse_proxy_header(std::span<const std::byte>(buf).first(seen));
    if (parse.kind == ProxyParse::Kind::error)
      co_return core::unexpected(parse.error);
    std::size_t take = *peeked;
    if (parse.kind == ProxyParse::Kind::header)
      take = parse.header.length - consumed;
    else if (seen >= buf.size())
      co_return core::unexpected(ProxyErrc::too_long); // the parser bounds headers below this
    // The bytes are queued already: this read completes without waiting.
    auto [read_ec, n] = co_await asio::async_read(socket, asio::buffer(free.data(), take), kTuple);
    if (read_ec)
      co_return core::unexpected(read_ec);
    consumed += n;
    if (parse.kind == ProxyParse::Kind::header)
      co_return std::move(parse.header);
  }
}

} // namespace

core::Task<core::Result<ProxyHeader>> read_proxy_header(Socket& socket,
                                                        std::chrono::milliseconds timeout) {
  auto op = read_header(socket);
  co_return co_await core::with_timeout(std::move(op), timeout);
}

} // namespace berth::net
