#include "ftp/session.hpp"

#include "core/errc.hpp"
#include "core/log.hpp"
#include "core/timeout.hpp"
#include "ftp/commands.hpp"
#include "net/socket_ops.hpp"
#include "vfs/errc.hpp"

#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace berth::ftp {
namespace {

constexpr auto kTuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxQueuedLines = 32;
// A reply gets at least this long, so that "421 Timeout." can still leave.
constexpr std::chrono::seconds kMinReplyTime{1};

} // namespace

core::Task<void> run_session(net::Socket socket, std::shared_ptr<const SessionDeps> deps,
                             net::Endpoint client) {
  net::tune_control_socket(socket);
  Session session(net::Stream(std::move(socket)), std::move(deps), client);
  co_await session.run();
}

Session::Session(net::Stream control, std::shared_ptr<const SessionDeps> deps, net::Endpoint client)
    : control_(std::move(control)), deps_(std::move(deps)), peer_(client),
      local_(control_.local_endpoint()), reader_(deps_->config.max_line),
      watchdog_(control_.socket().get_executor(), [this] { on_deadline(); }) {
  if (deps_->telemetry)
    data_.count_in(&deps_->telemetry->passive_ports());
  if (deps_->tls)
    tls_ = deps_->tls->current();
  if (deps_->implicit_tls) {
    // Implicit FTPS protects data by default; PBSZ/PROT are accepted as usual.
    pbsz = true;
    prot_private = true;
  }
}

core::Task<void> Session::upgrade_control() {
  // SECURITY: anything the client pipelined after AUTH in plain text is dropped,
  // so it can not be taken as commands sent under TLS (STARTTLS injection,
  // CVE-2011-0411).
  reader_ = LineReader(config().max_line);
  queued_.clear();
  control_cleared_ = false; // AUTH TLS after CCC: data must resume again
  net::TlsAccept how;
  how.sessions = &tls_sessions_;
  auto r = co_await control_.accept_tls(*tls_, deps_->tls_config.handshake_timeout, how);
  if (!r) {
    spdlog::info("ftp: {} TLS handshake failed: {}", peer_.address().to_string(),
                 r.error().message());
    if (telemetry() != nullptr)
      telemetry()->tls_handshake_failed(listener_protocol());
    quit = true;
    co_return;
  }
  net::TlsContext::control_established(control_.native_ssl(), tls_sessions_);
  count_.move_to(core::Protocol::ftps);
}

core::Task<void> Session::clear_control() {
  auto r = co_await control_.end_tls(deps_->tls_config.handshake_timeout);
  if (!r) {
    spdlog::info("ftp: {} CCC failed: {}", peer_.address().to_string(), r.error().message());
    quit = true;
    control_.close();
    co_return;
  }
  spdlog::info("ftp: {} cleared the command channel (CCC)", peer_.address().to_string());
  control_cleared_ = true;
  count_.move_to(core::Protocol::ftp);
}

bool Session::tls_handshake_allowed() {
  // SECURITY: each full handshake costs the server a key exchange and a
  // signature, and fills the shared session cache; one address gets a bounded
  // number a minute, before any login.
  if (authenticator().allow_tls_handshake(net::unmapped(peer_.address())))
    return true;
  spdlog::warn("ftp: {} refused TLS: too many handshakes from its address",
               peer_.address().to_string());
  return false;
}

