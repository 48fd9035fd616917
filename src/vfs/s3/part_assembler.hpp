#pragma once
// The in-flight window of an upload: writes at offsets assembled into part
// buffers, in place, until a part is whole and can be sent. Pure logic, no I/O.

#include "core/result.hpp"
#include "vfs/s3/memory_budget.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <utility>
#include <vector>

namespace berth::vfs::s3 {

/// A part's bytes and the budget they are charged to.
struct PartBuffer {
  std::vector<std::byte> bytes;
  MemoryBudget::Lease lease;
};

/// A part ready to be sent: its index from 0 and its first `size` bytes.
struct ReadyPart {
  std::uint64_t index = 0;
  PartBuffer buffer;
  std::size_t size = 0;
};

/// Parts are `part_size` bytes from `origin` (the upload's first byte). Part i
/// covers [origin + i * part_size, origin + (i + 1) * part_size). At most
/// `max_open` consecutive parts, from the first one not yet sent, are open.
class PartAssembler {
public:
  PartAssembler(std::uint64_t origin, std::uint64_t part_size, unsigned max_open);

  /// The parts a write of `len` > 0 bytes at `offset` touches (first, last).
  /// Errors: vfs::Errc::unsupported when it starts in a part already sent or
  /// ends beyond the window, or more than kMaxPieces separate pieces would be
  /// kept in a part (a pathological scatter of tiny writes).
  core::Result<std::pair<std::uint64_t, std::uint64_t>> parts_for(std::uint64_t offset,
                                                                  std::size_t len) const;
  bool is_open(std::uint64_t part) const { return open_.count(part) != 0; }
  std::size_t open_count() const { return open_.size(); }
  /// Opens `part` with `buffer` (its bytes are resized to part_size, zeroed).
  void open(std::uint64_t part, PartBuffer buffer);
  /// Copies a write into the open parts; parts_for() accepted it and every
  /// part it touches is open.
  void put(std::uint64_t offset, std::span<const std::byte> data);
  /// The first open part once every byte of it is written; it leaves the window.
  std::optional<ReadyPart> pop_complete();
  /// Every part left up to end(), in order, the last one cut at end(); bytes
  /// never written read as zeros (a part never opened gets an unbudgeted
  /// buffer: at most max_open of them).
  std::vector<ReadyPart> finish();
  /// One past the highest byte written (origin when nothing was).
  std::uint64_t end() const { return end_; }
  /// The first byte not yet sent.
  std::uint64_t window_start() const { return origin_ + next_part_ * part_size_; }
  /// The index of the first part not yet sent.
  std::uint64_t next_part() const { return next_part_; }
  /// Cuts the upload at `size`. Errors: unsupported when `size` is before
  /// window_start() (those bytes are sent) or after end().
  core::Result<void> truncate(std::uint64_t size);

  static constexpr std::size_t kMaxPieces = 4096;

private:
  struct Open {
    PartBuffer buffer;
    std::map<std::size_t, std::size_t> written; ///< Disjoint, merged ranges: begin -> end.
    std::size_t bytes = 0;                      ///< Their total.
  };
  static void mark(Open& part, std::size_t begin, std::size_t end);

  std::uint64_t origin_;
  std::uint64_t part_size_;
  unsigned max_open_;
  std::uint64_t next_part_ = 0;
  std::uint64_t end_;
  std::map<std::uint64_t, Open> open_;
};

} // namespace berth::vfs::s3
