// Fuzzes the address parsers: the FTP PORT and EPRT arguments (ftp/codec.hpp),
// the PASV/EPSV reply texts built from their results, and the "ADDRESS:PORT"
// and "LOW-HIGH" values of the configuration (core/host_port.hpp). Every
// accepted value must be a clean address that formats and parses back to itself.
#include "core/check.hpp"
#include "core/host_port.hpp"
#include "ftp/codec.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace berth;

/// True if the whole of `text` is an address of the family (no NUL cuts it short).
bool is_address(const std::string& text, bool v6) {
  unsigned char buf[16];
  return text.find('\0') == std::string::npos &&
         inet_pton(v6 ? AF_INET6 : AF_INET, text.c_str(), buf) == 1;
}

void check_port(std::string_view arg) {
  auto a = ftp::parse_port_arg(arg);
  if (!a)
    return;
  BERTH_CHECK(!a->v6 && is_address(a->ip, false));
  // The PASV reply carries the same six numbers.
  std::string reply = ftp::format_pasv(a->ip, a->port);
  auto open = reply.find('(');
  auto close = reply.find(')');
  BERTH_CHECK(open != std::string::npos && close != std::string::npos && open < close);
  auto back = ftp::parse_port_arg(std::string_view(reply).substr(open + 1, close - open - 1));
  BERTH_CHECK(back && back->ip == a->ip && back->port == a->port && !back->v6);
}

void check_eprt(std::string_view arg) {
  auto a = ftp::parse_eprt_arg(arg);
  if (!a)
    return;
  BERTH_CHECK(is_address(a->ip, a->v6));
  BERTH_CHECK(a->port != 0);
  auto back = ftp::parse_eprt_arg(fmt::format("|{}|{}|{}|", a->v6 ? 2 : 1, a->ip, a->port));
  BERTH_CHECK(back && back->ip == a->ip && back->port == a->port && back->v6 == a->v6);
  std::string epsv = ftp::format_epsv(a->port);
  BERTH_CHECK(epsv.find(fmt::format("(|||{}|)", a->port)) != std::string::npos);
}

void check_host_port(std::string_view text) {
  auto hp = core::parse_host_port(text);
  if (!hp)
    return;
  BERTH_CHECK(is_address(hp->host, hp->v6));
  BERTH_CHECK(core::is_ipv4_literal(hp->host) == !hp->v6);
  auto back = core::parse_host_port(core::format_host_port(hp->host, hp->port));
  BERTH_CHECK(back && back->host == hp->host && back->port == hp->port && back->v6 == hp->v6);
}

void check_port_range(std::string_view text) {
  auto r = core::parse_port_range(text);
  if (!r)
    return;
  BERTH_CHECK(r->low >= 1 && r->low <= r->high);
  auto back = core::parse_port_range(fmt::format("{}-{}", r->low, r->high));
  BERTH_CHECK(back && back->low == r->low && back->high == r->high);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  check_port(text);
  check_eprt(text);
  check_host_port(text);
  check_port_range(text);
  (void)core::is_ipv4_literal(text);
  return 0;
}
