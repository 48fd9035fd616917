#include "ftp/passive_address.hpp"

#include "core/host_port.hpp"
#include "core/log.hpp"
#include "core/timeout.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

namespace berth::ftp {
namespace {
constexpr auto kTuple = asio::experimental::as_tuple(asio::use_awaitable);
} // namespace

PassiveAddresses::PassiveAddresses(const core::FtpConfig& config)
    : fallback_(config.passive_address) {
  for (const auto& r : config.passive_address_rules) {
    auto from = core::CidrList::parse({r.from});
    if (from)
      rules_.push_back(Rule{std::move(*from), r.address});
  }
  for (const auto& r : rules_)
    if (!core::is_ipv4_literal(r.address))
      names_.emplace(r.address, Name{});
  if (!fallback_.empty() && !core::is_ipv4_literal(fallback_))
    names_.emplace(fallback_, Name{});
}

core::Task<core::Result<std::optional<std::string>>>
PassiveAddresses::for_client(net::Address client, std::chrono::steady_clock::duration limit) {
  std::string chosen = fallback_;
  for (const auto& r : rules_) {
    if (r.from.contains(client)) {
      chosen = r.address;
      break;
    }
  }
  if (chosen.empty())
    co_return std::optional<std::string>();
  if (core::is_ipv4_literal(chosen))
    co_return std::optional<std::string>(chosen);
  std::string known;
  bool look_up = false;
  {
    const std::lock_guard lock(mutex_);
    Name& n = names_[chosen];
    known = n.last_good;
    const auto now = std::chrono::steady_clock::now();
    // One session a minute refreshes a known answer, the others use it
    // meanwhile; with no answer yet, each asks (until one succeeds).
    if (now >= n.next_lookup || known.empty()) {
      look_up = true;
      n.next_lookup = now + kRefresh;
    }
  }
  if (!look_up)
    co_return std::optional<std::string>(known);
  auto fresh = co_await resolve(chosen, limit);
  if (fresh) {
    const std::lock_guard lock(mutex_);
    names_[chosen].last_good = *fresh;
    co_return std::optional<std::string>(*fresh);
  }
  spdlog::warn("ftp: passive_address {}: lookup failed ({}){}", chosen, fresh.error().message(),
               known.empty() ? "" : "; keeping " + known);
  if (known.empty())
    co_return core::unexpected(fresh.error());
  co_return std::optional<std::string>(known);
}

core::Task<core::Result<std::string>>
PassiveAddresses::resolve(std::string name, std::chrono::steady_clock::duration limit) {
  // asio's resolver runs getaddrinfo on a thread of its own: the loop goes on.
  asio::ip::tcp::resolver resolver(co_await asio::this_coro::executor);
  auto lookup = [](asio::ip::tcp::resolver& res,
                   const std::string& host) -> core::Task<core::Result<std::string>> {
    auto [ec, results] = co_await res.async_resolve(
        asio::ip::tcp::v4(), host, "", asio::ip::resolver_base::numeric_service, kTuple);
    if (ec)
      co_return core::unexpected(ec);
    if (results.empty())
      co_return core::unexpected(std::make_error_code(std::errc::address_family_not_supported));
    co_return results.begin()->endpoint().address().to_string();
  };
  auto op = lookup(resolver, name);
  co_return co_await core::with_timeout(std::move(op), limit);
}

} // namespace berth::ftp
