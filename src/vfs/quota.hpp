#pragma once
// A user's storage quota: limits and the usage that all their sessions share.
// Enforced by vfs/guarded; the initial usage comes from LocalFs::usage().

#include "core/task.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <utility>

namespace berth::vfs {

/// Bytes of regular files and their number.
struct Usage {
  std::int64_t bytes = 0;
  std::int64_t files = 0;
  bool operator==(const Usage&) const = default;
};

/// What a directory or a symbolic link costs: one file, and one block of
/// bytes (what ext4 gives a directory, and a link whose text does not fit in
/// its inode). Without it, empty directories and links filled a disk past
/// any quota (issue 17). The scan of a home and the live accounting both
/// count it.
inline constexpr std::int64_t kEntryBytes = 4096;

/// Thread-safe: one Quota is shared by every session of a user, on any loop,
/// so that racing uploads can not together pass a limit. Usage never goes below 0.
class Quota {
public:
  /// Limits of 0 mean none. `initial`: the usage found on disk.
  Quota(std::int64_t max_bytes, std::int64_t max_files, Usage initial = {});
  Quota(const Quota&) = delete;
  Quota& operator=(const Quota&) = delete;

  /// Adds `bytes` and `files` to the usage, both or neither: refused (false,
  /// nothing changes) only when a positive delta would take its count past its
  /// limit. Negative deltas always apply.
  [[nodiscard]] bool try_charge(std::int64_t bytes, std::int64_t files);

  /// Gives back usage that was charged (a deleted or truncated file, a
  /// discarded upload): subtracts both, never below 0.
  void release(std::int64_t bytes, std::int64_t files);

  /// Applies a change the disk has already made, whatever the limits (a file
  /// found larger than charged): adds both deltas, never below 0.
  void adjust(std::int64_t bytes, std::int64_t files);

  /// Replaces the usage, after a rescan of the disk.
  void set_usage(Usage usage);

  /// Called with each change of the usage (the deltas as applied, after the
  /// clamping at 0), under the quota's lock: it must only hand them on (a
  /// persisted counter queues them for a worker). Set before the quota is shared.
  using Observer = std::function<void(std::int64_t bytes, std::int64_t files)>;
  void observe(Observer observer) { observer_ = std::move(observer); }

  /// Holds the user's critical section while it lives; empty: holds nothing.
  class Hold {
  public:
    Hold() = default;
    explicit Hold(Quota* q) : quota_(q) {}
    Hold(Hold&& o) noexcept : quota_(std::exchange(o.quota_, nullptr)) {}
    Hold& operator=(Hold&& o) noexcept {
      if (this != &o) {
        release();
        quota_ = std::exchange(o.quota_, nullptr);
      }
      return *this;
    }
    ~Hold() { release(); }

  private:
    void release() {
      if (quota_ != nullptr)
        quota_->held_.store(false, std::memory_order_release);
      quota_ = nullptr;
    }
    Quota* quota_ = nullptr;
  };

  /// The user's critical section, for a look at the disk, the change and the
  /// charge or release that follows: two sessions never count one change
  /// twice (two truncations of a file both giving its bytes back). Waits
  /// while another holds it, on a timer of the caller's executor (the
  /// holders run on any event loop), never blocking a loop. Not reentrant.
  core::Task<Hold> hold();

  Usage usage() const;
  /// New limits (the user was changed); the usage stays. 0 means none.
  void set_limits(std::int64_t max_bytes, std::int64_t max_files);
  std::int64_t max_bytes() const;
  std::int64_t max_files() const;

private:
  void apply(std::int64_t bytes, std::int64_t files); // caller holds mu_

  mutable std::mutex mu_;
  std::int64_t max_bytes_; // guarded by mu_
  std::int64_t max_files_; // guarded by mu_
  Usage usage_;            // guarded by mu_
  Observer observer_;      // set before sharing
  std::atomic<bool> held_{false};
};

} // namespace berth::vfs
