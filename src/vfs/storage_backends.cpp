#include "vfs/storage_backends.hpp"

#include "core/log.hpp"
#include "store/storage_state.hpp"
#include "vfs/errc.hpp"
#include "vfs/local/local_fs.hpp"
#include "vfs/s3/client.hpp"
#include "vfs/s3/memory_budget.hpp"
#include "vfs/s3/s3_fs.hpp"
#include "vfs/s3/spool.hpp"

#include <fmt/format.h>

#include <map>
#include <set>
#include <system_error>
#include <utility>

namespace berth::vfs {

/// One configuration's settings and the clients of its buckets.
struct StorageBackends::State {
  StorageSettings settings;
  /// The node-wide budget of upload part buffers: kept across reloads while
  /// its size stays, so that running uploads and new ones share it.
  std::shared_ptr<s3::MemoryBudget> budget;
  /// The node's spool folder and limit, kept across reloads while they stay.
  std::shared_ptr<s3::SpoolSpace> spool;
  mutable std::mutex mu;
  /// "profile@bucket" -> its client, made on first use.
  mutable std::map<std::string, std::shared_ptr<s3::Client>> clients; // guarded by mu
  /// Locations whose abandoned uploads were cleaned up.
  mutable std::set<std::string> cleaned; // guarded by mu
};

namespace {

std::shared_ptr<s3::MemoryBudget> budget_for(const StorageSettings& s,
                                             std::shared_ptr<s3::MemoryBudget> old) {
  if (old && old->total() == s.s3.memory_budget)
    return old;
  return std::make_shared<s3::MemoryBudget>(s.s3.memory_budget);
}

/// [s3] spool_dir, a relative one (and the default, "s3-spool") in the state folder.
std::shared_ptr<s3::SpoolSpace> spool_for(const StorageSettings& s, core::WorkerPool* io,
                                          std::shared_ptr<s3::SpoolSpace> old) {
  std::filesystem::path dir = s.s3.spool_dir.empty() ? "s3-spool" : s.s3.spool_dir;
  if (dir.is_relative())
    dir = s.state_dir / dir;
  if (old && old->dir() == dir && old->limit() == s.s3.spool_limit)
    return old;
  return std::make_shared<s3::SpoolSpace>(std::move(dir), s.s3.spool_limit, io);
}

/// A day without a new part: the upload is abandoned.
constexpr std::chrono::hours kAbandonedAfter{24};
constexpr std::size_t kCleanBatch = 1000;

/// Runs `fn` on `io`, or inline without one.
template <class F> core::Task<std::invoke_result_t<F&>> on_pool(core::WorkerPool* io, const F& fn) {
  if (io != nullptr)
    co_return co_await io->run(fn);
  co_return fn();
}

/// The text a bucket's uploads are recorded under: "s3://profile@bucket".
std::string upload_location(const Location& location) {
  return location.profile().empty()
             ? fmt::format("s3://{}", location.bucket())
             : fmt::format("s3://{}@{}", location.profile(), location.bucket());
}

/// s3::UploadJournal on the node's StorageState, its calls on the worker pool.
class StateJournal final : public s3::UploadJournal {
public:
  StateJournal(std::shared_ptr<store::StorageState> state, core::WorkerPool* io,
               std::string location)
      : state_(std::move(state)), io_(io), location_(std::move(location)) {}

  core::Task<core::Result<void>> started(std::string key, std::string upload_id) override {
    store::UploadRecord rec;
    rec.location = location_;
    rec.key = std::move(key);
    rec.upload_id = std::move(upload_id);
    rec.started = std::chrono::system_clock::now();
    rec.updated = rec.started;
    auto fn = [st = state_, rec] { return st->save_upload(rec); };
    co_return co_await on_pool(io_, fn);
  }

