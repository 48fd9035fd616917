#include "vfs/local/staged_upload.hpp"

#include "vfs/errc.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace berth::vfs {

StagedUpload::StagedUpload(std::shared_ptr<StagedUploads> table, std::string key, UniqueFd parent,
                           std::string temp, std::string target)
    : table_(std::move(table)), key_(std::move(key)), parent_(std::move(parent)),
      temp_(std::move(temp)), target_(std::move(target)) {
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
  if (::renameat(parent_.get(), temp_.c_str(), parent_.get(), target_.c_str()) != 0)
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
