// RFC 959 4.1.1: access control commands.
#include "ftp/handlers/handlers.hpp"

#include "core/log.hpp"
#include "ftp/session.hpp"
#include "vfs/errc.hpp"

#include <fmt/format.h>

namespace berth::ftp {
namespace {

// One login event: counted, and logged with its reason when it failed. Never
// the password.
void report_login(Session& s, const std::string& peer, const std::string& name, bool ok,
                  spdlog::level::level_enum level, std::string_view message,
                  std::string_view reason = {}) {
  if (s.telemetry() != nullptr)
    s.telemetry()->login(s.protocol(), ok);
  core::log_event(level, message,
                  {{"event", "login"},
                   {"protocol", core::to_string(s.protocol())},
                   {"client", peer},
                   {"user", name},
                   {"method", "password"},
                   {"result", ok ? "ok" : "failed"},
                   {"reason", reason}});
}

} // namespace

// RFC 7151: the virtual host the client wants, before it logs in.
core::Task<Reply> handle_host(Session& s, std::string_view arg) {
  if (s.logged_in() || s.pending_user)
    co_return Reply::of(503, "HOST must come before USER.");
  // RFC 7151 3: an IPv6 address literal comes in brackets.
  std::string_view name = arg;
  if (name.size() > 2 && name.front() == '[' && name.back() == ']')
    name = name.substr(1, name.size() - 2);
  const core::FtpHostConfig* host = nullptr;
  for (const core::FtpHostConfig& h : s.config().hosts)
    if (net::same_host_name(h.name, name))
      host = &h;
  // The address the client reached names the server itself.
  const bool itself = host == nullptr && name == s.unmapped_local().to_string();
  if (host == nullptr && !itself)
    co_return Reply::of(504, "Unknown host.");
  if (s.control_is_tls()) {
    // SECURITY: after AUTH TLS the host must be the one the TLS server name
    // (SNI) chose the certificate for (RFC 7151 7), or a client could show
    // one host's certificate and log in to another.
    const std::string sni = net::TlsContext::server_name(s.control().native_ssl());
    if (!sni.empty() && !net::same_host_name(sni, name))
      co_return Reply::of(504, "HOST does not match the TLS server name.");
  }
  s.choose_host(host);
  co_return Reply::of(220, host != nullptr ? host->banner : "berth FTP server ready.");
}

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
  const net::Address client = net::unmapped(s.peer().address());
  const std::string peer = client.to_string();
  core::Result<auth::Account> account = core::unexpected(auth::Errc::bad_credentials);
  if (s.authenticator().is_anonymous(name))
    account = s.authenticator().anonymous(); // any password (an e-mail address by custom)
  else
    account = co_await s.authenticator().authenticate(name, password, client);
  bool refused_by_host = false;
  if (account && !s.host_admits(*account)) {
    // The same reply as a wrong password: a client learns nothing of the
    // other hosts' users.
    const std::string reason = fmt::format("not a user of host {}", s.host()->name);
    report_login(
        s, peer, name, false, spdlog::level::warn,
        fmt::format("ftp: {} login as {} refused: {}", peer, core::printable(name), reason),
        reason);
    account = core::unexpected(auth::Errc::bad_credentials);
    refused_by_host = true;
  }
  if (account) {
    std::string refusal;
    auto session = co_await s.authenticator().open_session(*account, refusal);
    if (session) {
      report_login(s, peer, account->name, true, spdlog::level::info,
                   fmt::format("ftp: {} logged in as {}", peer, account->name));
      s.log_in(std::move(*account), std::move(*session));
      co_return Reply::of(230, "Login successful.");
    }
    if (session.error() == auth::Errc::limit_reached) {
      report_login(
          s, peer, name, false, spdlog::level::warn,
          fmt::format("ftp: {} login as {} refused: {}", peer, core::printable(name), refusal),
          refusal);
      s.quit = true;
      co_return Reply::of(421, refusal);
    }
    // The password was right: the server failed (a missing home, no
    // descriptors left). Say so, as vsftpd does, rather than "Login incorrect".
    const std::string reason = session.error().message();
    report_login(
        s, peer, name, false, spdlog::level::err,
        fmt::format("ftp: home of user {} is unavailable: {}", core::printable(name), reason),
        reason);
    s.quit = true;
    co_return Reply::of(421, "Home folder unavailable, try again later.");
  } else if (account.error().category() != auth::auth_category()) {
    s.quit = true; // the user store failed: logged by the authenticator
    co_return Reply::of(421, "Service not available, try again later.");
  } else if (account.error() == auth::Errc::banned || account.error() == auth::Errc::busy) {
    const std::string reason = account.error().message();
    report_login(
        s, peer, name, false, spdlog::level::warn,
        fmt::format("ftp: {} login as {} refused: {}", peer, core::printable(name), reason),
        reason);
    s.quit = true;
    co_return Reply::of(421, account.error() == auth::Errc::banned
                                 ? "Your address is banned after too many failed logins."
                                 : "Too many logins in progress, try again later.");
  } else if (!refused_by_host) {
    const std::string reason = account.error().message();
    report_login(s, peer, name, false, spdlog::level::warn,
                 fmt::format("ftp: {} failed login as {}: {}", peer, core::printable(name), reason),
                 reason);
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
