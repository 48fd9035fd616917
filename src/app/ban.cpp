#include "app/commands.hpp"

#include "app/cli_support.hpp"
#include "app/json.hpp"
#include "core/cidr.hpp"
#include "net/types.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>

namespace berth::app {
namespace {

struct BanArgs {
  std::string config;
  std::string address;
  bool json = false;
};

// "2026-11-24T06:52:52Z"
std::string utc_text(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  char buf[32];
  if (::gmtime_r(&secs, &tm) == nullptr || std::strftime(buf, sizeof buf, "%FT%TZ", &tm) == 0)
    return std::to_string(secs);
  return buf;
}

std::uint64_t unix_seconds(std::chrono::system_clock::time_point t) {
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  return s < 0 ? 0 : static_cast<std::uint64_t>(s);
}

int run_list(const BanArgs& a) {
  auto cfg = load_cli_config(a.config);
  if (!cfg)
    return kExitUsage;
  auto store = open_cli_store(*cfg);
  if (!store)
    return kExitFailed; // logged
  auto bans = store->list_bans();
  if (!bans)
    return kExitFailed; // logged
  const auto now = std::chrono::system_clock::now();
  if (a.json) {
    std::vector<std::string> items;
    for (const auto& b : *bans) {
      json::Object o;
      o.string("address", b.address)
          .number("until", unix_seconds(b.until))
          .string("until_utc", utc_text(b.until))
          .boolean("active", b.until > now)
          .number("level", b.level)
          .string("reason", b.reason);
      items.push_back(o.str());
    }
    std::printf("%s\n", json::array(items).c_str());
    return kExitOk;
  }
  if (bans->empty()) {
    std::printf("no bans\n");
    return kExitOk;
  }
  std::size_t width = 7;
  for (const auto& b : *bans)
    width = std::max(width, b.address.size());
  const auto w = static_cast<int>(width);
  std::printf("%-*s  %-20s  %-7s  %5s  %s\n", w, "ADDRESS", "UNTIL", "STATE", "LEVEL", "REASON");
  for (const auto& b : *bans)
    std::printf("%-*s  %-20s  %-7s  %5u  %s\n", w, b.address.c_str(), utc_text(b.until).c_str(),
                b.until > now ? "active" : "expired", b.level, b.reason.c_str());
  return kExitOk;
}

int run_del(const BanArgs& a) {
  // Bans are kept under the address's canonical text (IPv4-mapped IPv6 as
  // IPv4), so "::FFFF:192.0.2.1" lifts the ban of 192.0.2.1; an IPv6 address
  // under its network ([limits] ipv6_prefix), which any of its addresses
  // names (or, for a ban made before, the address itself).
  std::error_code ec;
  const auto address = asio::ip::make_address(a.address, ec);
  if (ec) {
    print_error("ban del", fmt::format("{} is not an IP address", json::quote(a.address)));
    return kExitUsage;
  }
  std::string canonical = net::unmapped(address).to_string();
  auto cfg = load_cli_config(a.config);
  if (!cfg)
    return kExitUsage;
  auto store = open_cli_store(*cfg);
  if (!store)
    return kExitFailed;
  const std::string group = core::address_group(address, cfg->limits.ipv6_prefix);
  auto removed = store->remove_ban(group);
  if (removed && *removed)
    canonical = group;
  else if (removed && group != canonical)
    removed = store->remove_ban(canonical);
  if (!removed)
    return kExitFailed; // logged
  if (!*removed) {
    print_error("ban del", fmt::format("no ban of {}", canonical));
    return kExitFailed;
  }
  std::printf("lifted the ban of %s\n", canonical.c_str());
  return kExitOk;
}

void add_config_option(CLI::App* cmd, BanArgs& a) {
  cmd->add_option("-c,--config", a.config,
                  "Configuration file (TOML); without it, the embedded default's database "
                  "(./berth-data/users.db)");
}

} // namespace

CommandGroup add_ban_commands(CLI::App& app) {
  // Shared, not unique: the options point into it and the returned
  // std::function (copyable) keeps it alive.
  auto args = std::make_shared<BanArgs>();
  auto* ban = app.add_subcommand("ban", "See and lift the bans of client addresses");
  ban->require_subcommand(1);

  auto* list = ban->add_subcommand("list", "List the bans (expired ones too: their level counts)");
  list->add_flag("--json", args->json, "A JSON array");
  add_config_option(list, *args);

  auto* del = ban->add_subcommand("del", "Lift the ban of an address");
  del->add_option("address", args->address, "IP address")->required();
  add_config_option(del, *args);

  auto run = [args, list, del]() -> int {
    init_cli_logging();
    if (*list)
      return run_list(*args);
    if (*del)
      return run_del(*args);
    return kExitUsage;
  };
  return {ban, run};
}

} // namespace berth::app
