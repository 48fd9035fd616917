#include "core/host_port.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace berth::core {
namespace {

Result<std::uint16_t> parse_port(std::string_view text, bool allow_zero) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty() || value > 65535 ||
      (!allow_zero && value == 0))
    return unexpected(std::make_error_code(std::errc::invalid_argument));
  return static_cast<std::uint16_t>(value);
}

// inet_pton reads a C string: text with a NUL inside ("1.2.3.4\0junk") would be
// judged by what comes before the NUL.
bool is_ipv6_literal(const std::string& text) {
  in6_addr a{};
  return text.find('\0') == std::string::npos && inet_pton(AF_INET6, text.c_str(), &a) == 1;
}

} // namespace

bool is_ipv4_literal(std::string_view text) {
  in_addr a{};
  return text.find('\0') == std::string_view::npos &&
         inet_pton(AF_INET, std::string(text).c_str(), &a) == 1;
}

bool is_host_name(std::string_view text) {
  if (!text.empty() && text.back() == '.')
    text.remove_suffix(1);
  if (text.empty() || text.size() > 253)
    return false;
  bool last_all_digits = false;
  while (true) {
    const auto dot = text.find('.');
    const std::string_view label = text.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    last_all_digits = true;
    for (char c : label) {
      const bool digit = c >= '0' && c <= '9';
      const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
      if (!digit && !letter && c != '-')
        return false;
      last_all_digits = last_all_digits && digit;
    }
    if (dot == std::string_view::npos)
      break;
    text.remove_prefix(dot + 1);
  }
  return !last_all_digits;
}

Result<HostPort> parse_host_port(std::string_view text) {
  const auto bad = unexpected(std::make_error_code(std::errc::invalid_argument));
  HostPort hp;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return bad;
    hp.host = std::string(text.substr(1, close - 1));
    hp.v6 = true;
    if (!is_ipv6_literal(hp.host))
      return bad;
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return bad;
    hp.host = std::string(text.substr(0, colon));
    if (!is_ipv4_literal(hp.host))
      return bad;
    port = text.substr(colon + 1);
  }
  auto p = parse_port(port, true);
  if (!p)
    return bad;
  hp.port = *p;
  return hp;
}

std::string format_host_port(std::string_view host, std::uint16_t port) {
  std::string out;
  if (host.find(':') != std::string_view::npos)
    out.append("[").append(host).append("]");
  else
    out.append(host);
  return out.append(":").append(std::to_string(port));
}

Result<PortRange> parse_port_range(std::string_view text) {
  auto dash = text.find('-');
  if (dash == std::string_view::npos)
    return unexpected(std::make_error_code(std::errc::invalid_argument));
  auto low = parse_port(text.substr(0, dash), false);
  auto high = parse_port(text.substr(dash + 1), false);
  if (!low || !high || *low > *high)
    return unexpected(std::make_error_code(std::errc::invalid_argument));
  return PortRange{*low, *high};
}

} // namespace berth::core
