// Defaults of the Filesystem interface.
#include "vfs/filesystem.hpp"

#include <algorithm>
#include <utility>

namespace berth::vfs {
namespace {

/// A listing read whole, handed out in one batch.
class WholeListing final : public DirReader {
public:
  explicit WholeListing(std::vector<DirEntry> entries) : entries_(std::move(entries)) {}

  // vfs::DirReader
  core::Task<core::Result<std::vector<DirEntry>>> next() override {
    co_return std::exchange(entries_, {});
  }

private:
  std::vector<DirEntry> entries_;
};

} // namespace

core::Task<core::Result<std::unique_ptr<DirReader>>> Filesystem::open_dir(const VirtualPath& dir) {
  auto entries = co_await list(dir);
  if (!entries)
    co_return core::unexpected(entries.error());
  std::sort(entries->begin(), entries->end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  co_return std::make_unique<WholeListing>(std::move(*entries));
}

} // namespace berth::vfs
