#include "vfs/local/staged_upload.hpp"

#include "vfs/errc.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>

namespace berth::vfs {

int rename_entry(int from_dir, const char* from, int to_dir, const char* to, bool no_replace) {
  if (!no_replace)
    return ::renameat(from_dir, from, to_dir, to);
  const int r = ::renameat2(from_dir, from, to_dir, to, RENAME_NOREPLACE);
  if (r == 0 || errno != EINVAL)
    return r;
  struct stat st {};
  if (::fstatat(from_dir, from, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return -1;
  if (S_ISDIR(st.st_mode)) {
    errno = EINVAL;
    return -1;
  }
  if (::linkat(from_dir, from, to_dir, to, 0) != 0)
    return -1;
  return ::unlinkat(from_dir, from, 0);
}

StagedUpload::StagedUpload(std::shared_ptr<StagedUploads> table, std::string key, UniqueFd parent,
                           std::string temp, std::string target, bool no_replace)
    : table_(std::move(table)), key_(std::move(key)), parent_(std::move(parent)),
      temp_(std::move(temp)), target_(std::move(target)), no_replace_(no_replace) {
  table_->add(key_, this);
}

StagedUpload::~StagedUpload() {
  table_->remove(key_, this);
  if (!published_)
    ::unlinkat(parent_.get(), temp_.c_str(), 0);
}

core::Result<void> StagedUpload::publish() {
  if (published_)
    return {};
  struct stat st {};
  if (::fstatat(parent_.get(), target_.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
    replaced_ = st;
  if (rename_entry(parent_.get(), temp_.c_str(), parent_.get(), target_.c_str(), no_replace_) != 0)
    return core::unexpected(from_errno(errno));
  published_ = true;
  table_->remove(key_, this);
  return {};
}

void StagedUploads::add(const std::string& key, StagedUpload* up) {
  std::lock_guard lock(mu_);
  by_path_[key] = up;
}

void StagedUploads::remove(const std::string& key, const StagedUpload* up) {
  std::lock_guard lock(mu_);
  if (auto it = by_path_.find(key); it != by_path_.end() && it->second == up)
    by_path_.erase(it);
}

bool StagedUploads::empty() const {
  std::lock_guard lock(mu_);
  return by_path_.empty();
}

core::Result<void> StagedUploads::publish(const VirtualPath& path) {
  StagedUpload* up = nullptr;
  {
    std::lock_guard lock(mu_);
    if (auto it = by_path_.find(path.str()); it != by_path_.end())
      up = it->second;
  }
  return up != nullptr ? up->publish() : core::Result<void>{};
}

} // namespace berth::vfs
