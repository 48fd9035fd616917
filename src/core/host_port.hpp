#pragma once
// Parsing of "ADDRESS:PORT" strings from the configuration. Pure: no sockets.

#include "core/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace berth::core {

/// An IP literal and a port, as written in the configuration.
struct HostPort {
  std::string host; ///< IPv4 dotted quad or IPv6 literal without brackets.
  std::uint16_t port = 0;
  bool v6 = false;
};

/// Parses "1.2.3.4:21" or "[::1]:21". Errors: std::errc::invalid_argument.
Result<HostPort> parse_host_port(std::string_view text);

/// True if `text` is an IPv4 dotted quad.
bool is_ipv4_literal(std::string_view text);

/// True if `text` is a DNS host name (RFC 1123 2.1): dot-separated labels of
/// 1-63 letters, digits and hyphens, no hyphen at either end of a label, 253
/// characters at most, a last label not all digits (so that a malformed
/// address such as "10.0.0.256" is not taken for a name). One trailing dot
/// is allowed.
bool is_host_name(std::string_view text);

/// Formats a host and port back: "1.2.3.4:21" or "[::1]:21".
std::string format_host_port(std::string_view host, std::uint16_t port);

/// A range of TCP ports, both ends included.
struct PortRange {
  std::uint16_t low = 0;
  std::uint16_t high = 0;
};

/// Parses "LOW-HIGH" with 1 <= LOW <= HIGH <= 65535. Errors: std::errc::invalid_argument.
Result<PortRange> parse_port_range(std::string_view text);

} // namespace berth::core
