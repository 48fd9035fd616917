#pragma once
// The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2): a load
// balancer in front of berth prepends a header naming the client's real
// address. The parser here is pure: bytes in, a value out, no I/O (see
// net/proxy_reader.hpp for reading one off a socket).

#include "net/types.hpp"

#include <cstddef>
#include <optional>
#include <span>
#include <system_error>

namespace berth::net {

/// Why a PROXY header was refused. Every value ends the connection.
enum class ProxyErrc {
  bad_signature = 1,   ///< Neither "PROXY " (v1) nor the 12-byte v2 signature.
  malformed,           ///< Not exactly the format: spacing, a lone CR or LF, short blocks.
  too_long,            ///< v1: no CRLF within 107 bytes; v2: more than kMaxProxyHeader bytes.
  unsupported_version, ///< v2 version nibble other than 2.
  unsupported_command, ///< v2 command other than LOCAL or PROXY.
  unsupported_family,  ///< v1 protocol other than TCP4/TCP6/UNKNOWN; v2 family or transport
                       ///< the specification does not define.
  bad_address,         ///< v1 address not in canonical form, or not of the announced family.
  bad_port,            ///< v1 port not a decimal 0-65535 without leading zeros.
};
const std::error_category& proxy_category() noexcept;
inline std::error_code make_error_code(ProxyErrc e) noexcept {
  return {static_cast<int>(e), proxy_category()};
}

/// The largest header accepted: a v2 header's 16 bytes, its addresses and its
/// TLVs together (the specification sets no bound; HAProxy's own TLVs fit easily).
inline constexpr std::size_t kMaxProxyHeader = 4096;
/// The longest v1 line, CRLF included ("PROXY UNKNOWN" with two full IPv6 addresses).
inline constexpr std::size_t kMaxProxyV1Line = 107;

/// A complete, valid header.
struct ProxyHeader {
  /// True for v2 LOCAL (a health check of the proxy itself), v1 UNKNOWN, and v2
  /// families or transports other than TCP over IPv4/IPv6: use the real peer.
  bool local = false;
  std::optional<Endpoint> source;      ///< The client, when !local.
  std::optional<Endpoint> destination; ///< The address the client connected to, when !local.
  std::size_t length = 0;              ///< Bytes the header takes (TLVs included).
  unsigned version = 0;                ///< 1 or 2.
};

/// What parse_proxy_header made of the bytes so far.
struct ProxyParse {
  enum class Kind {
    header,    ///< `header` holds a complete header of `header.length` bytes.
    need_more, ///< The bytes are a valid beginning; `at_least` bytes in all are needed.
    error,     ///< `error` says why the bytes can never begin a valid header.
  };
  Kind kind = Kind::need_more;
  ProxyHeader header;
  /// With need_more: the least total input size that can complete the header
  /// (always more than the bytes given; exact for v2 once its length is known).
  std::size_t at_least = 0;
  ProxyErrc error{};
};

/// Parses the PROXY header (v1 or v2) at the start of `data`. Bytes after the
/// header are not looked at. Strict: anything not exactly in the specification's
/// format is an error, reported as early as the bytes allow, and every prefix of
/// a valid header gives need_more. v2 TLVs are checked for framing and skipped.
ProxyParse parse_proxy_header(std::span<const std::byte> data);

} // namespace berth::net

template <> struct std::is_error_code_enum<berth::net::ProxyErrc> : std::true_type {};
