#include "net/proxy_reader.hpp"

#include "core/errc.hpp"
#include "support/run_task.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>

namespace berth::net {
namespace {

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
constexpr auto kTuple = asio::experimental::as_tuple(asio::use_awaitable);

const std::string kSshBanner = "SSH-2.0-x\r\n";
const std::string kV1 = "PROXY TCP4 192.0.2.1 198.51.100.7 56324 22\r\n";
// v2, PROXY, TCP over IPv6, 2001:db8::1 port 2222 -> ::1 port 22, one NOOP TLV.
const std::string kV2 = std::string("\r\n\r\n\0\r\nQUIT\n", 12) + "\x21\x21" +
                        std::string("\x00\x2a", 2) +
                        std::string("\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16) +
                        std::string("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", 16) +
                        std::string("\x08\xae\x00\x16", 4) + std::string("\x04\x00\x03pad", 6);

/// A connected loopback pair: `server` as accepted, `client` the peer.
struct Pair {
  Socket server;
  Socket client;
};

core::Task<Pair> connect_pair() {
  auto ex = co_await asio::this_coro::executor;
  Acceptor acceptor(ex, Endpoint(asio::ip::address_v4::loopback(), 0));
  Socket client(ex);
  co_await client.async_connect(acceptor.local_endpoint(), asio::use_awaitable);
  client.set_option(Tcp::no_delay(true));
  Socket server = co_await acceptor.async_accept(asio::use_awaitable);
  co_return Pair{std::move(server), std::move(client)};
}

core::Task<void> write_all(Socket& s, const std::string& data) {
  co_await asio::async_write(s, asio::buffer(data), asio::use_awaitable);
}

// Sends `data` one byte at a time with a pause between, so that the reader
// sees (and must wait after) every partial header.
core::Task<void> write_slowly(Socket& s, const std::string& data) {
  asio::steady_timer pause(s.get_executor());
  for (char c : data) {
    co_await asio::async_write(s, asio::buffer(&c, 1), asio::use_awaitable);
    pause.expires_after(1ms);
    co_await pause.async_wait(asio::use_awaitable);
  }
}

core::Task<std::string> read_exactly(Socket& s, std::size_t n) {
  std::string out(n, '\0');
  auto [ec, got] = co_await asio::async_read(s, asio::buffer(out), kTuple);
  out.resize(got);
  co_return out;
}

struct Outcome {
  core::Result<ProxyHeader> header = core::unexpected(core::Errc::closed);
  std::string after; // what the protocol reads next
};

// The client sends `data` (all at once or slowly) and closes if asked; the
// server reads the header, then `after_size` more bytes.
core::Task<Outcome> exchange(const std::string& data, bool slowly, bool close,
                             std::size_t after_size, std::chrono::milliseconds timeout = 5s) {
  Pair pair = co_await connect_pair();
  Outcome out;
  if (slowly) {
    auto read = read_proxy_header(pair.server, timeout);
    auto write = write_slowly(pair.client, data);
    out.header = co_await (std::move(read) && std::move(write));
  } else {
    if (!data.empty())
      co_await write_all(pair.client, data);
    if (close)
      pair.client.shutdown(Socket::shutdown_send);
    out.header = co_await read_proxy_header(pair.server, timeout);
  }
  if (out.header && after_size > 0)
    out.after = co_await read_exactly(pair.server, after_size);
  co_return out;
}

TEST(ProxyReader, LeavesTheProtocolsBytesInTheSocket) {
  auto out = test::run_task(exchange(kV1 + kSshBanner, false, false, kSshBanner.size()));
  ASSERT_TRUE(out.header) << out.header.error().message();
  EXPECT_EQ(out.header->length, kV1.size());
  EXPECT_EQ(out.header->source, Endpoint(asio::ip::make_address("192.0.2.1"), 56324));
  EXPECT_EQ(out.after, kSshBanner);
}

TEST(ProxyReader, V2ThenTlsClientHello) {
  const std::string hello("\x16\x03\x01\x00\x05hello", 10);
  auto out = test::run_task(exchange(kV2 + hello, false, false, hello.size()));
  ASSERT_TRUE(out.header) << out.header.error().message();
  EXPECT_EQ(out.header->length, kV2.size());
  EXPECT_EQ(out.header->source, Endpoint(asio::ip::make_address("2001:db8::1"), 2222));
  EXPECT_EQ(out.after, hello);
}

TEST(ProxyReader, HeaderSentAByteAtATime) {
  for (const std::string& header : {kV1, kV2}) {
    auto out = test::run_task(exchange(header + kSshBanner, true, false, kSshBanner.size()));
    ASSERT_TRUE(out.header) << out.header.error().message();
    EXPECT_EQ(out.header->length, header.size());
    EXPECT_FALSE(out.header->local);
    EXPECT_EQ(out.after, kSshBanner);
  }
}

TEST(ProxyReader, SilentPeerTimesOut) {
  auto out = test::run_task(exchange("", false, false, 0, 50ms));
  EXPECT_EQ(out.header.error(), core::Errc::timed_out);
}

TEST(ProxyReader, PartialHeaderTimesOut) {
  auto out = test::run_task(exchange(kV1.substr(0, 20), false, false, 0, 50ms));
  EXPECT_EQ(out.header.error(), core::Errc::timed_out);
}

TEST(ProxyReader, GarbageIsRefused) {
  auto out = test::run_task(exchange("GET / HTTP/1.0\r\n\r\n", false, false, 0));
  EXPECT_EQ(out.header.error(), ProxyErrc::bad_signature);
  out = test::run_task(exchange(kSshBanner, false, false, 0));
  EXPECT_EQ(out.header.error(), ProxyErrc::bad_signature);
  out = test::run_task(exchange("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", false, false, 0));
  EXPECT_EQ(out.header.error(), ProxyErrc::malformed);
  out = test::run_task(exchange("PROXY UNKNOWN " + std::string(200, 'x'), false, false, 0));
  EXPECT_EQ(out.header.error(), ProxyErrc::too_long);
}

TEST(ProxyReader, PeerClosingEarlyIsClosed) {
  auto out = test::run_task(exchange(kV2.substr(0, 20), false, true, 0));
  EXPECT_EQ(out.header.error(), core::Errc::closed);
  out = test::run_task(exchange("", false, true, 0));
  EXPECT_EQ(out.header.error(), core::Errc::closed);
}

TEST(ProxyReader, LocalHeaderUsesTheRealPeer) {
  auto out =
      test::run_task(exchange("PROXY UNKNOWN\r\n" + kSshBanner, false, false, kSshBanner.size()));
  ASSERT_TRUE(out.header);
  EXPECT_TRUE(out.header->local);
  EXPECT_EQ(out.after, kSshBanner);
}

} // namespace
} // namespace berth::net
