#include "net/stream.hpp"

#include "core/errc.hpp"

#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

namespace berth::net {
namespace {
constexpr auto kTuple = asio::experimental::as_tuple(asio::use_awaitable);
}

core::Task<core::Result<std::size_t>> Stream::read_some(asio::mutable_buffer buf) {
  auto [ec, n] = co_await socket_.async_read_some(buf, kTuple);
  if (ec == asio::error::eof)
    co_return core::unexpected(core::Errc::closed);
  if (ec)
    co_return core::unexpected(ec);
  co_return n;
}

core::Task<core::Result<void>> Stream::write_all(asio::const_buffer buf) {
  auto [ec, n] = co_await asio::async_write(socket_, buf, kTuple);
  if (ec)
    co_return core::unexpected(ec);
  co_return core::Result<void>{};
}

void Stream::close() {
  std::error_code ignored;
  socket_.shutdown(Socket::shutdown_both, ignored);
  socket_.close(ignored);
}

Endpoint Stream::remote_endpoint() const {
  std::error_code ec;
  return socket_.remote_endpoint(ec);
}

Endpoint Stream::local_endpoint() const {
  std::error_code ec;
  return socket_.local_endpoint(ec);
}

} // namespace berth::net
