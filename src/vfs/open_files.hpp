#pragma once
// The server's budget of open files: how many files and directories all users
// together, and each user, may hold open at once, so that one user can not
// take every descriptor the process has (issue 17: 20 SFTP sessions of 1,024
// handles each left none for accept() and other users' logins). Enforced by
// vfs/guarded.

#include <cstddef>
#include <map>
#include <mutex>
#include <string>

namespace berth::vfs {

/// Thread-safe; shared by every session (hence held by shared_ptr), and
/// outlives every Slot it gave.
class OpenFiles {
public:
  /// Limits of 0 mean none.
  OpenFiles(std::size_t max_total, std::size_t max_per_user);
  OpenFiles(const OpenFiles&) = delete;
  OpenFiles& operator=(const OpenFiles&) = delete;

  /// A place for one open file; gives it back when destroyed. Empty: none.
  class Slot {
  public:
    Slot() = default;
    Slot(Slot&& o) noexcept;
    Slot& operator=(Slot&& o) noexcept;
    ~Slot();
    explicit operator bool() const { return owner_ != nullptr; }

  private:
    friend class OpenFiles;
    Slot(OpenFiles* owner, std::string user) : owner_(owner), user_(std::move(user)) {}
    OpenFiles* owner_ = nullptr;
    std::string user_;
  };

  /// A place for one more open file of `user`; an empty Slot when the server's
  /// or the user's limit is reached. Does not block.
  Slot take(const std::string& user);

  /// New limits (a reload); files open now stay open and count. 0: none.
  void set_limits(std::size_t max_total, std::size_t max_per_user);

  std::size_t open() const;
  std::size_t open_by(const std::string& user) const;

private:
  void give_back(const std::string& user);

  mutable std::mutex mu_;
  std::size_t max_total_;                    // guarded by mu_
  std::size_t max_per_user_;                 // guarded by mu_
  std::size_t open_ = 0;                     // guarded by mu_
  std::map<std::string, std::size_t> users_; // guarded by mu_; no zero counts
};

/// The limits berth derives from its descriptor limit `nofile`
/// (RLIMIT_NOFILE): a reserve for listeners, connections, logins, logs and the
/// user database (a quarter, at least 64) is kept out of the budget; a user
/// gets a quarter of the budget. `total`/`per_user` as configured (0: derive);
/// a configured total never passes the derived one.
struct OpenFileLimits {
  std::size_t total = 0;
  std::size_t per_user = 0;
};
OpenFileLimits open_file_limits(std::size_t nofile, std::size_t total, std::size_t per_user);

} // namespace berth::vfs
