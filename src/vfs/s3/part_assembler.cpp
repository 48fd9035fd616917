// The in-flight window of an upload.
#include "vfs/s3/part_assembler.hpp"

#include "core/check.hpp"
#include "vfs/errc.hpp"

#include <algorithm>
#include <cstring>

namespace berth::vfs::s3 {

PartAssembler::PartAssembler(std::uint64_t origin, std::uint64_t part_size, unsigned max_open)
    : origin_(origin), part_size_(part_size), max_open_(std::max(1u, max_open)), end_(origin) {}

core::Result<std::pair<std::uint64_t, std::uint64_t>>
PartAssembler::parts_for(std::uint64_t offset, std::size_t len) const {
  BERTH_CHECK(len > 0);
  if (offset < window_start())
    return core::unexpected(Errc::unsupported);
  const std::uint64_t first = (offset - origin_) / part_size_;
  const std::uint64_t last = (offset + len - 1 - origin_) / part_size_;
  if (last >= next_part_ + max_open_)
    return core::unexpected(Errc::unsupported);
  for (auto p = first; p <= last; ++p) {
    auto it = open_.find(p);
    if (it != open_.end() && it->second.written.size() >= kMaxPieces)
      return core::unexpected(Errc::unsupported);
  }
  return std::pair{first, last};
}

void PartAssembler::open(std::uint64_t part, PartBuffer buffer) {
  BERTH_CHECK(part >= next_part_ && part < next_part_ + max_open_ && !is_open(part));
  buffer.bytes.assign(part_size_, std::byte{0});
  open_.emplace(part, Open{std::move(buffer), {}, 0});
}

void PartAssembler::mark(Open& part, std::size_t begin, std::size_t end) {
  // Merge [begin, end) with every range it touches.
  auto it = part.written.upper_bound(begin);
  if (it != part.written.begin() && std::prev(it)->second >= begin)
    --it;
  while (it != part.written.end() && it->first <= end) {
    begin = std::min(begin, it->first);
    end = std::max(end, it->second);
    part.bytes -= it->second - it->first;
    it = part.written.erase(it);
  }
  part.written.emplace(begin, end);
  part.bytes += end - begin;
}

void PartAssembler::put(std::uint64_t offset, std::span<const std::byte> data) {
  while (!data.empty()) {
    const std::uint64_t part = (offset - origin_) / part_size_;
    auto it = open_.find(part);
    BERTH_CHECK(it != open_.end());
    const auto at = static_cast<std::size_t>(offset - origin_ - part * part_size_);
    const std::size_t n = std::min<std::size_t>(data.size(), part_size_ - at);
    std::memcpy(it->second.buffer.bytes.data() + at, data.data(), n);
    mark(it->second, at, at + n);
    offset += n;
    data = data.subspan(n);
    end_ = std::max(end_, offset);
  }
}

std::optional<ReadyPart> PartAssembler::pop_complete() {
  auto it = open_.find(next_part_);
  if (it == open_.end() || it->second.bytes < part_size_)
    return std::nullopt;
  ReadyPart ready{next_part_, std::move(it->second.buffer), static_cast<std::size_t>(part_size_)};
  open_.erase(it);
  ++next_part_;
  return ready;
}

std::vector<ReadyPart> PartAssembler::finish() {
  std::vector<ReadyPart> out;
  while (window_start() < end_) {
    auto it = open_.find(next_part_);
    PartBuffer buffer;
    if (it != open_.end()) {
      buffer = std::move(it->second.buffer);
      open_.erase(it);
    } else {
      buffer.bytes.assign(part_size_, std::byte{0});
    }
    const auto size = static_cast<std::size_t>(std::min(part_size_, end_ - window_start()));
    out.push_back(ReadyPart{next_part_, std::move(buffer), size});
    ++next_part_;
  }
  open_.clear();
  return out;
}

core::Result<void> PartAssembler::truncate(std::uint64_t size) {
  if (size < window_start() || size > end_)
    return core::unexpected(Errc::unsupported);
  end_ = size;
  for (auto it = open_.begin(); it != open_.end();) {
    const std::uint64_t start = origin_ + it->first * part_size_;
    if (start >= size) {
      it = open_.erase(it);
      continue;
    }
    // Forget what was written at and after `size` in this part, and zero it:
    // writing it again must not leave old bytes behind.
    const auto cut = static_cast<std::size_t>(std::min(part_size_, size - start));
    auto& part = it->second;
    std::fill(part.buffer.bytes.begin() + static_cast<std::ptrdiff_t>(cut), part.buffer.bytes.end(),
              std::byte{0});
    for (auto w = part.written.begin(); w != part.written.end();) {
      if (w->first >= cut) {
        part.bytes -= w->second - w->first;
        w = part.written.erase(w);
      } else {
        if (w->second > cut) {
          part.bytes -= w->second - cut;
          w->second = cut;
        }
        ++w;
      }
    }
    ++it;
  }
  return {};
}

} // namespace berth::vfs::s3
