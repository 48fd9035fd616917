#include "core/cidr.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace berth::core {
namespace {

asio::ip::address unmapped(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  return a;
}

} // namespace

std::string address_group(const asio::ip::address& client, unsigned ipv6_prefix) {
  const asio::ip::address a = unmapped(client);
  if (a.is_v4())
    return a.to_string();
  auto bytes = a.to_v6().to_bytes(); // without the scope ("%eth0") that would make one client two
  if (ipv6_prefix >= 128)
    return asio::ip::address_v6(bytes).to_string();
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const std::size_t first = i * 8; // the first bit of this byte
    if (first >= ipv6_prefix)
      bytes[i] = 0;
    else if (first + 8 > ipv6_prefix)
      bytes[i] = static_cast<unsigned char>(bytes[i] & (0xff << (first + 8 - ipv6_prefix)));
  }
  return asio::ip::address_v6(bytes).to_string() + "/" + std::to_string(ipv6_prefix);
}

bool in_cidr(const asio::ip::address& address, std::string_view cidr) {
  const asio::ip::address client = unmapped(address);
  auto slash = cidr.find('/');
  if (slash == std::string_view::npos)
    return false;
  std::string_view bits_text = cidr.substr(slash + 1);
  if (bits_text.empty() || bits_text.size() > 3 ||
      !std::all_of(bits_text.begin(), bits_text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  int bits = std::stoi(std::string(bits_text));
  std::error_code ec;
  auto net = asio::ip::make_address(std::string(cidr.substr(0, slash)), ec);
  if (ec || net.is_v4() != client.is_v4())
    return false;
  if (net.is_v4()) {
    if (bits > 32)
      return false;
    std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
    return (net.to_v4().to_uint() & mask) == (client.to_v4().to_uint() & mask);
  }
  if (bits > 128)
    return false;
  auto a = net.to_v6().to_bytes();
  auto b = client.to_v6().to_bytes();
  for (int i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    auto mask = static_cast<unsigned char>(bits >= 8 ? 0xff : 0xff << (8 - bits));
    if ((a[static_cast<std::size_t>(i)] & mask) != (b[static_cast<std::size_t>(i)] & mask))
      return false;
  }
  return true;
}

namespace {

// "addr" -> "addr/32" or "addr/128"; a block unchanged; nullopt when invalid.
std::optional<std::string> normalise(std::string_view text) {
  std::error_code ec;
  auto slash = text.find('/');
  auto addr = asio::ip::make_address(std::string(text.substr(0, slash)), ec);
  if (ec || text.find('\0') != std::string_view::npos)
    return std::nullopt;
  if (slash == std::string_view::npos)
    return std::string(text) + (addr.is_v4() ? "/32" : "/128");
  std::string block(text);
  if (!in_cidr(addr, block))
    return std::nullopt; // bad prefix length
  // SECURITY: host bits must be zero ("10.0.0.1/8" is refused, as sshd does):
  // a typo must not silently widen or shift an allow list.
  std::vector<unsigned char> bytes;
  if (addr.is_v4()) {
    auto v = addr.to_v4().to_bytes();
    bytes.assign(v.begin(), v.end());
  } else {
    auto v = addr.to_v6().to_bytes();
    bytes.assign(v.begin(), v.end());
  }
  const auto bits = static_cast<std::size_t>(std::stoi(block.substr(slash + 1)));
  for (std::size_t i = bits; i < bytes.size() * 8; ++i)
    if (((bytes[i / 8] >> (7 - i % 8)) & 1) != 0)
      return std::nullopt;
  return block;
}

} // namespace

bool valid_cidr(std::string_view text) {
  return normalise(text).has_value();
}

std::optional<CidrList> CidrList::parse(const std::vector<std::string>& blocks, std::string* bad) {
  CidrList out;
  for (const auto& b : blocks) {
    auto n = normalise(b);
    if (!n) {
      if (bad != nullptr)
        *bad = b;
      return std::nullopt;
    }
    out.blocks_.push_back(std::move(*n));
  }
  return out;
}

bool CidrList::contains(const asio::ip::address& client) const {
  return std::any_of(blocks_.begin(), blocks_.end(),
                     [&](const std::string& b) { return in_cidr(client, b); });
}

} // namespace berth::core
