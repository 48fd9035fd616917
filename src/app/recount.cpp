#include "app/recount.hpp"

#include "app/cli_support.hpp"
#include "vfs/local/local_fs.hpp"

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

} // namespace

core::Result<store::UsageRecord> recount_usage(const core::Config& cfg, const std::string& user) {
  auto db = open_cli_store(cfg);
  if (!db)
    return core::unexpected(store::Errc::database);
  auto home = home_of(cfg, *db, user);
  if (!home)
    return core::unexpected(home.error());
  // TODO(records): count through the backend factory, vfs::Backends::usage(
  // location, /*recount=*/true), once it is built for the CLI: then an s3://
  // home is counted too. Until then every home is a local directory (user
  // add/set and the configuration accept nothing else).
  auto counted = vfs::LocalFs::usage(*home);
  if (!counted)
    return core::unexpected(counted.error());
  const store::UsageRecord usage{counted->bytes, counted->files};
  if (auto r = db->set_usage(user, usage); !r)
    return core::unexpected(r.error());
  return usage;
}

} // namespace berth::app