core::Task<void> Session::run() {
  started_ = std::chrono::steady_clock::now();
  const std::string client_text = peer_.address().to_string();
  core::log_event(spdlog::level::info,
                  fmt::format("ftp: connect from {}{}", client_text,
                              deps_->implicit_tls ? " (implicit TLS)" : ""),
                  {{"event", "session_start"},
                   {"protocol", core::to_string(listener_protocol())},
                   {"client", client_text}});
  std::string refusal;
  const net::Address client = net::unmapped(peer_.address());
  auto admitted = co_await authenticator().admit(client, refusal);
  if (deps_->implicit_tls && tls_ && admitted) {
    if (tls_handshake_allowed()) {
      co_await upgrade_control();
    } else {
      refusal = kTooManyHandshakes;
      admitted = core::unexpected(auth::Errc::limit_reached);
    }
  }
  if (!admitted) {
    // vsftpd answers max_per_ip with 421 before the greeting; so do we, for
    // bans and every limit (on the implicit port: without TLS, as vsftpd).
    spdlog::warn("ftp: {} refused: {}", client.to_string(), admitted.error().message());
    quit = true;
    co_await send(Reply::of(421, refusal));
    control_.close();
    co_return;
  }
  connection_ = std::move(*admitted);
  count_ = core::SessionCount(deps_->telemetry, listener_protocol());
  if (deps_->drain)
    draining_ = deps_->drain->subscribe(control_.socket().get_executor(), [this] { on_drain(); });
  co_await send(Reply::of(220, "berth FTP server ready."));
  login_deadline_ = std::chrono::steady_clock::now() + config().login_timeout;
  while (!quit) {
    // Between commands: no transfer runs, so a stopping server closes the
    // session now (vsftpd and ProFTPD answer 421 too).
    if (draining()) {
      co_await send(Reply::of(421, "Server shutting down."));
      break;
    }
    const std::chrono::steady_clock::duration limit = control_limit();
    core::Result<Line> line = core::unexpected(core::Errc::timed_out);
    if (!queued_.empty()) {
      line = std::move(queued_.front());
      queued_.pop_front();
    } else if (limit > std::chrono::steady_clock::duration::zero()) {
      line = co_await read_command(limit);
    }
    if (!line) {
      if (line.error() == core::Errc::timed_out) {
        spdlog::info("ftp: {} timed out", peer_.address().to_string());
        co_await send(Reply::of(421, "Timeout."));
      } else if (line.error() == core::Errc::stopping) {
        co_await send(Reply::of(421, "Server shutting down."));
      }
      break;
    }
    if (line->too_long) {
      co_await send(Reply::of(500, "Command line too long."));
      continue;
    }
    if (prot_private && tls_)
      prepare_data();
    Reply r = co_await dispatch(*this, line->text);
    log_command(line->text, r.code);
    co_await send(r);
  }
  data_.reset();
  control_.close();
  const std::chrono::duration<double> lasted = std::chrono::steady_clock::now() - started_;
  core::log_event(spdlog::level::info,
                  fmt::format("ftp: disconnect {}{}", client_text,
                              logged_in() ? " user " + user() : std::string()),
                  {{"event", "session_end"},
                   {"protocol", core::to_string(protocol())},
                   {"client", client_text},
                   {"user", user()},
                   {"duration_s", lasted.count()}});
}

void Session::on_deadline() {
  switch (phase_) {
  case Phase::command:
    timed_out_ = true;
    control_.stop_reading();
    break;
  case Phase::opening:
    timed_out_ = true;
    data_.cancel();
    break;
  case Phase::moving:
    if (progress_ != progress_seen_) {
      progress_seen_ = progress_;
      watchdog_.arm(config().data_timeout);
    } else if (moving_ != nullptr) {
      timed_out_ = true;
      moving_->close();
    }
    break;
  case Phase::other:
    break;
  }
}

void Session::on_drain() {
  // A transfer that moves data finishes; the loop ends the session after it.
  if (phase_ == Phase::command)
    control_.stop_reading();
  else if (phase_ == Phase::opening)
    data_.cancel();
}

void Session::log_command(std::string_view line, int code) {
  // Every command and its reply: info in JSON logs (made for machines), debug
  // in text logs (for people).
  const auto level =
      core::log_format() == core::LogFormat::json ? spdlog::level::info : spdlog::level::debug;
  if (!spdlog::default_logger_raw()->should_log(level))
    return;
  const std::string shown = loggable_command(line);
  const std::string client_text = peer_.address().to_string();
  core::log_event(level, fmt::format("ftp: {} command {} -> {}", client_text, shown, code),
                  {{"event", "command"},
                   {"protocol", core::to_string(protocol())},
                   {"client", client_text},
                   {"user", user()},
                   {"command", shown},
                   {"code", code}});
}

core::Task<void> Session::send(const Reply& r) {
  if (r.sent)
    co_return; // the handler replied itself
  if (quit && r.code != 221 && r.code != 421 && r.code != 530)
    co_return; // the control connection is gone
  const std::string wire = encode(r);
  co_await send_encoded(wire);
}

