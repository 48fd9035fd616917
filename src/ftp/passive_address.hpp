#pragma once
// The address a PASV reply announces: chosen by the control connection's
// client ([ftp] passive_address_rules, then passive_address), an IPv4 address
// or a host name resolved off the event loop and re-resolved at most once a
// minute, the last good answer kept while lookups fail.

#include "core/cidr.hpp"
#include "core/config.hpp"
#include "core/result.hpp"
#include "core/task.hpp"
#include "net/types.hpp"

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace berth::ftp {

/// Thread-safe: the sessions of every event-loop thread share one.
class PassiveAddresses {
public:
  /// How long an answer is used before the name is looked up again.
  static constexpr std::chrono::seconds kRefresh{60};

  /// From a validated configuration (blocks and names checked by core::Config).
  explicit PassiveAddresses(const core::FtpConfig& config);

  /// The IPv4 address to announce to `client` (unmapped), or nullopt when
  /// nothing is configured for it (announce the local address). May await a
  /// lookup (asio's resolver, on its own thread; at most `limit`). Errors:
  /// the lookup's error or core::Errc::timed_out when a name has no answer
  /// yet, std::errc::address_family_not_supported when it has no IPv4 one.
  core::Task<core::Result<std::optional<std::string>>>
  for_client(net::Address client, std::chrono::steady_clock::duration limit);

private:
  struct Rule {
    core::CidrList from;
    std::string address;
  };
  struct Name {
    std::string last_good; ///< Empty until a lookup succeeded.
    std::chrono::steady_clock::time_point next_lookup{};
  };
  core::Task<core::Result<std::string>> resolve(std::string name,
                                                std::chrono::steady_clock::duration limit);

  std::vector<Rule> rules_;
  std::string fallback_;
  std::mutex mutex_;
  std::map<std::string, Name> names_; ///< Host names of the configuration (fixed set).
};

} // namespace berth::ftp
