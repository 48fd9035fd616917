#pragma once
// The data connection of one FTP session: passive (we listen, PASV/EPSV) or
// active (we connect, PORT/EPRT).

#include "core/cidr.hpp"
#include "core/host_port.hpp"
#include "core/result.hpp"
#include "core/task.hpp"
#include "net/stream.hpp"
#include "net/types.hpp"

#include <chrono>
#include <optional>

namespace berth::core {
class Gauge;
}

namespace berth::ftp {

class DataChannel {
public:
  DataChannel() = default;
  DataChannel(const DataChannel&) = delete;
  DataChannel& operator=(const DataChannel&) = delete;
  ~DataChannel() { reset(); }

  /// Counts this channel's passive listener in `gauge` while it is open
  /// (berth_passive_ports_in_use). `gauge` outlives the channel.
  void count_in(core::Gauge* gauge) { gauge_ = gauge; }

  /// Forgets any passive listener or active target.
  void reset();

  /// True once PASV/EPSV or PORT/EPRT prepared a connection.
  bool configured() const { return acceptor_.has_value() || active_.has_value(); }

  /// Opens a passive listener on `local` and a free port of `range`; returns the port.
  core::Result<std::uint16_t> listen_passive(const asio::any_io_executor& ex,
                                             const net::Address& local, core::PortRange range);

  /// Remembers the active-mode target.
  void set_active(net::Endpoint target) {
    reset();
    active_ = target;
  }

  /// Without waiting, between PASV/EPSV and the transfer command: the
  /// connection the client already made, accepted as open() would, or
  /// nullptr (none yet; active mode; a load balancer in front). open() returns
  /// it; TLS may have been begun on it meanwhile (Stream::advance_tls()).
  net::Stream* accept_ready(const net::Address& peer, const core::CidrList* proxy_from);

  /// Establishes the connection, or takes the one accept_ready() accepted.
  /// Passive: accepts only a connection from `peer` (the control
  /// connection's client); others are closed and logged, and the wait goes on
  /// (RFC 2577). With `proxy_from` (the control connection came through a
  /// load balancer), a data connection must come from one of those peers with
  /// a PROXY header whose source is `peer`. Active: connects to the target
  /// from `source` (address and port; a port that can not be bound falls back
  /// to any port with one warning). Waits until cancel().
  core::Task<core::Result<net::Stream>> open(net::Address peer, net::Endpoint source,
                                             const core::CidrList* proxy_from = nullptr);

  /// Ends a pending open() with an error, from outside its coroutine (a
  /// deadline, a stopping server): the listener and any socket being set up
  /// are closed, so the end can not be missed. reset() before the next use.
  void cancel();

private:
  /// Tunes an accepted `sock` from `client` and says yes, or closes it with a
  /// warning if `client` is not the control connection's `peer`.
  static bool accepted(net::Socket& sock, const net::Address& client, const net::Address& peer);
  static void log_refused(const net::Address& from, const net::Address& peer);
  core::Task<core::Result<net::Socket>> accept_from(net::Address peer,
                                                    const core::CidrList* proxy_from);
  core::Task<core::Result<net::Socket>> connect_active(net::Endpoint source);

  std::optional<net::Acceptor> acceptor_;
  std::optional<net::Endpoint> active_;
  std::optional<net::Stream> ready_;  ///< Accepted by accept_ready(), for open().
  net::Socket* setting_up_ = nullptr; ///< Connecting, or reading its PROXY header.
  bool cancelled_ = false;
  core::Gauge* gauge_ = nullptr;
};

} // namespace berth::ftp