core::Task<void> Session::send_encoded(const std::string& wire) {
  // Most replies fit in the socket at once: no timer, no wait.
  auto now = control_.try_write(asio::buffer(wire));
  if (!now) {
    quit = true;
    co_return;
  }
  if (*now == wire.size())
    co_return;
  // SECURITY: a client that sends commands but never reads the replies fills
  // the socket buffers and blocks this write; the timeouts that bound its
  // reads bound its writes too, or it would hold the session forever.
  auto w = co_await core::with_timeout(
      control_.write_all(asio::buffer(wire) + *now),
      std::max<std::chrono::steady_clock::duration>(control_limit(), kMinReplyTime));
  if (!w) {
    if (w.error() == core::Errc::timed_out)
      spdlog::info("ftp: {} timed out: replies not read", peer_.address().to_string());
    quit = true;
  }
}

std::chrono::steady_clock::duration Session::control_limit() const {
  std::chrono::steady_clock::duration limit = config().idle_timeout;
  if (!logged_in())
    limit = std::min(limit, login_deadline_ - std::chrono::steady_clock::now());
  return limit;
}

core::Task<core::Result<Line>> Session::read_line() {
  std::array<char, 4096> buf;
  for (;;) {
    if (auto l = reader_.next())
      co_return std::move(*l);
    auto n = co_await control_.read_some(asio::buffer(buf));
    if (!n)
      co_return core::unexpected(n.error());
    reader_.feed(std::string_view(buf.data(), *n));
  }
}

core::Task<core::Result<Line>> Session::read_command(std::chrono::steady_clock::duration limit) {
  // The phase is set before the read starts: a deadline or a drain from here
  // on ends it (stop_reading() is for good, so it can not be missed).
  phase_ = Phase::command;
  timed_out_ = false;
  watchdog_.arm(limit);
  auto line = co_await read_line();
  phase_ = Phase::other;
  watchdog_.disarm();
  if (!line && timed_out_)
    co_return core::unexpected(core::Errc::timed_out);
  if (!line && draining())
    co_return core::unexpected(core::Errc::stopping);
  co_return line;
}

core::Task<Session::ControlEvent> Session::watch_control() {
  std::array<char, 4096> buf;
  for (;;) {
    while (auto l = reader_.next()) {
      if (!l->too_long && parse_command(l->text).verb == "ABOR")
        co_return ControlEvent::abort;
      queued_.push_back(std::move(*l));
    }
    if (queued_.size() >= kMaxQueuedLines) {
      // Stop reading until the transfer ends: bounded memory for chatty clients.
      asio::steady_timer forever(co_await asio::this_coro::executor,
                                 std::chrono::steady_clock::time_point::max());
      co_await forever.async_wait(kTuple);
      continue;
    }
    auto n = co_await control_.read_some(asio::buffer(buf));
    if (!n)
      co_return ControlEvent::closed;
    reader_.feed(std::string_view(buf.data(), *n));
  }
}

core::Task<Reply> Session::transfer(const std::string& opening, const TransferBody& body) {
  using namespace asio::experimental::awaitable_operators;
  transfer_result_.reset();
  if (!data_.configured())
    co_return Reply::of(425, "Use PORT, PASV, EPRT or EPSV first.");
  // Until it is known better: what the client did ends it.
  transfer_result_ = core::TransferResult::aborted;
  const Reply preliminary = Reply::of(150, opening);
  co_await send(preliminary);
  if (quit)
    co_return Reply::of(426, "Connection closed; transfer aborted.");
  transferring_ = true;
  struct Done {
    bool& flag;
    ~Done() { flag = false; }
  } done{transferring_};

  auto result = co_await (move_data(body) || watch_control());
  if (result.index() == 0)
    co_return std::move(std::get<0>(result));
  // ABOR, or the control connection closed: move_data() was cancelled.
  data_.reset();
  if (std::get<1>(result) == ControlEvent::closed) {
    quit = true;
    co_return Reply::of(426, "Connection closed; transfer aborted.");
  }
  co_await send(Reply::of(426, "Connection closed; transfer aborted."));
  co_return Reply::of(226, "ABOR command successful.");
}

