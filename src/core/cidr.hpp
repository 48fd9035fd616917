#pragma once
// Address blocks ("10.0.0.0/8", "2001:db8::/32", or one address) for allow
// lists: users' allow_from, the defender's never-ban list, proxy_from.

#include <asio/ip/address.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::core {

/// `client` within `cidr` ("10.0.0.0/8"); false for a malformed block. An
/// IPv4-mapped IPv6 client matches IPv4 blocks.
bool in_cidr(const asio::ip::address& client, std::string_view cidr);

/// How IPv6 clients are grouped by default: one /64 is one subscriber's
/// network (RFC 6177), every address of which the client may use.
inline constexpr unsigned kDefaultIpv6Prefix = 64;

/// The text a client is counted and banned under (per-address limits, the
/// defender): an IPv4 address (also IPv4-mapped IPv6) as itself; an IPv6
/// address as its network of `ipv6_prefix` bits, "2001:db8:1:2::/64" (no
/// zone), or as itself for 128. `ipv6_prefix` is 1 to 128 (taken as 128 above).
std::string address_group(const asio::ip::address& client, unsigned ipv6_prefix);

/// True when `text` is a block in_cidr understands, or a plain address.
bool valid_cidr(std::string_view text);

/// A list of blocks; a plain address is a block of one.
class CidrList {
public:
  CidrList() = default;
  /// Fails (nullopt, `bad` set to the offending entry) when an entry is not a block.
  static std::optional<CidrList> parse(const std::vector<std::string>& blocks,
                                       std::string* bad = nullptr);
  bool empty() const { return blocks_.empty(); }
  bool contains(const asio::ip::address& client) const;
  const std::vector<std::string>& blocks() const { return blocks_; }

private:
  std::vector<std::string> blocks_; // normalised: always with a prefix length
};

} // namespace berth::core
