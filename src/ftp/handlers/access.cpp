// RFC 959 4.1.1: access control commands.
#include "ftp/handlers/handlers.hpp"

#include "core/log.hpp"
#include "ftp/session.hpp"
#include "vfs/errc.hpp"
#include "vfs/local/local_fs.hpp"

namespace berth::ftp {
core::Task<Reply> handle_user(Session& s, std::string_view arg) {
  if (s.logged_in())
    co_return Reply::of(530, "Can't change to another user.");
  s.pending_user = std::string(arg);
  co_return Reply::of(331, "Please specify the password.");
}

core::Task<Reply> handle_pass(Session& s, std::string_view arg) {
  if (s.logged_in())
    co_return Reply::of(230, "Already logged in.");
  if (!s.pending_user)
    co_return Reply::of(503, "Login with USER first.");
  std::string name = std::move(*s.pending_user);
  s.pending_user.reset();
  const std::string password(arg);
  auto account = co_await s.authenticator().authenticate(name, password);
  std::string peer = s.peer().address().to_string();
  if (account) {
    auto fs = vfs::LocalFs::open(account->home, s.io());
    if (fs) {
      spdlog::info("ftp: {} logged in as {}", peer, name);
      s.log_in(std::move(*account), std::move(*fs));
      co_return Reply::of(230, "Login successful.");
    }
    spdlog::error("ftp: home of user {} is unavailable: {}", name, fs.error().message());
  } else {
    spdlog::warn("ftp: {} failed login as {}", peer, name);
  }
  // A delay makes guessing slow; the connection ends after a few failures.
  if (!s.attempts)
    s.attempts.emplace(s.authenticator().policy());
  if (!co_await s.attempts->failed())
    s.quit = true;
  co_return Reply::of(530, "Login incorrect.");
}

core::Task<Reply> handle_quit(Session& s, std::string_view) {
  s.quit = true;
  co_return Reply::of(221, "Goodbye.");
}

core::Task<Reply> handle_rein(Session& s, std::string_view) {
  s.reset_login();
  co_return Reply::of(220, "Ready for new user.");
}

core::Task<Reply> handle_cwd(Session& s, std::string_view arg) {
  auto target = co_await s.stat_path(arg.empty() ? std::string_view("/") : arg);
  if (!target)
    co_return target.error() == vfs::Errc::invalid_name
        ? reply_for(target.error())
        : Reply::of(550, "Failed to change directory.");
  if (target->second.type != vfs::FileType::directory)
    co_return Reply::of(550, "Not a directory.");
  s.cwd = std::move(target->first);
  co_return Reply::of(250, "Directory successfully changed.");
}

core::Task<Reply> handle_cdup(Session& s, std::string_view) {
  co_return co_await handle_cwd(s, "..");
}

} // namespace berth::ftp
