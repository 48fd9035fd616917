// Fuzzes the authorized_keys parser (auth/authorized_keys.hpp): lines from the
// configuration and users' key files, their options (from=, expiry-time=,
// command=...) and the from= address patterns matched against clients.
// Input: authorized_keys text, one line per '\n'.
#include "auth/authorized_keys.hpp"

#include "core/check.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace berth;

const asio::ip::address& client(std::size_t i) {
  static const asio::ip::address kClients[] = {
      asio::ip::make_address("192.0.2.7"),
      asio::ip::make_address("2001:db8::1"),
      asio::ip::make_address("::ffff:10.1.2.3"),
      asio::ip::make_address("127.0.0.1"),
  };
  return kClients[i % std::size(kClients)];
}

void check_line(std::string_view line, const std::vector<std::string>& lines, std::size_t n) {
  auto key = auth::parse_authorized_key(line);
  // Whatever the line, it is also a from= pattern list.
  (void)auth::from_allows(line, client(n));
  if (!key)
    return;
  BERTH_CHECK(!key->type.empty() && !key->blob.empty());
  BERTH_CHECK(key->type.find_first_of(" \t") == std::string::npos);
  BERTH_CHECK(key->blob.find_first_of(" \t") == std::string::npos);
  if (key->from)
    (void)auth::from_allows(*key->from, client(n));

  const auto now = std::chrono::system_clock::now();
  auto decision = auth::check_authorized_keys(lines, key->type, key->blob, client(n), now);
  // A line without conditions lets its key in, whatever other lines say; a
  // cert-authority line names a CA, which never logs in as a plain key.
  if (key->refusal.empty() && !key->from && !key->expires && !key->cert_authority)
    BERTH_CHECK(decision.allowed);
  if (decision.allowed)
    BERTH_CHECK(decision.reason.empty());
  // A key no line names is refused.
  auto other = auth::check_authorized_keys(lines, key->type, key->blob + "x", client(n), now);
  bool named = false;
  for (const auto& l : lines) {
    auto k = auth::parse_authorized_key(l);
    named = named || (k && k->blob == key->blob + "x");
  }
  if (!named)
    BERTH_CHECK(!other.allowed);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> lines;
  for (std::size_t i = 0; i <= text.size();) {
    auto nl = text.find('\n', i);
    if (nl == std::string_view::npos)
      nl = text.size();
    lines.emplace_back(text.substr(i, nl - i));
    i = nl + 1;
  }
  for (std::size_t n = 0; n < lines.size() && n < 16; ++n)
    check_line(lines[n], lines, n);
  return 0;
}
