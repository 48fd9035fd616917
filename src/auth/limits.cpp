#include "auth/limits.hpp"

#include <fmt/format.h>

namespace berth::auth {
namespace {

// An IPv4-mapped IPv6 client counts as its IPv4 address.
std::string key_of(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  return a.to_string();
}

} // namespace

Limits::Limits(std::uint32_t max_connections, std::uint32_t max_per_address)
    : max_connections_(max_connections), max_per_address_(max_per_address),
      counts_(std::make_shared<Counts>()) {}

Limits::Limits(const Limits& counted, std::uint32_t max_connections, std::uint32_t max_per_address)
    : max_connections_(max_connections), max_per_address_(max_per_address),
      counts_(counted.counts_) {}

Limits::~Limits() = default;

void Limits::Ticket::release() {
  if (owner_)
    owner_->give_back(kind_, key_);
  owner_.reset();
}

Limits::Ticket Limits::connect(const asio::ip::address& client, std::string* reason) {
  std::string key = key_of(client);
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

std::uint32_t Limits::connections() const {
  std::lock_guard lock(counts_->mu);
  return counts_->connections;
}

void Limits::Counts::give_back(Ticket::Kind kind, const std::string& key) {
  std::lock_guard lock(mu);
  auto& map = kind == Ticket::Kind::connection ? per_address : per_user;
  auto it = map.find(key);
  if (it != map.end() && --it->second == 0)
    map.erase(it);
  if (kind == Ticket::Kind::connection)
    --connections;
}

} // namespace berth::auth