// Between PASV/EPSV and the transfer command, under PROT P: the data
// connection the client already made is accepted and the TLS handshake it
// began is answered, without waiting (move_data() finishes it). curl begins
// it at once and then waits for the handshake before it reads the replies to
// TYPE, SIZE and RETR: a server that answers only when the transfer starts
// leaves curl waiting for its own 200 ms or 1 s timer on every file.
void Session::prepare_data() {
  net::Stream* early = data_.accept_ready(peer_.address(), deps_->proxy_from.get());
  if (early != nullptr)
    (void)early->advance_tls(*tls_, data_tls()); // an error stays for accept_tls()
}

net::TlsAccept Session::data_tls() {
  // No ticket, buffers for bulk transfer; resumes this connection's sessions.
  net::TlsAccept how;
  how.sessions = &tls_sessions_;
  how.data = true;
  // SECURITY: a data connection that ends without close_notify may have been
  // cut (a killed client, a forged FIN); an upload is then incomplete, as
  // vsftpd's strict_ssl_read_eof has it, unless the configuration says otherwise.
  how.require_close_notify = deps_->tls_config.require_close_notify;
  return how;
}

core::Task<Reply> Session::move_data(const TransferBody& body) {
  struct Phases { // the phase ends with this coroutine, also when it is cancelled
    Session& s;
    ~Phases() {
      s.phase_ = Phase::other;
      s.moving_ = nullptr;
      s.watchdog_.disarm();
    }
  } phases{*this};
  net::Endpoint source(unmapped_local(), config().active_data_port);
  phase_ = Phase::opening;
  timed_out_ = false;
  watchdog_.arm(config().data_timeout);
  if (draining()) {
    // Nothing moved yet: a stopping server does not wait for the client to connect.
    data_.reset();
    co_return Reply::of(425, "Can't open data connection: server shutting down.");
  }
  auto sock = co_await data_.open(peer_.address(), source, deps_->proxy_from.get());
  phase_ = Phase::other;
  if (!sock) {
    data_.reset();
    if (!timed_out_ && draining())
      co_return Reply::of(425, "Can't open data connection: server shutting down.");
    transfer_result_ = core::TransferResult::failed;
    spdlog::info("ftp: {} data connection failed: {}", peer_.address().to_string(),
                 timed_out_ ? std::string("timed out") : sock.error().message());
    co_return Reply::of(425, "Can't open data connection.");
  }
  net::Stream data(std::move(*sock));
  if (data.is_tls() && !prot_private) {
    // PROT C after the client began TLS on this connection (prepare_data()).
    data_.reset();
    data.close();
    transfer_result_ = core::TransferResult::failed;
    co_return Reply::of(425, "Can't open data connection: its protection level changed.");
  }
  if (prot_private) {
    const net::TlsAccept how = data_tls();
    auto hs = co_await data.accept_tls(*tls_, deps_->tls_config.handshake_timeout, how);
    if (!hs) {
      data_.reset();
      data.close();
      transfer_result_ = core::TransferResult::failed;
      if (telemetry() != nullptr)
        telemetry()->tls_handshake_failed(listener_protocol());
      spdlog::info("ftp: {} data TLS handshake failed: {}", peer_.address().to_string(),
                   hs.error().message());
      co_return Reply::of(425, "Can't open data connection: TLS handshake failed.");
    }
    // SECURITY: the data connection must resume this control connection's TLS
    // session, so that nobody else (even from the same address) can use the data
    // port (RFC 4217 10.2; vsftpd require_ssl_reuse). After CCC (allowed only
    // by [ftp] allow_ccc) a full handshake is accepted too: a client that
    // cleared its control channel may have dropped the session (curl does in
    // its default CCC mode); the data connection is still bound to the
    // client's address, and resuming another connection's session is still
    // refused.
    const bool fresh_after_ccc = control_cleared_ && !net::TlsContext::resumed(data.native_ssl());
    if (deps_->tls_config.require_session_reuse && !fresh_after_ccc &&
        !net::TlsContext::resumed_session_of(data.native_ssl(), tls_sessions_)) {
      data_.reset();
      data.close();
      transfer_result_ = core::TransferResult::failed;
      spdlog::warn("ftp: {} refused data connection: TLS session not resumed from the control "
                   "connection",
                   peer_.address().to_string());
      co_return Reply::of(522, "Data connection must resume the control connection's TLS session.");
    }
  }

  if (mode_z) {
    // Compressed above TLS: zlib sees the file's bytes, TLS the compressed ones.
    if (auto z = data.start_deflate(deflate_level); !z) {
      data_.reset();
      data.close();
      transfer_result_ = core::TransferResult::failed;
      co_return Reply::of(451, "Can't set up compression.");
    }
  }

  // The stall deadline: each time it passes, the transfer must have moved
  // since the last time, or its connection is closed.
  phase_ = Phase::moving;
  progress_ = progress_seen_ = 0;
  moving_ = &data;
  timed_out_ = false;
  watchdog_.arm(config().data_timeout);
  auto r = co_await body(data, progress_);
  if (r && mode_z)
    r = co_await data.finish_deflate(); // a download's zlib trailer; nothing for an upload
  phase_ = Phase::other;
  moving_ = nullptr;
  if (timed_out_) {
    data.close();
    data_.reset();
    co_return Reply::of(426, "Data connection stalled; transfer aborted.");
  }
  if (r)
    co_await data.shutdown(std::chrono::seconds(5));
  else
    data.close();
  data_.reset();
  if (r) {
    transfer_result_ = core::TransferResult::ok;
    co_return Reply::of(226, "Transfer complete.");
  }
  if (r.error().category() == vfs::vfs_category()) {
    transfer_result_ = core::TransferResult::failed;
    co_return reply_for(r.error());
  }
  if (r.error() == core::Errc::bad_data) {
    transfer_result_ = core::TransferResult::failed;
    spdlog::info("ftp: {} MODE Z data did not inflate: transfer aborted",
                 peer_.address().to_string());
    co_return Reply::of(451, "Compressed data is corrupt or incomplete; transfer aborted.");
  }
  if (r.error() == core::Errc::truncated) {
    spdlog::info("ftp: {} data connection ended without TLS close_notify: transfer incomplete",
                 peer_.address().to_string());
    co_return Reply::of(426, "Data connection ended without TLS close_notify; transfer aborted.");
  }
  co_return Reply::of(426, "Connection closed; transfer aborted.");
}

