#pragma once
// A user's storage quota: limits and the usage that all their sessions share.
// Enforced by vfs/guarded; the initial usage comes from LocalFs::usage().

#include <cstdint>
#include <mutex>

namespace berth::vfs {

/// Bytes of regular files and their number.
struct Usage {
  std::int64_t bytes = 0;
  std::int64_t files = 0;
  bool operator==(const Usage&) const = default;
};

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
};

} // namespace berth::vfs
