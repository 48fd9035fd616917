// Fuzzes the PROXY protocol parser (net/proxy_protocol.hpp) with the first
// bytes of a connection. Beyond not crashing: a header never claims more bytes
// than it was given, every shorter prefix of it asks for more, a verdict on a
// prefix (header or error) is the verdict on the whole input, and the addresses
// of a header encode (as v1 and as v2) and parse back to themselves.
#include "core/check.hpp"
#include "net/proxy_protocol.hpp"

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace {

using namespace berth;
using net::ProxyParse;
using Kind = ProxyParse::Kind;
using Bytes = std::span<const std::byte>;

net::ProxyParse parse(Bytes data) {
  return net::parse_proxy_header(data);
}

bool same(const ProxyParse& a, const ProxyParse& b) {
  if (a.kind != b.kind)
    return false;
  switch (a.kind) {
  case Kind::header:
    return a.header.local == b.header.local && a.header.source == b.header.source &&
           a.header.destination == b.header.destination && a.header.length == b.header.length &&
           a.header.version == b.header.version;
  case Kind::need_more:
    return a.at_least == b.at_least;
  case Kind::error:
    return a.error == b.error;
  }
  return false;
}

std::vector<std::byte> to_bytes(const std::string& text) {
  std::vector<std::byte> out;
  for (char c : text)
    out.push_back(static_cast<std::byte>(c));
  return out;
}

// The same endpoints, written as a v1 line.
void check_v1_round_trip(const net::Endpoint& source, const net::Endpoint& destination) {
  std::string line =
      fmt::format("PROXY {} {} {} {} {}\r\n", source.address().is_v4() ? "TCP4" : "TCP6",
                  source.address().to_string(), destination.address().to_string(), source.port(),
                  destination.port());
  auto bytes = to_bytes(line);
  auto p = parse(bytes);
  BERTH_CHECK(p.kind == Kind::header && !p.header.local && p.header.length == line.size());
  BERTH_CHECK(p.header.source == source && p.header.destination == destination);
}

// The same endpoints, encoded as a v2 PROXY header over TCP.
void check_v2_round_trip(const net::Endpoint& source, const net::Endpoint& destination) {
  std::vector<std::byte> h;
  auto put = [&h](unsigned v) { h.push_back(static_cast<std::byte>(v)); };
  for (unsigned v : {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A})
    put(v);
  bool v4 = source.address().is_v4();
  put(0x21);
  put(v4 ? 0x11 : 0x21);
  put(0);
  put(v4 ? 12 : 36);
  for (const auto* ep : {&source, &destination}) {
    if (v4) {
      for (unsigned char b : ep->address().to_v4().to_bytes())
        put(b);
    } else {
      for (unsigned char b : ep->address().to_v6().to_bytes())
        put(b);
    }
  }
  for (const auto* ep : {&source, &destination}) {
    put(ep->port() >> 8u);
    put(ep->port() & 0xFFu);
  }
  auto p = parse(h);
  BERTH_CHECK(p.kind == Kind::header && !p.header.local && p.header.length == h.size());
  BERTH_CHECK(p.header.source == source && p.header.destination == destination);
}

void check_header(Bytes data, const net::ProxyHeader& h, const ProxyParse& whole) {
  BERTH_CHECK(h.length <= data.size());
  BERTH_CHECK(h.version == 1 || h.version == 2);
  BERTH_CHECK(h.length <= (h.version == 1 ? net::kMaxProxyV1Line : net::kMaxProxyHeader));
  BERTH_CHECK(h.length >= (h.version == 1 ? 15u : 16u)); // "PROXY UNKNOWN\r\n"; v2's fixed part
  BERTH_CHECK(h.source.has_value() == !h.local && h.destination.has_value() == !h.local);
  // The header alone is the same header.
  BERTH_CHECK(same(parse(data.first(h.length)), whole));
  // Shorter prefixes ask for more, and never for more than the header's length.
  for (std::size_t k : {h.length - 1, h.length / 2, std::size_t{0}}) {
    auto p = parse(data.first(k));
    BERTH_CHECK(p.kind == Kind::need_more && p.at_least > k && p.at_least <= h.length);
  }
  if (h.local)
    return;
  BERTH_CHECK(h.source->address().is_v4() == h.destination->address().is_v4());
  if (h.source->address().is_v6())
    BERTH_CHECK(h.source->address().to_v6().scope_id() == 0);
  check_v1_round_trip(*h.source, *h.destination);
  check_v2_round_trip(*h.source, *h.destination);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes input(reinterpret_cast<const std::byte*>(data), size);
  ProxyParse whole = parse(input);
  switch (whole.kind) {
  case Kind::header:
    check_header(input, whole.header, whole);
    break;
  case Kind::need_more:
    BERTH_CHECK(whole.at_least > size && whole.at_least <= net::kMaxProxyHeader);
    break;
  case Kind::error:
    BERTH_CHECK(whole.error >= net::ProxyErrc::bad_signature &&
                whole.error <= net::ProxyErrc::bad_port);
    break;
  }
  // A verdict reached on a prefix (which the input's first byte picks) stands
  // for the whole input: the bytes after it are never looked at.
  if (size > 0) {
    std::size_t k = static_cast<std::size_t>(data[0]) * 17 % size;
    auto prefix = parse(input.first(k));
    if (prefix.kind != Kind::need_more)
      BERTH_CHECK(same(prefix, whole));
    else
      BERTH_CHECK(whole.kind != Kind::need_more || whole.at_least >= prefix.at_least);
  }
  return 0;
}
