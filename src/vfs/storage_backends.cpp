#include "vfs/storage_backends.hpp"

#include "core/log.hpp"
#include "vfs/errc.hpp"
#include "vfs/local/local_fs.hpp"
#include "vfs/s3/client.hpp"
#include "vfs/s3/memory_budget.hpp"
#include "vfs/s3/s3_fs.hpp"

#include <fmt/format.h>

#include <map>
#include <system_error>
#include <utility>

namespace berth::vfs {

/// One configuration's settings and the clients of its buckets.
struct StorageBackends::State {
  StorageSettings settings;
  /// The node-wide budget of upload part buffers: kept across reloads while
  /// its size stays, so that running uploads and new ones share it.
  std::shared_ptr<s3::MemoryBudget> budget;
  mutable std::mutex mu;
  /// "profile@bucket" -> its client, made on first use.
  mutable std::map<std::string, std::shared_ptr<s3::Client>> clients; // guarded by mu
};

namespace {

std::shared_ptr<s3::MemoryBudget> budget_for(const StorageSettings& s,
                                             std::shared_ptr<s3::MemoryBudget> old) {
  if (old && old->total() == s.s3.memory_budget)
    return old;
  return std::make_shared<s3::MemoryBudget>(s.s3.memory_budget);
}

std::string section_of(const Location& location) {
  return location.profile().empty() ? "[s3]" : fmt::format("[s3.profiles.{}]", location.profile());
}

} // namespace

StorageBackends::StorageBackends(core::WorkerPool* io, StorageSettings settings) : io_(io) {
  auto st = std::make_shared<State>();
  st->budget = budget_for(settings, nullptr);
  st->settings = std::move(settings);
  state_ = std::move(st);
}

StorageBackends::~StorageBackends() = default;

void StorageBackends::reconfigure(StorageSettings settings) {
  auto next = std::make_shared<State>();
  next->budget = budget_for(settings, state()->budget);
  next->settings = std::move(settings);
  std::lock_guard lock(mu_);
  state_ = std::move(next);
}

std::shared_ptr<const StorageBackends::State> StorageBackends::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

std::shared_ptr<s3::Client> StorageBackends::client_for(const State& st, const Location& location,
                                                        std::string& why) {
  const core::S3Profile* profile = st.settings.s3.profile(location.profile());
  if (profile == nullptr) {
    why = fmt::format("\"{}\": the configuration has no {}", location.to_string(),
                      section_of(location));
    return nullptr;
  }
  if (profile->endpoint.empty()) {
    why = fmt::format("\"{}\": {} has no endpoint", location.to_string(), section_of(location));
    return nullptr;
  }
  const std::string key = location.profile() + "@" + location.bucket();
  std::lock_guard lock(st.mu);
  auto& slot = st.clients[key];
  if (!slot)
    slot = std::make_shared<s3::Client>(*profile, location.bucket());
  return slot;
}

core::Task<core::Result<std::unique_ptr<Filesystem>>>
StorageBackends::open(const Location& location) {
  auto st = state();
  if (location.kind() == Location::Kind::local) {
    auto fs = LocalFs::open(location.path(), io_, st->settings.upload_mode);
    if (!fs)
      co_return core::unexpected(fs.error());
    co_return std::unique_ptr<Filesystem>(std::move(*fs));
  }
  std::string why;
  auto client = client_for(*st, location, why);
  if (!client) {
    spdlog::error("storage: {}", why);
    co_return core::unexpected(Errc::unavailable);
  }
  const core::S3Profile& profile = client->profile();
  s3::S3FsOptions options;
  options.client = std::move(client);
  options.prefix = location.prefix();
  options.budget = st->budget;
  options.part_size = profile.part_size;
  options.upload_concurrency = profile.upload_concurrency;
  options.max_rename_objects = st->settings.s3.max_rename_objects;
  co_return s3::open_s3_fs(std::move(options));
}

core::Task<core::Result<Usage>> StorageBackends::usage(const Location& location, bool) {
  auto st = state();
  if (location.kind() == Location::Kind::local) {
    const std::filesystem::path home = location.path();
    auto count = [&home] { return LocalFs::usage(home); };
    if (io_ != nullptr)
      co_return co_await io_->run(count);
    co_return count();
  }
  std::string why;
  auto client = client_for(*st, location, why);
  if (!client) {
    spdlog::error("storage: {}", why);
    co_return core::unexpected(Errc::unavailable);
  }
  std::string prefix = location.prefix();
  co_return co_await s3::count_usage(*client, std::move(prefix));
}

core::Task<core::Result<void>> StorageBackends::check(const Location& location, std::string& why) {
  if (location.kind() == Location::Kind::local) {
    std::error_code ec;
    if (!std::filesystem::is_directory(location.path(), ec)) {
      why = fmt::format("\"{}\" is not an existing directory", location.path().string());
      co_return core::unexpected(Errc::not_found);
    }
    co_return core::Result<void>{};
  }
  auto st = state();
  auto client = client_for(*st, location, why);
  if (!client)
    co_return core::unexpected(Errc::not_found);
  auto r = co_await client->check_bucket();
  if (!r) {
    why = fmt::format("\"{}\": bucket {} at {} does not answer: {}", location.to_string(),
                      location.bucket(), client->profile().endpoint, r.error().message());
    co_return r;
  }
  co_return core::Result<void>{};
}

} // namespace berth::vfs
