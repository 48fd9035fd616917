#include "net/socket_ops.hpp"

#include "core/errc.hpp"

#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace berth::net {
namespace {
constexpr auto kTuple = asio::experimental::as_tuple(asio::use_awaitable);
// Yield to other sessions on this loop after this many bytes without blocking.
constexpr std::uint64_t kFairnessSlice = 8u << 20;
constexpr std::size_t kSendfileChunk = 1u << 20;
constexpr int kPipeSize = 1 << 20;
} // namespace

void tune_control_socket(Socket& s) {
  std::error_code ignored;
  s.set_option(Tcp::no_delay(true), ignored);
  int one = 1;
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_OOBINLINE, &one, sizeof one);
}

namespace {
// Asio keeps the mode it set: asking costs no system call, setting one.
void ensure_non_blocking(Socket& s) {
  std::error_code ignored;
  if (!s.native_non_blocking())
    s.native_non_blocking(true, ignored);
}
} // namespace

void tune_data_socket(Socket& s) {
  ensure_non_blocking(s);
}

void ack_now(Socket& s) {
  const int one = 1;
  (void)::setsockopt(s.native_handle(), IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
}

core::Task<core::Result<void>> connect_from(Socket& s, Endpoint local, Endpoint remote) {
  std::error_code ec;
  s.open(remote.protocol(), ec);
  if (ec)
    co_return core::unexpected(ec);
  if (local.port() != 0)
    s.set_option(asio::socket_base::reuse_address(true), ec);
  s.bind(local, ec);
  if (ec)
    co_return core::unexpected(ec);
  auto [cec] = co_await s.async_connect(remote, kTuple);
  if (cec)
    co_return core::unexpected(cec);
  co_return core::Result<void>{};
}

core::Task<core::Result<std::uint64_t>> send_file(Socket& s, int fd, std::uint64_t& offset,
                                                  std::uint64_t count) {
  ensure_non_blocking(s);
  std::uint64_t sent = 0;
  std::uint64_t since_yield = 0;
  while (sent < count) {
    auto chunk = static_cast<std::size_t>(std::min<std::uint64_t>(count - sent, kSendfileChunk));
    auto off = static_cast<off_t>(offset);
    ssize_t n = ::sendfile(s.native_handle(), fd, &off, chunk);
    if (n > 0) {
      offset += static_cast<std::uint64_t>(n);
      sent += static_cast<std::uint64_t>(n);
      since_yield += static_cast<std::uint64_t>(n);
      if (since_yield >= kFairnessSlice) {
        since_yield = 0;
        co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
      }
      continue;
    }
    if (n == 0)
      break; // end of file
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN)
      co_return core::unexpected(std::error_code(errno, std::system_category()));
    since_yield = 0;
    auto [ec] = co_await s.async_wait(Socket::wait_write, kTuple);
    if (ec)
      co_return core::unexpected(ec);
  }
  co_return sent;
}

core::Result<Pipe> Pipe::open() {
  Pipe p;
  if (::pipe2(p.fds_, O_CLOEXEC | O_NONBLOCK) != 0)
    return core::unexpected(std::error_code(errno, std::system_category()));
  // Larger than the default 64 KiB where the system allows it; a refusal
  // (pipe-user-pages-soft reached) keeps the default.
  int size = ::fcntl(p.fds_[1], F_SETPIPE_SZ, kPipeSize);
  if (size < 0)
    size = ::fcntl(p.fds_[1], F_GETPIPE_SZ);
  p.capacity_ = size > 0 ? static_cast<std::size_t>(size) : 65536;
  return p;
}

Pipe::Pipe(Pipe&& o) noexcept : capacity_(o.capacity_) {
  fds_[0] = std::exchange(o.fds_[0], -1);
  fds_[1] = std::exchange(o.fds_[1], -1);
}

Pipe::~Pipe() {
  for (int fd : fds_)
    if (fd >= 0)
      ::close(fd);
}

core::Task<core::Result<std::size_t>> Pipe::fill_from(Socket& s) {
  ensure_non_blocking(s);
  if (since_yield_ >= kFairnessSlice) {
    since_yield_ = 0;
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  }
  for (;;) {
    ssize_t n = ::splice(s.native_handle(), nullptr, fds_[1], nullptr, capacity_,
                         SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n >= 0) {
      since_yield_ += static_cast<std::uint64_t>(n);
      co_return static_cast<std::size_t>(n);
    }
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN)
      co_return core::unexpected(std::error_code(errno, std::system_category()));
    since_yield_ = 0;
    auto [ec] = co_await s.async_wait(Socket::wait_read, kTuple);
    if (ec)
      co_return core::unexpected(ec);
  }
}

core::Result<std::size_t> peek(Socket& s, std::span<std::byte> buf) {
  for (;;) {
    ssize_t n = ::recv(s.native_handle(), buf.data(), buf.size(), MSG_PEEK | MSG_DONTWAIT);
    if (n > 0)
      return static_cast<std::size_t>(n);
    if (n == 0)
      return core::unexpected(core::Errc::closed);
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return core::unexpected(make_error_code(asio::error::would_block));
    return core::unexpected(std::error_code(errno, std::system_category()));
  }
}

} // namespace berth::net
