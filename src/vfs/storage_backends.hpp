#pragma once
// The backend factory of a server: local directories and S3-compatible
// buckets, with the settings of the configuration's [s3] section.

#include "core/config.hpp"
#include "core/upload_mode.hpp"
#include "core/worker_pool.hpp"
#include "vfs/backends.hpp"

#include <filesystem>
#include <memory>
#include <mutex>

namespace berth::store {
class StorageState;
}

namespace berth::vfs {
namespace s3 {
class Client;
}

/// What StorageBackends needs of the configuration.
struct StorageSettings {
  core::UploadMode upload_mode = core::UploadMode::atomic;
  core::S3Config s3;
  std::filesystem::path state_dir; ///< For [s3] spool_dir's default.
};

/// Thread-safe: sessions of every loop open their filesystems here.
class StorageBackends final : public Backends {
public:
  /// Local file I/O that may block runs on `io` (may be null: inline), which
  /// must outlive the filesystems opened here. `state` (may be null) records
  /// object storage's uploads in progress, for resume; its calls run on `io`.
  StorageBackends(core::WorkerPool* io, StorageSettings settings,
                  std::shared_ptr<store::StorageState> state = nullptr);
  ~StorageBackends() override;

  /// New settings (SIGHUP) for the sessions opened from now on; running
  /// sessions keep what they opened with.
  void reconfigure(StorageSettings settings);

  // vfs::Backends
  core::Task<core::Result<std::unique_ptr<Filesystem>>> open(const Location& location) override;
  core::Task<core::Result<Usage>> usage(const Location& location, bool recount) override;
  core::Task<core::Result<void>> check(const Location& location, std::string& why) override;

private:
  struct State;
  std::shared_ptr<const State> state() const;
  /// The client of `location`'s bucket under `st`'s settings (made once per
  /// profile and bucket), or null with `why` set.
  static std::shared_ptr<s3::Client> client_for(const State& st, const Location& location,
                                                std::string& why);

  /// Aborts and forgets `location`'s recorded uploads untouched for a day
  /// (abandoned: nobody resumed them), once per bucket and configuration.
  core::Task<void> clean_abandoned(std::shared_ptr<s3::Client> client, std::string location);

  core::WorkerPool* io_;
  std::shared_ptr<store::StorageState> storage_state_;
  mutable std::mutex mu_;
  std::shared_ptr<const State> state_; // guarded by mu_; replaced whole by reconfigure()
};

} // namespace berth::vfs
