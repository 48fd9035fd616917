#include "vfs/open_files.hpp"

#include <algorithm>
#include <utility>

namespace berth::vfs {

OpenFiles::OpenFiles(std::size_t max_total, std::size_t max_per_user)
    : max_total_(max_total), max_per_user_(max_per_user) {}

OpenFiles::Slot::Slot(Slot&& o) noexcept
    : owner_(std::exchange(o.owner_, nullptr)), user_(std::move(o.user_)) {}

OpenFiles::Slot& OpenFiles::Slot::operator=(Slot&& o) noexcept {
  if (this != &o) {
    if (owner_ != nullptr)
      owner_->give_back(user_);
    owner_ = std::exchange(o.owner_, nullptr);
    user_ = std::move(o.user_);
  }
  return *this;
}

OpenFiles::Slot::~Slot() {
  if (owner_ != nullptr)
    owner_->give_back(user_);
}

OpenFiles::Slot OpenFiles::take(const std::string& user) {
  std::lock_guard lock(mu_);
  if (max_total_ != 0 && open_ >= max_total_)
    return {};
  auto it = users_.find(user);
  const std::size_t mine = it == users_.end() ? 0 : it->second;
  if (max_per_user_ != 0 && mine >= max_per_user_)
    return {};
  ++open_;
  if (it == users_.end())
    users_.emplace(user, 1);
  else
    ++it->second;
  return Slot(this, user);
}

void OpenFiles::give_back(const std::string& user) {
  std::lock_guard lock(mu_);
  --open_;
  auto it = users_.find(user);
  if (it != users_.end() && --it->second == 0)
    users_.erase(it);
}

void OpenFiles::set_limits(std::size_t max_total, std::size_t max_per_user) {
  std::lock_guard lock(mu_);
  max_total_ = max_total;
  max_per_user_ = max_per_user;
}

std::size_t OpenFiles::open() const {
  std::lock_guard lock(mu_);
  return open_;
}

std::size_t OpenFiles::open_by(const std::string& user) const {
  std::lock_guard lock(mu_);
  auto it = users_.find(user);
  return it == users_.end() ? 0 : it->second;
}

OpenFileLimits open_file_limits(std::size_t nofile, std::size_t total, std::size_t per_user) {
  // SECURITY: descriptors the files may never take, for accept(), logins
  // (TLS, SSH, the user database) and data connections.
  const std::size_t reserve = std::max<std::size_t>(64, nofile / 4);
  const std::size_t budget = nofile > reserve + 1 ? nofile - reserve : 1;
  OpenFileLimits l;
  l.total = total == 0 ? budget : std::min(total, budget);
  l.per_user = per_user == 0 ? std::max<std::size_t>(1, l.total / 4) : std::min(per_user, l.total);
  return l;
}

} // namespace berth::vfs
