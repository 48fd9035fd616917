#include "net/passive_ports.hpp"

#include <asio/error.hpp>
#include <asio/ip/v6_only.hpp>

#include <random>

namespace berth::net {

core::Result<Acceptor> open_passive(const asio::any_io_executor& ex, const Address& address,
                                    core::PortRange range) {
  thread_local std::mt19937 rng{std::random_device{}()};
  const unsigned span = static_cast<unsigned>(range.high - range.low) + 1u;
  std::uniform_int_distribution<unsigned> pick(0, span - 1);
  // Random probes first, then a sweep from a random start, so that a nearly
  // full range still finds its last free port.
  const unsigned probes = std::min(span, 64u);
  const unsigned start = pick(rng);
  for (unsigned i = 0; i < probes + span; ++i) {
    unsigned offset = i < probes ? pick(rng) : (start + i - probes) % span;
    auto port = static_cast<std::uint16_t>(range.low + offset);
    Acceptor a(ex);
    std::error_code ec;
    a.open(address.is_v6() ? Tcp::v6() : Tcp::v4(), ec);
    if (!ec && address.is_v6())
      a.set_option(asio::ip::v6_only(true), ec);
    // Ports of finished transfers linger in TIME_WAIT; without this a small
    // range runs dry after a few transfers.
    if (!ec)
      a.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec)
      a.bind(Endpoint(address, port), ec);
    if (!ec)
      a.listen(1, ec);
    if (!ec)
      return a;
    if (ec != asio::error::address_in_use && ec != asio::error::access_denied)
      return core::unexpected(ec);
  }
  return core::unexpected(asio::error::address_in_use);
}

} // namespace berth::net
