#pragma once
// Bans client addresses after repeated failed logins, counted across every
// protocol (fail2ban's findtime/maxretry/bantime, SFTPGo's defender). Bans are
// kept in a store::BanStore so that they outlive a restart and `berth ban del`
// can lift them while the server runs.

#include "core/cidr.hpp"
#include "core/task.hpp"
#include "store/user_store.hpp"

#include <asio/ip/address.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

namespace berth::auth {

struct DefenderConfig {
  bool enabled = true;       ///< false: nothing is counted, nobody is banned.
  unsigned max_failures = 5; ///< Failed logins within `window` that earn a ban (0 is taken as 1).
  std::chrono::seconds window{600};         ///< Counted from an address's first failure.
  std::chrono::seconds ban_time{600};       ///< The first ban; each ban in a row doubles it.
  std::chrono::seconds max_ban_time{86400}; ///< Cap of the doubling. A ban that ended longer
                                            ///< than this ago no longer counts as "in a row".
  core::CidrList allow;                     ///< Never counted, never banned.
  /// An IPv6 client is counted and banned as its network of this many bits
  /// (core::address_group); IPv4 as its address.
  unsigned ipv6_prefix = core::kDefaultIpv6Prefix;
  /// How long the store's "no ban for this address" is believed before it is
  /// asked again. Bans made by this process are known at once; this bounds how
  /// late one made by another node sharing the store is seen.
  std::chrono::seconds store_recheck{60};
  /// Most addresses remembered (failure counts, and ban knowledge each); the
  /// oldest are forgotten first, so a spray of addresses can not exhaust memory.
  std::size_t max_tracked = 100'000;
};

/// Thread-safe: one Defender serves the sessions of every event loop. No lock is
/// held while the store is awaited.
///
/// Memory is a cache of the store, which is the truth: a ban known in memory is
/// confirmed with the store before it refuses a client (so a ban lifted with
/// `berth ban del` ends at once), and an address memory knows nothing about is
/// looked up there (so bans outlive a restart), then believed clean for
/// `store_recheck`. Without a store, memory alone decides (and forgets its
/// oldest bans when more than `max_tracked` are active).
///
/// A successful login does not clear the count (as fail2ban and SFTPGo): an
/// attacker holding one valid account could otherwise reset it between guesses.
class Defender {
public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;

  /// `bans` may be null (memory only); otherwise it must outlive the Defender.
  /// `clock` tells the time (tests inject one); empty: the system clock.
  Defender(DefenderConfig config, store::BanStore* bans, Clock clock = {});
  ~Defender();
  Defender(const Defender&) = delete;
  Defender& operator=(const Defender&) = delete;

  /// How long `client` stays banned (rounded up to whole seconds), or nullopt
  /// when it may log in. An IPv4-mapped IPv6 address is its IPv4 address; an
  /// IPv6 address is its network (ipv6_prefix), under which bans are stored. May
  /// await the store; a store error keeps what memory knows (a ban stays a ban).
  core::Task<std::optional<std::chrono::seconds>> banned(const asio::ip::address& client);

  /// Counts a failed login of `client`. The failure that reaches max_failures
  /// within the window bans the address for ban_time * 2^(level - 1), capped at
  /// max_ban_time, where level counts bans in a row (kept in store::Ban); the
  /// ban is stored and logged ("defender: banned IP for N s after M failed
  /// logins"). A store error is logged and the ban kept in memory. Failures of
  /// an address already banned are not counted.
  core::Task<void> failed(const asio::ip::address& client);

  /// New settings (a reload) for the calls that start after it; bans and
  /// failure counts are kept. `max_tracked` stays as constructed.
  void reconfigure(DefenderConfig config);

  /// Bans memory knows to be in force now (not confirmed with the store).
  std::size_t active_bans() const;

  /// Addresses with a failure count in memory (for the memory bound's tests).
  std::size_t tracked_for_test() const;

private:
  struct State;
  std::shared_ptr<const DefenderConfig> config() const;

  mutable std::mutex config_mu_;
  std::shared_ptr<const DefenderConfig> config_; // guarded by config_mu_
  store::BanStore* bans_;
  Clock clock_;
  std::unique_ptr<State> state_; // behind its own mutex
};

} // namespace berth::auth
