#include "ftp/listing_reader.hpp"

#include "ftp/glob.hpp"
#include "ftp/listing.hpp"
#include "vfs/errc.hpp"

#include <system_error>
#include <utility>

namespace berth::ftp {
namespace {

// The longest name pattern matched against a directory's names: NAME_MAX,
// so one pattern costs at most 255 x 255 steps a name (glob_match).
constexpr std::size_t kMaxPattern = 255;

} // namespace

core::Task<core::Result<ListingReader>> ListingReader::open(vfs::Filesystem& fs,
                                                            const vfs::VirtualPath& path,
                                                            std::string_view shown, bool glob,
                                                            bool all) {
  ListingReader out;
  auto st = co_await fs.stat(path);
  // A name that exists as written wins over a pattern ("*.txt" can be a file).
  const bool pattern =
      !st && st.error() == vfs::Errc::not_found && glob && has_wildcard(path.name());
  if (!st && !pattern)
    co_return core::unexpected(st.error());
  if (!pattern && st->type != vfs::FileType::directory) {
    out.file_ = vfs::DirEntry{std::string(shown), *st};
    co_return out;
  }
  vfs::VirtualPath dir = path;
  if (pattern) {
    if (path.name().size() > kMaxPattern || !valid_pattern(path.name()))
      co_return core::unexpected(std::make_error_code(std::errc::invalid_argument));
    out.pattern_ = std::string(path.name());
    auto slash = shown.rfind('/');
    out.prefix_ = std::string(slash == std::string_view::npos ? "" : shown.substr(0, slash + 1));
    out.all_ = all;
    dir = path.parent();
  }
  auto reader = co_await fs.open_dir(dir);
  if (!reader)
    co_return core::unexpected(reader.error());
  out.dir_ = std::move(*reader);
  out.is_directory_ = !pattern;
  co_return out;
}

core::Task<core::Result<std::vector<vfs::DirEntry>>> ListingReader::next() {
  std::vector<vfs::DirEntry> shown;
  if (file_) {
    shown.push_back(std::move(*file_));
    file_.reset();
  }
  // A batch whose names are all left out is not the end: read on.
  while (dir_ != nullptr && !done_ && shown.empty()) {
    auto batch = co_await dir_->next();
    if (!batch)
      co_return core::unexpected(batch.error());
    done_ = batch->empty();
    for (auto& e : *batch) {
      if (!listable_name(e.name))
        continue;
      if (!pattern_.empty()) {
        if (!glob_match(pattern_, e.name, all_))
          continue;
        e.name.insert(0, prefix_); // the same prefix on every name keeps the order
      }
      shown.push_back(std::move(e));
    }
  }
  if (done_)
    dir_.reset(); // the directory is closed as soon as it is read
  co_return shown;
}

} // namespace berth::ftp
