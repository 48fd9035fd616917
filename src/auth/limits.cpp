#include "auth/limits.hpp"

#include <fmt/format.h>

namespace berth::auth {
namespace {

constexpr std::chrono::minutes kHandshakeWindow{1};
// Addresses whose handshakes are counted at once; past it, windows that ended
// are forgotten, and if none had, all (a spray of addresses costs memory
// only up to here).
constexpr std::size_t kMaxHandshakeAddresses = 100'000;

} // namespace

Limits::Limits(std::uint32_t max_connections, std::uint32_t max_per_address, AddressRules rules)
    : max_connections_(max_connections), max_per_address_(max_per_address), rules_(rules),
      counts_(std::make_shared<Counts>()) {}

Limits::Limits(const Limits& counted, std::uint32_t max_connections, std::uint32_t max_per_address,
               AddressRules rules)
    : max_connections_(max_connections), max_per_address_(max_per_address), rules_(rules),
      counts_(counted.counts_) {}

Limits::~Limits() = default;

void Limits::Ticket::release() {
  if (owner_)
    owner_->give_back(kind_, key_);
  owner_.reset();
}

Limits::Ticket Limits::connect(const asio::ip::address& client, std::string* reason) {
  std::string key = group_of(client);
  std::lock_guard lock(counts_->mu);
  if (max_connections_ != 0 && counts_->connections >= max_connections_) {
    *reason = fmt::format("Too many connections ({}), try again later.", max_connections_);
    return {};
  }
  auto& n = counts_->per_address[key];
  if (max_per_address_ != 0 && n >= max_per_address_) {
    *reason = fmt::format("Too many connections from your address ({}).", max_per_address_);
    return {};
  }
  ++n;
  ++counts_->connections;
  return Ticket(counts_, Ticket::Kind::connection, std::move(key));
}

Limits::Ticket Limits::log_in(const std::string& user, std::uint32_t max_sessions,
                              std::string* reason) {
  std::lock_guard lock(counts_->mu);
  auto& n = counts_->per_user[user];
  if (max_sessions != 0 && n >= max_sessions) {
    *reason = fmt::format("Too many sessions for this user ({}).", max_sessions);
    return {};
  }
  ++n;
  return Ticket(counts_, Ticket::Kind::session, user);
}

Limits::Ticket Limits::check_password(const asio::ip::address& client) {
  std::string key = group_of(client);
  std::lock_guard lock(counts_->mu);
  if (rules_.max_checks != 0 && counts_->checks >= rules_.max_checks)
    return {};
  auto& n = counts_->checks_per_address[key];
  if (rules_.max_checks_per_address != 0 && n >= rules_.max_checks_per_address)
    return {};
  ++n;
  ++counts_->checks;
  return Ticket(counts_, Ticket::Kind::check, std::move(key));
}

bool Limits::allow_handshake(const asio::ip::address& client,
                             std::chrono::steady_clock::time_point now) {
  if (rules_.max_handshakes_per_minute == 0)
    return true;
  std::string key = group_of(client);
  std::lock_guard lock(counts_->mu);
  auto& windows = counts_->handshakes;
  if (windows.size() >= kMaxHandshakeAddresses && windows.find(key) == windows.end()) {
    std::erase_if(windows, [&](const auto& w) { return now - w.second.start >= kHandshakeWindow; });
    if (windows.size() >= kMaxHandshakeAddresses)
      windows.clear();
  }
  Counts::Window& w = windows[key];
  if (w.count == 0 || now - w.start >= kHandshakeWindow)
    w = Counts::Window{now, 0};
  if (w.count < rules_.max_handshakes_per_minute) {
    ++w.count;
    return true;
  }
  return false;
}

std::uint32_t Limits::connections() const {
  std::lock_guard lock(counts_->mu);
  return counts_->connections;
}

void Limits::Counts::give_back(Ticket::Kind kind, const std::string& key) {
  std::lock_guard lock(mu);
  auto& map = kind == Ticket::Kind::connection ? per_address
              : kind == Ticket::Kind::check    ? checks_per_address
                                               : per_user;
  auto it = map.find(key);
  if (it != map.end() && --it->second == 0)
    map.erase(it);
  if (kind == Ticket::Kind::connection)
    --connections;
  else if (kind == Ticket::Kind::check)
    --checks;
}

} // namespace berth::auth
