#pragma once
// Connection and session limits for every protocol together: connections in
// all, connections per client address, logged-in sessions per user, and
// password checks in progress (in all and per client address).

#include "core/cidr.hpp"

#include <asio/ip/address.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace berth::auth {

/// How clients are told apart, and the bounds of password checks in
/// progress (waiting for the hash workers or running there). 0: no bound.
struct AddressRules {
  /// An IPv6 client counts as its network of this many bits (a /64 is one
  /// subscriber's, all of whose addresses it may use); IPv4 as its address.
  unsigned ipv6_prefix = core::kDefaultIpv6Prefix;
  std::uint32_t max_checks = 0;
  std::uint32_t max_checks_per_address = 0;
  /// Full TLS handshakes of control connections per address and minute.
  std::uint32_t max_handshakes_per_minute = 0;
};

/// Thread-safe. A Ticket holds one place until it is destroyed; it may
/// outlive the Limits (sessions torn down after the server's objects).
class Limits {
  struct Counts;

public:
  /// 0 means no limit.
  Limits(std::uint32_t max_connections, std::uint32_t max_per_address, AddressRules rules = {});
  /// New limits over the counts of `counted`: the places its tickets hold
  /// count here too (a reload changes the limits, not who is connected).
  Limits(const Limits& counted, std::uint32_t max_connections, std::uint32_t max_per_address,
         AddressRules rules = {});
  ~Limits();
  Limits(const Limits&) = delete;
  Limits& operator=(const Limits&) = delete;

  /// One place, given back by the destructor. Movable; empty when default-made.
  class Ticket {
  public:
    Ticket() = default;
    Ticket(Ticket&& o) noexcept = default;
    Ticket& operator=(Ticket&& o) noexcept {
      if (this != &o) {
        release();
        owner_ = std::move(o.owner_);
        kind_ = o.kind_;
        key_ = std::move(o.key_);
      }
      return *this;
    }
    ~Ticket() { release(); }
    explicit operator bool() const { return owner_ != nullptr; }

  private:
    friend class Limits;
    enum class Kind { connection, session, check };
    Ticket(std::shared_ptr<Counts> owner, Kind kind, std::string key)
        : owner_(std::move(owner)), kind_(kind), key_(std::move(key)) {}
    void release();

    std::shared_ptr<Counts> owner_;
    Kind kind_ = Kind::connection;
    std::string key_;
  };

  /// A place for a new connection from `client`, or an empty ticket and the
  /// reason (for the refusal reply and the log) when a limit is reached.
  Ticket connect(const asio::ip::address& client, std::string* reason);

  /// A place for one more session of `user`, at most `max_sessions` (0: no limit).
  Ticket log_in(const std::string& user, std::uint32_t max_sessions, std::string* reason);

  /// A place for one password check of `client` (held while it waits for a
  /// hash worker and runs), or an empty ticket when the server's or the
  /// address's bound of checks in progress is reached.
  Ticket check_password(const asio::ip::address& client);

  /// Counts a control connection's TLS handshake from `client` at `now` and
  /// tells whether it may go ahead: at most max_handshakes_per_minute per
  /// address in a minute (counted from its first), refused ones included.
  bool allow_handshake(const asio::ip::address& client, std::chrono::steady_clock::time_point now);

  /// The text `client` is counted under (core::address_group).
  std::string group_of(const asio::ip::address& client) const {
    return core::address_group(client, rules_.ipv6_prefix);
  }

  std::uint32_t connections() const;

private:
  struct Counts {
    std::mutex mu;
    std::uint32_t connections = 0;                           // guarded by mu
    std::map<std::string, std::uint32_t> per_address;        // guarded by mu
    std::map<std::string, std::uint32_t> per_user;           // guarded by mu
    std::uint32_t checks = 0;                                // guarded by mu
    std::map<std::string, std::uint32_t> checks_per_address; // guarded by mu
    struct Window {
      std::chrono::steady_clock::time_point start;
      std::uint32_t count = 0;
    };
    std::unordered_map<std::string, Window> handshakes; // guarded by mu; bounded
    void give_back(Ticket::Kind kind, const std::string& key);
  };

  const std::uint32_t max_connections_;
  const std::uint32_t max_per_address_;
  const AddressRules rules_;
  std::shared_ptr<Counts> counts_; // shared with the tickets
};

} // namespace berth::auth
