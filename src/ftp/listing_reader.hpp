#pragma once
// What LIST, NLST, MLSD and STAT show, read from the filesystem a batch at a
// time (vfs::DirReader), so that a directory of any size is never held whole.

#include "core/result.hpp"
#include "core/task.hpp"
#include "vfs/filesystem.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::ftp {

/// A listing's entries: a directory's, those of a directory whose names match
/// a pattern, or one file. Used from one coroutine at a time.
class ListingReader {
public:
  /// Opens what `path` names. A directory lists its entries; a file lists
  /// itself as `shown`; with `glob`, a name that does not exist but holds a
  /// wildcard is matched (one level) against the names of its directory, which
  /// are shown with `shown`'s directory part, as the client wrote it (so
  /// "NLST sub/*.txt" gives names RETR takes); a pattern matches dotfiles only
  /// with `all`. Names that can not be sent in a listing line are left out.
  /// Errors: the filesystem's (before anything is read), std::errc::invalid_argument
  /// for a malformed or too long pattern.
  static core::Task<core::Result<ListingReader>> open(vfs::Filesystem& fs,
                                                      const vfs::VirtualPath& path,
                                                      std::string_view shown, bool glob, bool all);

  /// True if the listing is a directory's (not a file, not a pattern's matches).
  bool is_directory() const { return is_directory_; }

  /// The next entries, in byte order of their names; an empty batch at the
  /// end. Errors: the filesystem's, while reading further batches.
  core::Task<core::Result<std::vector<vfs::DirEntry>>> next();

private:
  std::unique_ptr<vfs::DirReader> dir_; ///< Null for one file.
  std::optional<vfs::DirEntry> file_;   ///< One file, until it is handed out.
  std::string pattern_;                 ///< Empty: every listable name.
  std::string prefix_;                  ///< Put before each matched name.
  bool all_ = false;
  bool is_directory_ = false;
  bool done_ = false;
};

} // namespace berth::ftp
