#include "net/proxy_protocol.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace berth::net {
namespace {

class Category final : public std::error_category {
public:
  const char* name() const noexcept override { return "berth.net.proxy"; }
  std::string message(int ev) const override {
    switch (static_cast<ProxyErrc>(ev)) {
    case ProxyErrc::bad_signature:
      return "not a PROXY protocol header";
    case ProxyErrc::malformed:
      return "malformed PROXY header";
    case ProxyErrc::too_long:
      return "PROXY header too long";
    case ProxyErrc::unsupported_version:
      return "unsupported PROXY protocol version";
    case ProxyErrc::unsupported_command:
      return "unsupported PROXY command";
    case ProxyErrc::unsupported_family:
      return "unsupported PROXY address family or protocol";
    case ProxyErrc::bad_address:
      return "bad address in PROXY header";
    case ProxyErrc::bad_port:
      return "bad port in PROXY header";
    }
    return "unknown PROXY protocol error";
  }
};

// proxy-protocol.txt section 2.2: "\r\n\r\n\0\r\nQUIT\n".
constexpr std::array<unsigned char, 12> kV2Signature{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                     0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr std::size_t kV2Fixed = 16; // signature, version/command, family, length
constexpr std::string_view kV1Signature = "PROXY";

// v2 nibbles.
constexpr unsigned kCommandLocal = 0x0;
constexpr unsigned kCommandProxy = 0x1;
constexpr unsigned kFamilyInet = 0x1;
constexpr unsigned kFamilyInet6 = 0x2;
constexpr unsigned kFamilyLast = 0x3; // AF_UNIX
constexpr unsigned kTransportStream = 0x1;
constexpr unsigned kTransportLast = 0x2; // DGRAM
constexpr std::size_t kInetBlock = 2 * 4 + 2 * 2;
constexpr std::size_t kInet6Block = 2 * 16 + 2 * 2;
constexpr std::size_t kTlvHeader = 3; // type, length (16 bits)

ProxyParse need(std::size_t at_least) {
  ProxyParse p;
  p.kind = ProxyParse::Kind::need_more;
  p.at_least = at_least;
  return p;
}

ProxyParse fail(ProxyErrc e) {
  ProxyParse p;
  p.kind = ProxyParse::Kind::error;
  p.error = e;
  return p;
}

ProxyParse done(ProxyHeader h) {
  ProxyParse p;
  p.kind = ProxyParse::Kind::header;
  p.header = std::move(h);
  return p;
}

unsigned byte_at(std::span<const std::byte> data, std::size_t i) {
  return std::to_integer<unsigned>(data[i]);
}

std::uint16_t u16_at(std::span<const std::byte> data, std::size_t i) {
  return static_cast<std::uint16_t>(byte_at(data, i) << 8 | byte_at(data, i + 1));
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// A decimal number of at most `max_digits` digits, no leading zero unless it is
// "0" (section 2.1 forbids them, "to avoid any possible confusion with octal").
std::optional<unsigned> parse_decimal(std::string_view text, std::size_t max_digits) {
  if (text.empty() || text.size() > max_digits || (text.size() > 1 && text[0] == '0') ||
      !std::all_of(text.begin(), text.end(), is_digit))
    return std::nullopt;
  unsigned value = 0;
  for (char c : text)
    value = value * 10 + static_cast<unsigned>(c - '0');
  return value;
}

std::optional<asio::ip::address_v4> parse_v4(std::string_view text) {
  asio::ip::address_v4::bytes_type bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto dot = text.find('.');
    if ((i + 1 < bytes.size()) == (dot == std::string_view::npos))
      return std::nullopt; // three dots, no more and no fewer
    auto part = parse_decimal(text.substr(0, dot), 3);
    if (!part || *part > 255)
      return std::nullopt;
    bytes[i] = static_cast<unsigned char>(*part);
    text = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
  }
  return asio::ip::address_v4(bytes);
}

std::optional<asio::ip::address_v6> parse_v6(std::string_view text) {
  // Hex groups, colons and an embedded IPv4 tail only: no scope ("%eth0"),
  // which inet_pton-based parsers would take.
  constexpr std::size_t kLongest = 45; // INET6_ADDRSTRLEN without the NUL
  auto allowed = [](char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
  };
  if (text.empty() || text.size() > kLongest || !std::all_of(text.begin(), text.end(), allowed))
    return std::nullopt;
  std::error_code ec;
  auto a = asio::ip::make_address_v6(std::string(text), ec);
  if (ec)
    return std::nullopt;
  return a;
}

std::optional<Address> parse_address(std::string_view text, bool v6) {
  if (v6) {
    if (auto a = parse_v6(text))
      return Address(*a);
    return std::nullopt;
  }
  if (auto a = parse_v4(text))
    return Address(*a);
  return std::nullopt;
}

// One complete v1 line without its CRLF; `length` counts the CRLF.
ProxyParse parse_v1_line(std::string_view line, std::size_t length) {
  std::string_view rest = line.substr(kV1Signature.size() + 1);
  auto space = rest.find(' ');
  std::string_view protocol = rest.substr(0, space);
  if (protocol.empty())
    return fail(ProxyErrc::malformed);
  if (protocol == "UNKNOWN") {
    // Section 2.1: the receiver ignores whatever follows up to the CRLF.
    ProxyHeader h;
    h.local = true;
    h.length = length;
    h.version = 1;
    return done(h);
  }
  bool v6 = false;
  if (protocol == "TCP6")
    v6 = true;
  else if (protocol != "TCP4")
    return fail(ProxyErrc::unsupported_family);
  if (space == std::string_view::npos)
    return fail(ProxyErrc::malformed);

  // Exactly four fields separated by single spaces.
  std::array<std::string_view, 4> fields;
  std::string_view tail = rest.substr(space + 1);
  for (std::size_t i = 0; i < fields.size(); ++i) {
    auto sp = tail.find(' ');
    if ((i + 1 < fields.size()) == (sp == std::string_view::npos))
      return fail(ProxyErrc::malformed);
    fields[i] = tail.substr(0, sp);
    if (fields[i].empty())
      return fail(ProxyErrc::malformed);
    tail = sp == std::string_view::npos ? std::string_view{} : tail.substr(sp + 1);
  }
  auto source = parse_address(fields[0], v6);
  auto destination = parse_address(fields[1], v6);
  if (!source || !destination)
    return fail(ProxyErrc::bad_address);
  auto source_port = parse_decimal(fields[2], 5);
  auto destination_port = parse_decimal(fields[3], 5);
  if (!source_port || !destination_port || *source_port > 65535 || *destination_port > 65535)
    return fail(ProxyErrc::bad_port);

  ProxyHeader h;
  h.source = Endpoint(*source, static_cast<std::uint16_t>(*source_port));
  h.destination = Endpoint(*destination, static_cast<std::uint16_t>(*destination_port));
  h.length = length;
  h.version = 1;
  return done(h);
}

ProxyParse parse_v1(std::span<const std::byte> data) {
  // "PROXY" and exactly one space.
  std::size_t prefix = std::min(data.size(), kV1Signature.size() + 1);
  for (std::size_t i = 0; i < prefix; ++i) {
    char want = i < kV1Signature.size() ? kV1Signature[i] : ' ';
    if (byte_at(data, i) != static_cast<unsigned char>(want))
      return fail(i < kV1Signature.size() ? ProxyErrc::bad_signature : ProxyErrc::malformed);
  }
  // Section 2.1: the CRLF must come within 107 bytes, and a lone CR or LF
  // never ends the line.
  std::size_t limit = std::min(data.size(), kMaxProxyV1Line);
  for (std::size_t i = 0; i < limit; ++i) {
    unsigned c = byte_at(data, i);
    if (c == '\n')
      return fail(ProxyErrc::malformed);
    if (c != '\r')
      continue;
    if (i + 1 == kMaxProxyV1Line)
      return fail(ProxyErrc::too_long);
    if (i + 1 == data.size())
      return need(data.size() + 1);
    if (byte_at(data, i + 1) != '\n')
      return fail(ProxyErrc::malformed);
    std::string_view line(reinterpret_cast<const char*>(data.data()), i);
    return parse_v1_line(line, i + 2);
  }
  if (data.size() >= kMaxProxyV1Line)
    return fail(ProxyErrc::too_long);
  return need(data.size() + 1);
}

Endpoint inet_endpoint(std::span<const std::byte> block, std::size_t address_offset,
                       std::size_t port_offset) {
  asio::ip::address_v4::bytes_type bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<unsigned char>(byte_at(block, address_offset + i));
  return Endpoint(asio::ip::address_v4(bytes), u16_at(block, port_offset));
}

Endpoint inet6_endpoint(std::span<const std::byte> block, std::size_t address_offset,
                        std::size_t port_offset) {
  asio::ip::address_v6::bytes_type bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<unsigned char>(byte_at(block, address_offset + i));
  return Endpoint(asio::ip::address_v6(bytes), u16_at(block, port_offset));
}

ProxyParse parse_v2(std::span<const std::byte> data) {
  std::size_t prefix = std::min(data.size(), kV2Signature.size());
  for (std::size_t i = 0; i < prefix; ++i)
    if (byte_at(data, i) != kV2Signature[i])
      return fail(ProxyErrc::bad_signature);
  if (data.size() <= kV2Signature.size())
    return need(kV2Fixed);

  unsigned version = byte_at(data, 12) >> 4;
  unsigned command = byte_at(data, 12) & 0xF;
  if (version != 2)
    return fail(ProxyErrc::unsupported_version);
  if (command != kCommandLocal && command != kCommandProxy)
    return fail(ProxyErrc::unsupported_command);
  // A LOCAL header's family is ignored (section 2.2); a PROXY header's must be
  // one the specification defines.
  unsigned family = 0;
  unsigned transport = 0;
  if (data.size() > 13) {
    family = byte_at(data, 13) >> 4;
    transport = byte_at(data, 13) & 0xF;
    if (command == kCommandProxy && (family > kFamilyLast || transport > kTransportLast))
      return fail(ProxyErrc::unsupported_family);
  }
  if (data.size() < kV2Fixed)
    return need(kV2Fixed);

  std::size_t total = kV2Fixed + u16_at(data, 14);
  if (total > kMaxProxyHeader)
    return fail(ProxyErrc::too_long);
  if (data.size() < total)
    return need(total);

  ProxyHeader h;
  h.length = total;
  h.version = 2;
  std::size_t block_size = 0;
  if (command == kCommandProxy && transport == kTransportStream && family == kFamilyInet)
    block_size = kInetBlock;
  else if (command == kCommandProxy && transport == kTransportStream && family == kFamilyInet6)
    block_size = kInet6Block;
  if (block_size == 0) {
    // LOCAL, or a family or transport we do not carry (UNSPEC, UNIX, DGRAM):
    // the specification lets the receiver use the real endpoints.
    h.local = true;
    return done(h);
  }

  std::span<const std::byte> block = data.subspan(kV2Fixed, total - kV2Fixed);
  if (block.size() < block_size)
    return fail(ProxyErrc::malformed);
  if (family == kFamilyInet) {
    h.source = inet_endpoint(block, 0, 8);
    h.destination = inet_endpoint(block, 4, 10);
  } else {
    h.source = inet6_endpoint(block, 0, 32);
    h.destination = inet6_endpoint(block, 16, 34);
  }
  // The rest is TLVs (section 2.2): skipped, but they must tile it exactly.
  std::span<const std::byte> tlvs = block.subspan(block_size);
  while (!tlvs.empty()) {
    if (tlvs.size() < kTlvHeader)
      return fail(ProxyErrc::malformed);
    std::size_t size = kTlvHeader + u16_at(tlvs, 1);
    if (tlvs.size() < size)
      return fail(ProxyErrc::malformed);
    tlvs = tlvs.subspan(size);
  }
  return done(h);
}

} // namespace

const std::error_category& proxy_category() noexcept {
  static const Category category;
  return category;
}

ProxyParse parse_proxy_header(std::span<const std::byte> data) {
  if (data.empty())
    return need(1);
  // The first byte tells the versions apart: CR for v2, 'P' for v1.
  if (byte_at(data, 0) == kV2Signature[0])
    return parse_v2(data);
  return parse_v1(data);
}

} // namespace berth::net
