#include "net/proxy_protocol.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace berth::net {
namespace {

using Bytes = std::vector<std::byte>;
using Kind = ProxyParse::Kind;

Bytes bytes(std::string_view text) {
  Bytes out;
  for (char c : text)
    out.push_back(static_cast<std::byte>(c));
  return out;
}

Bytes operator+(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const Bytes kV2Signature{std::byte{0x0D}, std::byte{0x0A}, std::byte{0x0D}, std::byte{0x0A},
                         std::byte{0x00}, std::byte{0x0D}, std::byte{0x0A}, std::byte{0x51},
                         std::byte{0x55}, std::byte{0x49}, std::byte{0x54}, std::byte{0x0A}};

Bytes raw(std::initializer_list<unsigned> values) {
  Bytes out;
  for (unsigned v : values)
    out.push_back(static_cast<std::byte>(v));
  return out;
}

Bytes u16(std::size_t v) {
  return raw({static_cast<unsigned>(v >> 8 & 0xFF), static_cast<unsigned>(v & 0xFF)});
}

// A v2 header: signature, version/command, family/transport, length, body.
Bytes v2(unsigned ver_cmd, unsigned family, const Bytes& body) {
  return kV2Signature + raw({ver_cmd, family}) + u16(body.size()) + body;
}

Bytes tlv(unsigned type, const Bytes& value) {
  return raw({type}) + u16(value.size()) + value;
}

// 192.0.2.1:56324 -> 198.51.100.7:21
const Bytes kInetBlock = raw({192, 0, 2, 1, 198, 51, 100, 7}) + u16(56324) + u16(21);
// 2001:db8::1:2222 -> ::1:22
const Bytes kInet6Block = raw({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}) +
                          raw({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}) + u16(2222) +
                          u16(22);

ProxyParse parse(const Bytes& data) {
  return parse_proxy_header(data);
}
ProxyParse parse(std::string_view text) {
  return parse(bytes(text));
}

Endpoint ep(const char* address, std::uint16_t port) {
  return Endpoint(asio::ip::make_address(address), port);
}

// Every valid header the tests know, for the truncation and trailing-data tests.
std::vector<Bytes> valid_headers() {
  const std::string v6_max = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  return {
      bytes("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"),
      bytes("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n"),
      bytes("PROXY TCP6 2001:db8::1 ::1 0 22\r\n"),
      bytes("PROXY TCP6 ::ffff:192.0.2.1 fe80::1 1 2\r\n"),
      bytes("PROXY UNKNOWN\r\n"),
      bytes("PROXY UNKNOWN " + v6_max + " " + v6_max + " 65535 65535\r\n"),
      v2(0x21, 0x11, kInetBlock),
      v2(0x21, 0x11, kInetBlock + tlv(0x04, bytes("pad")) + tlv(0x05, {})),
      v2(0x21, 0x21, kInet6Block + tlv(0x20, raw({1, 0, 0, 0, 0}) + tlv(0x21, bytes("TLSv1.3")))),
      v2(0x20, 0x00, {}),
      v2(0x20, 0x11, kInetBlock),
      v2(0x21, 0x00, {}),
      v2(0x21, 0x31, Bytes(216, std::byte{'u'})),
      v2(0x21, 0x12, kInetBlock),
  };
}

TEST(ProxyProtocol, V1Tcp4) {
  auto p = parse("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n");
  ASSERT_EQ(p.kind, Kind::header);
  EXPECT_FALSE(p.header.local);
  EXPECT_EQ(p.header.version, 1u);
  EXPECT_EQ(p.header.length, 47u);
  EXPECT_EQ(p.header.source, ep("192.168.0.1", 56324));
  EXPECT_EQ(p.header.destination, ep("192.168.0.11", 443));
}

TEST(ProxyProtocol, V1Tcp6) {
  auto p = parse("PROXY TCP6 2001:DB8::1 ::1 65535 0\r\n");
  ASSERT_EQ(p.kind, Kind::header);
  EXPECT_FALSE(p.header.local);
  EXPECT_EQ(p.header.source, ep("2001:db8::1", 65535));
  EXPECT_EQ(p.header.destination, ep("::1", 0));
  EXPECT_EQ(p.header.length, 36u);
}

TEST(ProxyProtocol, V1UnknownUsesTheRealPeer) {
  for (std::string_view line : {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN 2001:db8::1 ::1 65535 0\r\n",
                                "PROXY UNKNOWN anything at all, even \x01 bytes\r\n"}) {
    auto p = parse(line);
    ASSERT_EQ(p.kind, Kind::header) << line;
    EXPECT_TRUE(p.header.local);
    EXPECT_FALSE(p.header.source);
    EXPECT_FALSE(p.header.destination);
    EXPECT_EQ(p.header.length, line.size());
  }
}

TEST(ProxyProtocol, V1LongestLineIs107Bytes) {
  const std::string v6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  std::string longest = "PROXY UNKNOWN " + v6 + " " + v6 + " 65535 65535\r\n";
  ASSERT_EQ(longest.size(), kMaxProxyV1Line);
  EXPECT_EQ(parse(longest).kind, Kind::header);
  EXPECT_EQ(parse("PROXY UNKNOWN " + v6 + " " + v6 + " 65535 655350\r\n").error,
            ProxyErrc::too_long);
  // No CRLF within the first 107 bytes: refused without waiting for more.
  std::string no_end = "PROXY UNKNOWN " + std::string(93, 'x');
  ASSERT_EQ(no_end.size(), kMaxProxyV1Line);
  EXPECT_EQ(parse(no_end).error, ProxyErrc::too_long);
  EXPECT_EQ(parse(no_end.substr(0, 106)).kind, Kind::need_more);
  // The CR as the 107th byte can not be followed by its LF in time.
  EXPECT_EQ(parse(no_end.substr(0, 106) + "\r").error, ProxyErrc::too_long);
}

TEST(ProxyProtocol, V1RequiresCrlf) {
  EXPECT_EQ(parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n").error, ProxyErrc::malformed);
  EXPECT_EQ(parse("PROXY UNKNOWN\rX").error, ProxyErrc::malformed);
  EXPECT_EQ(parse("PROXY UNKNOWN\n").error, ProxyErrc::malformed);
  EXPECT_EQ(parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r").kind, Kind::need_more);
}

TEST(ProxyProtocol, V1BadPorts) {
  for (std::string_view port : {"65536", "01", "00", "-1", "+1", "1a", "0x10", "99999", "123456"}) {
    auto line = "PROXY TCP4 1.2.3.4 5.6.7.8 " + std::string(port) + " 21\r\n";
    EXPECT_EQ(parse(line).error, ProxyErrc::bad_port) << line;
    line = "PROXY TCP4 1.2.3.4 5.6.7.8 21 " + std::string(port) + "\r\n";
    EXPECT_EQ(parse(line).error, ProxyErrc::bad_port) << line;
  }
}

TEST(ProxyProtocol, V1BadAddresses) {
  for (std::string_view line : {
           "PROXY TCP4 192.168.0.01 1.2.3.4 1 2\r\n", // leading zero (octal?)
           "PROXY TCP4 256.0.0.1 1.2.3.4 1 2\r\n",
           "PROXY TCP4 1.2.3 1.2.3.4 1 2\r\n",
           "PROXY TCP4 1.2.3.4.5 1.2.3.4 1 2\r\n",
           "PROXY TCP4 1.2.3.4 1..3.4 1 2\r\n",
           "PROXY TCP4 1.2.3.4 1.2.3.4. 1 2\r\n",
           "PROXY TCP4 ::1 1.2.3.4 1 2\r\n", // mixed families
           "PROXY TCP4 1.2.3.4 ::ffff:1.2.3.4 1 2\r\n",
           "PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
           "PROXY TCP6 ::1 1.2.3.4 1 2\r\n",
           "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", // no scopes
           "PROXY TCP6 fe80::1%2 ::1 1 2\r\n",
           "PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n",
           "PROXY TCP6 12345:: ::1 1 2\r\n",
           "PROXY TCP6 example.org ::1 1 2\r\n",
       }) {
    EXPECT_EQ(parse(line).error, ProxyErrc::bad_address) << line;
  }
}

TEST(ProxyProtocol, V1SpacingIsExact) {
  for (std::string_view line : {
           "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
           "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
           "PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n",
           "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
           "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
           "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
           "PROXY TCP4\r\n",
           "PROXY \r\n",
           "PROXY\r\n",
           "PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
           "PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n",
       }) {
    EXPECT_EQ(parse(line).error, ProxyErrc::malformed) << line;
  }
}

TEST(ProxyProtocol, V1UnknownProtocol) {
  for (std::string_view line : {"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
                                "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", "PROXY UNKNOWNX\r\n"})
    EXPECT_EQ(parse(line).error, ProxyErrc::unsupported_family) << line;
}

TEST(ProxyProtocol, WrongSignature) {
  for (std::string_view text : {"GET / HTTP/1.1\r\n", "SSH-2.0-OpenSSH_9.2\r\n", "proxy tcp4",
                                "USER anonymous\r\n", "\x16\x03\x01", "P\r\n", "PROXX"})
    EXPECT_EQ(parse(text).error, ProxyErrc::bad_signature) << text;
  // A v2 signature that goes wrong, at any byte.
  for (std::size_t i = 0; i < kV2Signature.size(); ++i) {
    Bytes h = v2(0x21, 0x11, kInetBlock);
    h[i] ^= std::byte{0x40};
    auto p = parse(h);
    EXPECT_EQ(p.kind, Kind::error) << i;
    EXPECT_EQ(p.error, ProxyErrc::bad_signature) << i;
  }
}

TEST(ProxyProtocol, V2Inet) {
  Bytes h = v2(0x21, 0x11, kInetBlock);
  auto p = parse(h + bytes("SSH-2.0-x\r\n"));
  ASSERT_EQ(p.kind, Kind::header);
  EXPECT_FALSE(p.header.local);
  EXPECT_EQ(p.header.version, 2u);
  EXPECT_EQ(p.header.length, 28u);
  EXPECT_EQ(p.header.source, ep("192.0.2.1", 56324));
  EXPECT_EQ(p.header.destination, ep("198.51.100.7", 21));
}

TEST(ProxyProtocol, V2Inet6WithTlvs) {
  Bytes body = kInet6Block + tlv(0x01, bytes("h2")) + tlv(0x04, {}) +
               tlv(0x20, raw({1, 0, 0, 0, 0}) + tlv(0x21, bytes("TLSv1.3")));
  Bytes h = v2(0x21, 0x21, body);
  auto p = parse(h + raw({0x16, 0x03, 0x01}));
  ASSERT_EQ(p.kind, Kind::header);
  EXPECT_FALSE(p.header.local);
  EXPECT_EQ(p.header.length, h.size());
  EXPECT_EQ(p.header.source, ep("2001:db8::1", 2222));
  EXPECT_EQ(p.header.destination, ep("::1", 22));
}

TEST(ProxyProtocol, V2LocalIgnoresTheAddresses) {
  // LOCAL: the proxy's own health check; addresses (and the family) ignored.
  for (const Bytes& h : {v2(0x20, 0x00, {}), v2(0x20, 0x11, kInetBlock),
                         v2(0x20, 0xFF, bytes("whatever")), v2(0x20, 0x11, raw({1, 2}))}) {
    auto p = parse(h);
    ASSERT_EQ(p.kind, Kind::header);
    EXPECT_TRUE(p.header.local);
    EXPECT_FALSE(p.header.source);
    EXPECT_EQ(p.header.length, h.size());
  }
}

TEST(ProxyProtocol, V2OtherFamiliesUseTheRealPeer) {
  for (const Bytes& h : {
           v2(0x21, 0x00, {}),                                 // UNSPEC
           v2(0x21, 0x00, kInetBlock + tlv(0x04, bytes("x"))), // UNSPEC, addresses ignored
           v2(0x21, 0x10, kInetBlock),                         // INET over UNSPEC transport
           v2(0x21, 0x12, kInetBlock),                         // UDP
           v2(0x21, 0x22, kInet6Block),                        // UDP6
           v2(0x21, 0x31, Bytes(216, std::byte{'u'})),         // UNIX stream
       }) {
    auto p = parse(h);
    ASSERT_EQ(p.kind, Kind::header);
    EXPECT_TRUE(p.header.local);
    EXPECT_EQ(p.header.length, h.size());
  }
}

TEST(ProxyProtocol, V2RefusesUndefinedValues) {
  EXPECT_EQ(parse(v2(0x11, 0x11, kInetBlock)).error, ProxyErrc::unsupported_version);
  EXPECT_EQ(parse(v2(0x31, 0x11, kInetBlock)).error, ProxyErrc::unsupported_version);
  EXPECT_EQ(parse(v2(0x22, 0x11, kInetBlock)).error, ProxyErrc::unsupported_command);
  EXPECT_EQ(parse(v2(0x2F, 0x11, kInetBlock)).error, ProxyErrc::unsupported_command);
  EXPECT_EQ(parse(v2(0x21, 0x41, kInetBlock)).error, ProxyErrc::unsupported_family);
  EXPECT_EQ(parse(v2(0x21, 0x13, kInetBlock)).error, ProxyErrc::unsupported_family);
  // Known as soon as the byte is there.
  EXPECT_EQ(parse(kV2Signature + raw({0x11})).error, ProxyErrc::unsupported_version);
  EXPECT_EQ(parse(kV2Signature + raw({0x21, 0x41})).error, ProxyErrc::unsupported_family);
}

TEST(ProxyProtocol, V2ShortAddressBlock) {
  EXPECT_EQ(parse(v2(0x21, 0x11, raw({1, 2, 3, 4, 5, 6, 7, 8}))).error, ProxyErrc::malformed);
  EXPECT_EQ(parse(v2(0x21, 0x21, kInetBlock)).error, ProxyErrc::malformed);
}

TEST(ProxyProtocol, V2TlvsMustTileTheRest) {
  EXPECT_EQ(parse(v2(0x21, 0x11, kInetBlock + raw({0x04, 0}))).error, ProxyErrc::malformed);
  EXPECT_EQ(parse(v2(0x21, 0x11, kInetBlock + raw({0x04, 0, 5, 1, 2}))).error,
            ProxyErrc::malformed);
  EXPECT_EQ(parse(v2(0x21, 0x11, kInetBlock + tlv(0x04, {}) + raw({7}))).error,
            ProxyErrc::malformed);
}

TEST(ProxyProtocol, V2Oversized) {
  // The largest accepted header, and one byte more.
  Bytes pad(kMaxProxyHeader - 16 - kInetBlock.size() - 3, std::byte{0});
  Bytes largest = v2(0x21, 0x11, kInetBlock + tlv(0x04, pad));
  ASSERT_EQ(largest.size(), kMaxProxyHeader);
  EXPECT_EQ(parse(largest).kind, Kind::header);
  pad.push_back(std::byte{0});
  EXPECT_EQ(parse(v2(0x21, 0x11, kInetBlock + tlv(0x04, pad))).error, ProxyErrc::too_long);
  // Refused from the length field alone, before the bytes arrive.
  EXPECT_EQ(parse(kV2Signature + raw({0x21, 0x11, 0xFF, 0xFF})).error, ProxyErrc::too_long);
  EXPECT_EQ(parse(kV2Signature + raw({0x20, 0x00}) + u16(kMaxProxyHeader - 15)).error,
            ProxyErrc::too_long);
}

TEST(ProxyProtocol, V2NeedMoreKnowsTheLength) {
  Bytes h = v2(0x21, 0x21, kInet6Block);
  EXPECT_EQ(parse(Bytes(h.begin(), h.begin() + 5)).at_least, 16u);
  EXPECT_EQ(parse(Bytes(h.begin(), h.begin() + 16)).at_least, h.size());
  EXPECT_EQ(parse(Bytes(h.begin(), h.end() - 1)).at_least, h.size());
}

TEST(ProxyProtocol, EmptyInputNeedsMore) {
  auto p = parse(Bytes{});
  EXPECT_EQ(p.kind, Kind::need_more);
  EXPECT_EQ(p.at_least, 1u);
}

// Every truncation of a valid header asks for more: never an error, never a header.
TEST(ProxyProtocol, EveryTruncationNeedsMore) {
  for (const Bytes& h : valid_headers()) {
    ASSERT_EQ(parse(h).kind, Kind::header);
    for (std::size_t n = 0; n < h.size(); ++n) {
      auto p = parse(Bytes(h.begin(), h.begin() + static_cast<std::ptrdiff_t>(n)));
      ASSERT_EQ(p.kind, Kind::need_more) << "header of " << h.size() << " cut at " << n;
      EXPECT_GT(p.at_least, n);
      EXPECT_LE(p.at_least, h.size());
    }
  }
}

// What follows a header is not looked at.
TEST(ProxyProtocol, TrailingBytesAreLeftAlone) {
  for (const Bytes& h : valid_headers()) {
    for (const Bytes& tail : {bytes("SSH-2.0-x\r\n"), raw({0x16, 0x03, 0x01, 0x00}),
                              bytes("\r\n\r\n"), h, Bytes(5000, std::byte{0xFF})}) {
      auto p = parse(h + tail);
      ASSERT_EQ(p.kind, Kind::header);
      EXPECT_EQ(p.header.length, h.size());
    }
  }
}

TEST(ProxyProtocol, ErrorCodes) {
  std::error_code ec = ProxyErrc::too_long;
  EXPECT_STREQ(ec.category().name(), "berth.net.proxy");
  EXPECT_EQ(ec.message(), "PROXY header too long");
  for (int e = 1; e <= static_cast<int>(ProxyErrc::bad_port); ++e)
    EXPECT_NE(make_error_code(static_cast<ProxyErrc>(e)).message(), "unknown PROXY protocol error");
}

} // namespace
} // namespace berth::net