  core::Task<core::Result<void>> part(std::string key, std::string upload_id,
                                      s3::Part part) override {
    store::PartRecord rec{static_cast<std::uint32_t>(part.number), part.etag, part.size};
    auto fn = [st = state_, loc = location_, key, upload_id, rec] {
      return st->add_upload_part(loc, key, upload_id, rec, std::chrono::system_clock::now());
    };
    co_return co_await on_pool(io_, fn);
  }

  core::Task<core::Result<void>> ended(std::string key, std::string upload_id) override {
    auto fn = [st = state_, loc = location_, key, upload_id] {
      return st->remove_upload(loc, key, upload_id);
    };
    auto r = co_await on_pool(io_, fn);
    if (!r)
      co_return core::unexpected(r.error());
    co_return core::Result<void>{};
  }

  core::Task<core::Result<std::optional<s3::RecordedUpload>>> find(std::string key) override {
    auto fn = [st = state_, loc = location_, key] { return st->find_upload(loc, key); };
    auto found = co_await on_pool(io_, fn);
    if (!found)
      co_return core::unexpected(found.error());
    if (!*found)
      co_return std::optional<s3::RecordedUpload>{};
    s3::RecordedUpload out;
    out.upload_id = (*found)->upload_id;
    for (const auto& p : (*found)->parts)
      out.parts.push_back(s3::Part{static_cast<int>(p.number), p.etag, p.size});
    co_return std::optional<s3::RecordedUpload>(std::move(out));
  }

private:
  std::shared_ptr<store::StorageState> state_;
  core::WorkerPool* io_;
  std::string location_;
};

std::string section_of(const Location& location) {
  return location.profile().empty() ? "[s3]" : fmt::format("[s3.profiles.{}]", location.profile());
}

} // namespace

StorageBackends::StorageBackends(core::WorkerPool* io, StorageSettings settings,
                                 std::shared_ptr<store::StorageState> state)
    : io_(io), storage_state_(std::move(state)) {
  auto st = std::make_shared<State>();
  st->budget = budget_for(settings, nullptr);
  st->spool = spool_for(settings, io_, nullptr);
  st->settings = std::move(settings);
  state_ = std::move(st);
}

StorageBackends::~StorageBackends() = default;

void StorageBackends::reconfigure(StorageSettings settings) {
  auto next = std::make_shared<State>();
  next->budget = budget_for(settings, state()->budget);
  next->spool = spool_for(settings, io_, state()->spool);
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
  options.spool = st->spool;
  options.part_size = profile.part_size;
  options.upload_concurrency = profile.upload_concurrency;
  options.max_rename_objects = st->settings.s3.max_rename_objects;
  if (storage_state_) {
    std::string where = upload_location(location);
    bool first = false;
    {
      std::lock_guard lock(st->mu);
      first = st->cleaned.insert(where).second;
    }
    if (first)
      co_await clean_abandoned(options.client, where);
    options.journal = std::make_shared<StateJournal>(storage_state_, io_, where);
  }
  co_return s3::open_s3_fs(std::move(options));
}

core::Task<void> StorageBackends::clean_abandoned(std::shared_ptr<s3::Client> client,
                                                  std::string location) {
  const auto before = std::chrono::system_clock::now() - kAbandonedAfter;
  auto fn = [st = storage_state_, before] { return st->uploads_older_than(before, kCleanBatch); };
  auto old = co_await on_pool(io_, fn);
  if (!old) {
    spdlog::warn("storage: abandoned uploads of {} not cleaned: {}", location,
                 old.error().message());
    co_return;
  }
  for (const auto& rec : *old) {
    if (rec.location != location)
      continue; // another bucket's: cleaned when it opens
    auto key = rec.key;
    auto id = rec.upload_id;
    auto aborted = co_await client->abort_multipart(key, id);
    if (!aborted && aborted.error() != make_error_code(Errc::not_found))
      continue; // tried again at the next start
    auto forget = [st = storage_state_, location, key, id] {
      return st->remove_upload(location, key, id);
    };
    (void)co_await on_pool(io_, forget);
    spdlog::info("storage: aborted the abandoned upload of {} in {}", key, location);
  }
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