core::TransferTracker Session::start_transfer(const vfs::VirtualPath& path, bool upload) {
  core::TransferRecord rec;
  rec.protocol = protocol();
  rec.client = net::unmapped(peer_.address()).to_string();
  rec.user = user();
  rec.anonymous = anonymous();
  rec.path = path.str();
  rec.upload = upload;
  rec.binary = type == TransferType::binary;
  return core::TransferTracker(deps_->telemetry, std::move(rec));
}

void Session::end_transfer(core::TransferTracker& tracker, std::uint64_t bytes) {
  if (!transfer_result_) {
    tracker.discard();
    return;
  }
  tracker.record().bytes = bytes;
  tracker.finish(*transfer_result_);
}

core::Task<core::Result<std::pair<vfs::VirtualPath, vfs::Stat>>>
Session::stat_path(std::string_view arg) {
  auto p = path(arg);
  if (!p)
    co_return core::unexpected(p.error());
  auto st = co_await fs().stat(*p);
  if (!st)
    co_return core::unexpected(st.error());
  co_return std::make_pair(std::move(*p), *st);
}

net::Address Session::unmapped_local() const {
  return net::unmapped(local_.address());
}

void Session::log_in(auth::Account account, auth::UserSession session) {
  account_ = std::move(account);
  user_session_ = std::move(session);
  cwd = vfs::VirtualPath();
}

bool Session::host_admits(const auth::Account& account) const {
  if (host_ == nullptr || host_->users.empty())
    return true;
  // Both sides views: a std::string temporary would die with the expression.
  const std::string_view name =
      account.anonymous ? std::string_view("anonymous") : std::string_view(account.name);
  return std::find(host_->users.begin(), host_->users.end(), name) != host_->users.end();
}

void Session::reset_login() {
  choose_host(nullptr); // RFC 7151 3.3
  data_.reset();
  account_ = {};
  user_session_ = {};
  cwd = vfs::VirtualPath();
  pending_user.reset();
  rename_from.reset();
  restart_offset = 0;
  hash_range.reset();
  type = TransferType::ascii;
  epsv_all = false;
  mlst_facts = fact_all;
  hash_algorithm = "SHA-256";
  mode_z = false;
  deflate_level = 6;
  // The TLS state of the control connection survives REIN (RFC 4217 11).
}

} // namespace berth::ftp
