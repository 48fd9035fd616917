#pragma once
// Replace uploads of existing names, staged under a temporary name until
// published, and the table through which the session that staged one sees it
// at its name (LocalFs's atomic upload mode).

#include "core/result.hpp"
#include "vfs/local/local_fs.hpp"
#include "vfs/virtual_path.hpp"

#include <sys/stat.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace berth::vfs {

/// rename(2) of `from` in `from_dir` to `to` in `to_dir`, or with `no_replace`
/// renameat2(2) RENAME_NOREPLACE (EEXIST if anything is at `to`). File systems
/// without it (EINVAL) move a non-directory by link(2) and unlink(2), which can
/// not replace either. Returns -1 with errno set on failure.
int rename_entry(int from_dir, const char* from, int to_dir, const char* to, bool no_replace);

/// One staged upload: a temporary file in the target's directory that replaces
/// the target when published (renamed over it). Owned by the File that staged
/// it; destroyed unpublished, the temporary file goes, and the target was
/// never touched. Registered in its table from construction until published
/// or destroyed.
class StagedUpload {
public:
  /// `no_replace`: publish() fails with Errc::exists if something is at the
  /// target by then (the upload was allowed as a new file).
  StagedUpload(std::shared_ptr<StagedUploads> table, std::string key, UniqueFd parent,
               std::string temp, std::string target, bool no_replace);
  StagedUpload(const StagedUpload&) = delete;
  StagedUpload& operator=(const StagedUpload&) = delete;
  ~StagedUpload();

  /// Renames the staged file over its target (once; later calls do nothing)
  /// and keeps what it replaced. Errors: the OS error of the rename.
  core::Result<void> publish();
  /// Runs `op(dir, name)` on the staged file.
  template <class Op> auto at_temp(Op op) const { return op(parent_.get(), temp_.c_str()); }
  /// What publish() replaced (lstat, just before), if anything.
  const std::optional<struct stat>& replaced() const { return replaced_; }

private:
  std::shared_ptr<StagedUploads> table_;
  std::string key_; ///< The virtual path, as the table knows it.
  UniqueFd parent_;
  std::string temp_;
  std::string target_;
  bool no_replace_;
  bool published_ = false;
  std::optional<struct stat> replaced_;
};

/// The uploads one LocalFs (one session) staged, by virtual path: that session
/// sees a staged file at its name (stat, lstat, open) until it is published or
/// discarded, as a client writing a file expects (sshfs stats it right after
/// the open). Thread-safe: list() resolves names on the I/O pool.
class StagedUploads {
public:
  void add(const std::string& key, StagedUpload* up);
  /// Forgets `key` if it still names `up`.
  void remove(const std::string& key, const StagedUpload* up);
  bool empty() const;

  /// `op(dir, name)` on the file staged for `path`, run under the table's
  /// lock; nothing when none is staged there.
  template <class Op>
  auto with(const VirtualPath& path, Op op) const -> std::optional<decltype(op(0, ""))> {
    std::lock_guard lock(mu_);
    auto it = by_path_.find(path.str());
    if (it == by_path_.end())
      return std::nullopt;
    return it->second->at_temp(op);
  }

  /// Publishes the upload staged for `path`, if any: the session acts on the
  /// name (rename, remove) as on the file it sees there.
  core::Result<void> publish(const VirtualPath& path);

private:
  mutable std::mutex mu_;
  std::map<std::string, StagedUpload*, std::less<>> by_path_;
};

} // namespace berth::vfs
