#include "app/recount.hpp"

#include "app/cli_support.hpp"
#include "core/run_blocking.hpp"
#include "server/wiring.hpp"
#include "vfs/location.hpp"
#include "vfs/storage_backends.hpp"

#include <filesystem>

namespace berth::app {
namespace {

// Configuration users first, as the server looks them up.
core::Result<std::filesystem::path> home_of(const core::Config& cfg, store::SqliteStore& db,
                                            const std::string& user) {
  for (const auto& u : cfg.users)
    if (u.name == user)
      return u.home;
  auto record = db.get_user(user);
  if (!record)
    return core::unexpected(record.error());
  return record->home;
}

core::Task<core::Result<vfs::Usage>> count(vfs::Backends& storage, vfs::Location location) {
  co_return co_await storage.usage(location, true);
}

} // namespace

core::Result<store::UsageRecord> recount_usage(const core::Config& cfg, const std::string& user) {
  auto db = open_cli_store(cfg);
  if (!db)
    return core::unexpected(store::Errc::database);
  auto home = home_of(cfg, *db, user);
  if (!home)
    return core::unexpected(home.error());
  // Counted by the home's backend: a walk of the directory or of the bucket.
  auto location = vfs::Location::parse(home->string());
  if (!location)
    return core::unexpected(location.error());
  vfs::StorageBackends storage(nullptr, server::storage_settings(cfg));
  auto counted = core::run_blocking(count(storage, std::move(*location)));
  if (!counted)
    return core::unexpected(counted.error());
  const store::UsageRecord usage{counted->bytes, counted->files};
  if (auto r = db->set_usage(user, usage); !r)
    return core::unexpected(r.error());
  return usage;
}

} // namespace berth::app
