#include "sftp/ssh/ssh_server.hpp"

#include "auth/login_attempts.hpp"
#include "core/errc.hpp"
#include "core/log.hpp"
#include "core/wakeup.hpp"
#include "core/watchdog.hpp"
#include "sftp/exec/exec.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>

#include <libssh/libssh.h>
#include <libssh/server.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <list>
#include <mutex>
#include <stdexcept>

namespace berth::sftp::ssh {
namespace {

constexpr auto kTuple = asio::experimental::as_tuple(asio::use_awaitable);

// Modern algorithms only (no CBC, no SHA-1 MACs, no group1/group14-sha1).
constexpr const char* kKex =
    "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,"
    "ecdh-sha2-nistp521,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,"
    "diffie-hellman-group14-sha256";
constexpr const char* kCiphers = "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,"
                                 "aes128-gcm@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr";
constexpr const char* kMacs =
    "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha2-256,hmac-sha2-512";

std::string fingerprint(ssh_key key) {
  unsigned char* hash = nullptr;
  size_t len = 0;
  if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &len) != 0)
    return "?";
  char* fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, len);
  std::string out = fmt::format("{} {}", ssh_key_type_to_char(ssh_key_type(key)), fp);
  ssh_string_free_char(fp);
  ssh_clean_pubkey_hash(&hash);
  return out;
}

using core::Wakeup;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored                                                                     \
    "-Wdeprecated-declarations" // the message API is the non-blocking one

// Lets libssh read and handle what arrived (ssh_message_get() is the public
// call that does; with answer_request() as the callback it returns nothing).
void handle_requests(ssh_session session) {
  while (ssh_message m = ssh_message_get(session)) {
    ssh_message_reply_default(m);
    ssh_message_free(m);
  }
}

#pragma GCC diagnostic pop

// Waits for the session's socket, as libssh asks, then lets libssh run.
// Exactly one coroutine at a time calls libssh for a session (the login
// steps, then serve_channels()), so no call can take input off the socket
// that another coroutine is waiting for.
//
// A wait is one async_wait on the socket, nothing beside it: the idle
// deadline (a Watchdog), interrupt() and a drain each end it by cancelling it.
// They all run on this loop, so none falls between the check and the wait.
class Pump {
public:
  Pump(asio::any_io_executor ex, ssh_session session, int fd)
      : session_(session), sd_(ex, ::dup(fd)), watchdog_(ex, [this] {
          timed_out_ = true;
          stop_waiting();
        }) {}
  Pump(const Pump&) = delete;
  Pump& operator=(const Pump&) = delete;

  /// While set, a drain that starts ends waits (once() returns false): for
  /// the steps before a channel's program runs, which hold no transfer.
  void stop_on(core::Drain* drain) {
    drain_ = drain;
    draining_ = drain != nullptr ? drain->subscribe(sd_.get_executor(), [this] { stop_waiting(); })
                                 : core::Drain::Subscription();
  }

  /// Ends an interruptible once() now, or the next one before it waits
  /// (another coroutine of this loop gave libssh something to do).
  void interrupt() {
    interrupted_ = true;
    stop_waiting();
  }

  /// Waits until the socket is ready (readable; writable while output is
  /// pending or `want_write`) or, if `interruptible`, until interrupt(), at
  /// most `limit`, then lets libssh read and handle what arrived and write
  /// what is pending. False on timeout, error, a drain (see stop_on) or a
  /// closed session.
  core::Task<bool> once(std::chrono::steady_clock::duration limit, bool want_write = false,
                        bool interruptible = false) {
    if (drain_ != nullptr && drain_->draining())
      co_return false;
    want_write = want_write || (ssh_get_status(session_) & SSH_WRITE_PENDING) != 0;
    // Asio's reactor is edge-triggered and libssh reads the socket itself, so
    // an edge may already have passed: look at the level first. poll() and
    // the wait are registered without yielding, so no edge falls between them.
    int ready = level(want_write);
    if (ready < 0)
      co_return false; // the peer is gone and nothing is left to read
    if (ready == 0 && !(interruptible && interrupted_)) {
      timed_out_ = false;
      watchdog_.arm(limit);
      waiting_ = true;
      auto [ec] = co_await sd_.async_wait(want_write ? asio::posix::stream_descriptor::wait_write
                                                     : asio::posix::stream_descriptor::wait_read,
                                          kTuple);
      waiting_ = false;
      watchdog_.disarm();
      if (ec == asio::error::operation_aborted && timed_out_)
        co_return false; // idle for `limit`
      if (drain_ != nullptr && drain_->draining())
        co_return false;
      if (ec && ec != asio::error::operation_aborted)
        co_return false; // the socket failed
      // Else ready, or interrupted.
    } else if (ready > 0) {
      // Ready at once: still let the loop's other sessions run first.
      co_await asio::post(sd_.get_executor(), asio::use_awaitable);
    }
    interrupted_ = false;
    // One round of libssh's own I/O with a zero timeout. (An ssh_event would
    // have to be attached after libssh creates its poll context; this needs none.)
    ssh_blocking_flush(session_, 0);
    co_return alive();
  }

  bool alive() const { return (ssh_get_status(session_) & (SSH_CLOSED | SSH_CLOSED_ERROR)) == 0; }

private:
  void stop_waiting() {
    if (waiting_) {
      std::error_code ignored;
      sd_.cancel(ignored);
    }
  }

  // 1 when the socket is ready, 0 when not, -1 when the peer is gone and
  // nothing is left to read.
  int level(bool write) {
    pollfd p{sd_.native_handle(), static_cast<short>(write ? POLLOUT : POLLIN), 0};
    int ready = ::poll(&p, 1, 0);
    if (ready > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0 && (p.revents & POLLIN) == 0)
      return -1;
    return ready > 0 ? 1 : 0;
  }

  ssh_session session_;
  asio::posix::stream_descriptor sd_;
  core::Watchdog watchdog_; ///< The idle deadline of a wait.
  core::Drain* drain_ = nullptr;
  core::Drain::Subscription draining_;
  bool waiting_ = false;
  bool timed_out_ = false;
  bool interrupted_ = false;
};

// One session channel's bytes, between the coroutine that serves it (an SFTP
// session or a command) and the connection's driver (serve_channels()), the
// only coroutine that calls libssh. The driver moves output into the channel
// as the peer's window allows and input out of it as far as `in_` has room
// (backpressure: unread data stays in libssh and its window is not grown).
class SshChannel final : public Channel {
public:
  SshChannel(asio::any_io_executor ex, ssh_session s, ssh_channel c, Pump& pump, const bool& parked)
      : session_(s), channel_(c), pump_(pump), parked_(parked), app_(ex) {}

  // sftp::Channel
  core::Task<core::Result<std::size_t>> read_some(std::span<std::uint8_t> buf) override {
    for (;;) {
      if (ended_)
        co_return core::unexpected(core::Errc::closed);
      if (in_begin_ < in_end_) {
        // The driver leaves client data in libssh only when `in_` is full:
        // only then does it need waking for the room made here.
        const bool was_full = in_end_ - in_begin_ >= kInLimit;
        std::size_t n = std::min(buf.size(), in_end_ - in_begin_);
        std::memcpy(buf.data(), in_.get() + in_begin_, n);
        in_begin_ += n;
        if (in_begin_ == in_end_)
          in_begin_ = in_end_ = 0;
        if (was_full)
          pump_.interrupt();
        co_return n;
      }
      if (input_ended_)
        co_return core::unexpected(core::Errc::closed);
      if (std::exchange(read_interrupted_, false))
        co_return core::unexpected(core::Errc::stopping);
      co_await app_.wait(app_.generation());
    }
  }

  void interrupt_read() override {
    read_interrupted_ = true;
    app_.notify();
  }

  core::Task<core::Result<void>> write_all(std::span<const std::uint8_t> buf) override {
    co_return co_await write(buf, false);
  }

  core::Task<core::Result<void>> write_stderr(std::span<const std::uint8_t> buf) override {
    co_return co_await write(buf, true);
  }

  // The driver's side: called between its libssh calls, never from a
  // program's coroutine.

  // Hands the output waiting in write() to libssh, only into the peer's
  // window and while nothing is pending (libssh queues without bound and
  // returns short counts during rekeys). True if anything moved.
  bool write_some() {
    bool moved = false;
    while (!ended_ && out_used_ < out_.size() && !write_refused_) {
      std::uint32_t window = ssh_channel_window_size(channel_);
      if ((ssh_get_status(session_) & SSH_WRITE_PENDING) != 0 || window == 0)
        break;
      auto chunk =
          static_cast<std::uint32_t>(std::min<std::size_t>(out_.size() - out_used_, window));
      int n = out_stderr_ ? ssh_channel_write_stderr(channel_, out_.data() + out_used_, chunk)
                          : ssh_channel_write(channel_, out_.data() + out_used_, chunk);
      if (n < 0) {
        end();
        return true;
      }
      if (n == 0)
        write_refused_ = true;
      out_used_ += static_cast<std::size_t>(n);
      moved = moved || n > 0;
    }
    if (moved)
      app_.notify();
    return moved;
  }

  // Takes client data out of libssh while `in_` has room, straight into
  // `in_`. ssh_channel_read on the non-blocking session, not
  // ssh_channel_read_nonblocking: the latter never grows the receive window,
  // and an upload stalls once it is used up. The client's EOF, once all its
  // data is taken, ends the input (not the output: a command's EOF on stdin
  // comes first). True if anything moved.
  bool read_some_input() {
    if (ended_ || input_ended_)
      return false;
    bool moved = false;
    if (!in_)
      in_ = std::make_unique_for_overwrite<std::uint8_t[]>(kInCapacity);
    while (in_end_ - in_begin_ < kInLimit) {
      if (kInCapacity - in_end_ < kInRead) { // move the unread rest to the front
        std::memmove(in_.get(), in_.get() + in_begin_, in_end_ - in_begin_);
        in_end_ -= in_begin_;
        in_begin_ = 0;
      }
      int n = ssh_channel_read(channel_, in_.get() + in_end_, kInRead, 0);
      if (n < 0 && n != SSH_AGAIN) {
        end();
        return true;
      }
      if (n <= 0) {
        // The read's own I/O may have buffered data it did not return.
        const int buffered = ssh_channel_poll(channel_, 0);
        if (buffered > 0)
          continue;
        if (buffered == SSH_EOF) {
          input_ended_ = true;
          moved = true;
        }
        break;
      }
      in_end_ += static_cast<std::size_t>(n);
      moved = true;
    }
    if (moved)
      app_.notify();
    return moved;
  }

  // True when write_some() could move output now.
  bool can_write() const {
    return !ended_ && out_used_ < out_.size() && !write_refused_ &&
           ssh_channel_window_size(channel_) > 0 &&
           (ssh_get_status(session_) & SSH_WRITE_PENDING) == 0;
  }

  // A write libssh refused (0 bytes, e.g. while rekeying) is retried once
  // the socket takes data.
  bool write_refused() const { return write_refused_; }
  void retry_writes() { write_refused_ = false; }

  // The channel is gone (closed by the client, or the connection ended):
  // reads and writes fail from now on.
  void end() {
    ended_ = true;
    app_.notify();
  }

  /// Has the driver look at the channels again (its program ended).
  void wake_driver() { pump_.interrupt(); }

private:
  // Waits for any earlier write to be taken, then hands `buf` to the driver
  // from where it is: the caller keeps it until this returns, and this
  // returns once libssh has all of it (or the channel ended).
  core::Task<core::Result<void>> write(std::span<const std::uint8_t> buf, bool to_stderr) {
    while (out_used_ < out_.size() && !ended_)
      co_await app_.wait(app_.generation());
    if (ended_)
      co_return core::unexpected(core::Errc::closed);
    out_ = buf;
    out_used_ = 0;
    out_stderr_ = to_stderr;
    // While the driver waits for the socket no libssh call is under way (one
    // loop): the output goes to libssh from here, at once, and the driver
    // only looks again (libssh may want the socket to drain) instead of
    // being woken to write and then waking this coroutine.
    if (parked_)
      write_some();
    pump_.interrupt();
    while (out_used_ < out_.size() && !ended_)
      co_await app_.wait(app_.generation());
    const bool all = out_used_ == out_.size();
    out_ = {};
    out_used_ = 0;
    app_.notify(); // a writer waiting for its turn
    if (!all)
      co_return core::unexpected(core::Errc::closed);
    co_return core::Result<void>{};
  }

  // At most kInLimit unread bytes, in a buffer twice that size: the unread
  // rest is moved to the front only when the tail is nearly full, by then at
  // least kInLimit - kInRead bytes were read out since the last move. The
  // pages are touched only as data arrives.
  static constexpr std::size_t kInLimit = 512 * 1024;
  static constexpr std::uint32_t kInRead = 64 * 1024;
  static constexpr std::size_t kInCapacity = 2 * kInLimit;

  ssh_session session_;
  ssh_channel channel_;
  Pump& pump_;
  const bool& parked_; ///< The driver waits in Pump::once(), outside libssh.
  Wakeup app_;         ///< For the program's coroutines: data came in, output went out, the end.
  std::unique_ptr<std::uint8_t[]> in_; ///< Client data taken from libssh: [in_begin_, in_end_).
  std::size_t in_begin_ = 0;
  std::size_t in_end_ = 0;
  std::span<const std::uint8_t> out_; ///< The caller's bytes in write().
  std::size_t out_used_ = 0;
  bool out_stderr_ = false; ///< out_ goes to the error stream (extended data 1).
  bool write_refused_ = false;
  bool ended_ = false;
  bool input_ended_ = false;
  bool read_interrupted_ = false;
};

// A session channel of the connection, from the client's open to its free:
// its bytes, and what the client asked it to run.
struct OpenChannel {
  enum class Use { undecided, sftp, exec, shell };

  OpenChannel(asio::any_io_executor ex, ssh_session s, ssh_channel c, Pump& pump,
              const bool& parked)
      : channel(c), io(std::move(ex), s, c, pump, parked) {}

  ssh_channel channel;
  SshChannel io;
  Use use = Use::undecided;
  std::string command;  ///< For Use::exec.
  bool started = false; ///< Its program runs, or ran.
  bool done = false;    ///< Its program ended with exit_status.
  int exit_status = 0;
};

// The connection's channels, as answer_request() opens them and
// serve_channels() serves them.
struct Channels {
  asio::any_io_executor ex;
  ssh_session session;
  Pump& pump;
  std::uint32_t limit;  ///< Most channels open at once.
  core::Drain* drain;   ///< Null: never drains.
  bool parked = false;  ///< The driver waits in Pump::once(), outside libssh.
  bool changed = false; ///< A request was answered since the driver last looked.
  /// Added to inside libssh calls (answer_request()); removed from only by
  /// the driver between them: a list, so that neither invalidates the other.
  std::list<std::shared_ptr<OpenChannel>> open;
};

// What the programs of one login share. serve_connection() keeps it until
// every program has ended.
struct Login {
  Login(const asio::any_io_executor& ex, auth::UserSession u, SessionInfo i, Limits l,
        std::shared_ptr<core::Drain> d)
      : user(std::move(u)), info(std::move(i)), limits(l), drain(std::move(d)), ended(ex) {}
  auth::UserSession user; ///< The user's filesystem, and the session's place in its limits.
  SessionInfo info;
  Limits limits;
  std::shared_ptr<core::Drain> drain;
  Wakeup ended; ///< A program ended.
};

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored                                                                     \
    "-Wdeprecated-declarations" // the message API is the non-blocking one

// Answers a request of a logged-in client at once: libssh's message callback,
// run by whichever libssh call parsed the request. (Requests left in libssh's
// queue waited for the next ssh_message_get(); one parsed by the driver's
// last read before it waited for the socket was answered only when the
// client sent something else: rclone, waiting for its second channel, hung
// until the idle timeout. Issue 17.)
//
// Session channels are accepted up to the connection's limit (as sshd's
// MaxSessions; OpenSSH's ControlMaster, paramiko and rclone open several),
// none while the server drains. Each may ask for one thing to run: the
// "sftp" subsystem, a command (exec), or a shell (told that there is none);
// "env" is accepted and ignored. Everything else (pty-req, X11, agent,
// forwarding, a second subsystem or command on one channel...) is refused.
// Returns 1 to have libssh send the refusal, 0 when answered here.
int answer_request(ssh_session, ssh_message m, void* data) {
  auto& chans = *static_cast<Channels*>(data);
  chans.changed = true;
  const int type = ssh_message_type(m);
  const int sub = ssh_message_subtype(m);
  if (type == SSH_REQUEST_CHANNEL_OPEN && sub == SSH_CHANNEL_SESSION) {
    // A channel the client has closed counts no more (paramiko opens the
    // next right after sending the close), though its program may still be
    // ending: those are bounded by as many again.
    const auto open = std::count_if(chans.open.begin(), chans.open.end(), [](const auto& oc) {
      return ssh_channel_is_closed(oc->channel) == 0;
    });
    if (static_cast<std::size_t>(open) >= chans.limit || chans.open.size() >= 2 * chans.limit ||
        (chans.drain != nullptr && chans.drain->draining()))
      return 1; // SSH_OPEN_ADMINISTRATIVELY_PROHIBITED
    ssh_channel c = ssh_message_channel_request_open_reply_accept(m);
    if (c != nullptr)
      chans.open.push_back(
          std::make_shared<OpenChannel>(chans.ex, chans.session, c, chans.pump, chans.parked));
    return 0;
  }
  if (type != SSH_REQUEST_CHANNEL)
    return 1;
  const ssh_channel c = ssh_message_channel_request_channel(m);
  auto it = std::find_if(chans.open.begin(), chans.open.end(),
                         [c](const auto& oc) { return oc->channel == c; });
  if (it == chans.open.end() || (*it)->use != OpenChannel::Use::undecided)
    return 1;
  OpenChannel& oc = **it;
  switch (sub) {
  case SSH_CHANNEL_REQUEST_SUBSYSTEM: {
    const char* name = ssh_message_channel_request_subsystem(m);
    if (name == nullptr || std::string_view(name) != "sftp")
      return 1;
    oc.use = OpenChannel::Use::sftp;
    break;
  }
  case SSH_CHANNEL_REQUEST_EXEC: {
    const char* command = ssh_message_channel_request_command(m);
    oc.command = command != nullptr ? command : "";
    oc.use = OpenChannel::Use::exec;
    break;
  }
  case SSH_CHANNEL_REQUEST_SHELL:
    oc.use = OpenChannel::Use::shell;
    break;
  case SSH_CHANNEL_REQUEST_ENV: // harmless; ignored
    break;
  default:
    return 1;
  }
  ssh_message_channel_request_reply_success(m);
  return 0;
}

// From login on, answer_request() answers every request as libssh parses it;
// requests that came before, with the login's last packets, were queued and
// are answered here.
void answer_requests_at_once(ssh_session session, Channels& chans) {
  ssh_set_message_callback(session, answer_request, &chans);
  while (ssh_message m = ssh_message_get(session)) {
    if (answer_request(session, m, &chans) != 0)
      ssh_message_reply_default(m);
    ssh_message_free(m);
  }
}

#pragma GCC diagnostic pop

// Runs what a channel was opened for, to its end: an SFTP session, a command
// or the no-shell notice. Spawned; owns what it uses (serve_connection()
// keeps the Pump its channel refers to until every program has ended).
core::Task<void> run_program(std::shared_ptr<OpenChannel> ch, std::shared_ptr<Login> login) {
  vfs::Filesystem& fs = *login->user.fs;
  int status = 0;
  if (ch->use == OpenChannel::Use::sftp) {
    co_await run_session(ch->io, fs, login->limits, &login->info, login->drain);
  } else if (ch->use == OpenChannel::Use::exec) {
    const std::string_view command = ch->command;
    status = co_await exec::run(command, ch->io, fs, &login->info);
  } else {
    status = co_await exec::no_shell(ch->io);
  }
  ch->exit_status = status;
  ch->done = true;
  login->ended.notify();
  ch->io.wake_driver();
}

// Ends a channel whose program ended, or that the client closed: as sshd
// does, exit status, EOF and close (scp and rclone treat a missing exit
// status as a failure). libssh frees the channel once the client's close
// arrives.
void finish_channel(OpenChannel& ch) {
  if (ssh_channel_is_closed(ch.channel) == 0) {
    if (ch.done)
      ssh_channel_request_send_exit_status(ch.channel, ch.exit_status);
    ssh_channel_send_eof(ch.channel);
    ssh_channel_close(ch.channel);
  }
  ssh_channel_free(ch.channel);
}

// The driver of a logged-in connection: the only coroutine that calls libssh
// from here on. Starts a program for each channel the client opens and
// moves each channel's bytes, and waits for the socket only when nothing can
// move. Returns when the client closes the connection, the connection fails
// or is idle for `idle`, or the server drains while no program runs (a
// running SFTP session holds the drain while it has a file open); every
// program has ended by then. Awaited directly: references.
core::Task<void> serve_channels(Channels& chans, const std::shared_ptr<Login>& login,
                                std::chrono::seconds idle) {
  // libssh counts the packets it reads: a round that read any may have left
  // data for a channel it had already looked at, and goes again rather
  // than wait for a socket that libssh has emptied.
  ssh_counter_struct socket_bytes{};
  ssh_counter_struct packets{};
  ssh_set_counters(chans.session, &socket_bytes, &packets);
  answer_requests_at_once(chans.session, chans);
  bool holding = false; // a program runs: it holds a drain, not the connection
  chans.pump.stop_on(chans.drain);
  std::uint64_t rounds = 0;
  auto arrivals = [&] { return socket_bytes.in_bytes + packets.in_packets; };
  for (;;) {
    const std::uint64_t seen = arrivals();
    bool moved = false;
    for (const auto& c : chans.open)
      moved = c->io.write_some() || moved;
    handle_requests(chans.session);
    for (const auto& c : chans.open)
      moved = c->io.read_some_input() || moved;
    moved = moved || arrivals() != seen || std::exchange(chans.changed, false);
    bool running = false;
    for (auto it = chans.open.begin(); it != chans.open.end();) {
      OpenChannel& c = **it;
      const bool closed = ssh_channel_is_closed(c.channel) != 0;
      if (closed)
        c.io.end(); // per-channel state goes once its program has seen it
      if (!c.started && !closed && c.use != OpenChannel::Use::undecided) {
        c.started = true;
        if (c.use == OpenChannel::Use::exec)
          spdlog::info("sftp: {} user {} runs {}", login->info.client, login->info.user,
                       core::printable(c.command));
        asio::co_spawn(chans.ex, run_program(*it, login), asio::detached);
      }
      if (c.done || (closed && !c.started)) {
        finish_channel(c);
        it = chans.open.erase(it);
        moved = true;
        continue;
      }
      running = running || c.started;
      moved = moved || c.io.can_write();
      ++it;
    }
    if (!chans.pump.alive())
      break;
    if (running != holding) {
      holding = running;
      chans.pump.stop_on(holding ? nullptr : chans.drain);
    }
    if (moved) {
      // What arrived may have ended a key exchange that refused writes.
      if (arrivals() != seen)
        for (const auto& c : chans.open)
          c->io.retry_writes();
      if (++rounds % 64 == 0) // let the loop's other sessions run
        co_await asio::post(chans.ex, asio::use_awaitable);
      continue;
    }
    // Nothing can move: wait for the socket, or for a program to queue
    // output, take input or end (they interrupt the wait). Writes refused
    // during a key exchange wait for the client's part of it (input), not
    // for "writable", which the socket nearly always is: a client that
    // never finishes the exchange idles out instead of spinning the loop.
    chans.parked = true;
    const bool alive = co_await chans.pump.once(idle, false, true);
    chans.parked = false;
    if (!alive)
      break;
    for (const auto& c : chans.open)
      c->io.retry_writes();
  }
  // The connection ends: every program learns that its channel is gone.
  for (const auto& c : chans.open)
    c->io.end();
  for (;;) {
    const std::uint64_t gen = login->ended.generation();
    const bool running = std::any_of(chans.open.begin(), chans.open.end(),
                                     [](const auto& c) { return c->started && !c->done; });
    if (!running)
      break;
    co_await login->ended.wait(gen);
  }
  for (const auto& c : chans.open)
    ssh_channel_free(c->channel);
  chans.open.clear();
  ssh_set_counters(chans.session, nullptr, nullptr);
  ssh_set_message_callback(chans.session, nullptr, nullptr);
}

struct SessionGuard {
  ssh_session s;
  ~SessionGuard() {
    ssh_disconnect(s);
    ssh_free(s);
  }
};

// Key offers (without a signature) a connection may make before it is closed,
// as OpenSSH's MaxAuthTries bounds them; clients with many keys in an agent
// offer them one after another.
constexpr unsigned kMaxKeyOffers = 10;

// One login event: counted, and logged with its reason when it failed. Never
// the password or a keyboard-interactive answer.
void report_login(const SshDeps& deps, const std::string& peer, const std::string& user,
                  std::string_view method, bool ok, spdlog::level::level_enum level,
                  std::string_view message, std::string_view reason = {}) {
  if (deps.telemetry)
    deps.telemetry->login(core::Protocol::sftp, ok);
  core::log_event(level, message,
                  {{"event", "login"},
                   {"protocol", "sftp"},
                   {"client", peer},
                   {"user", user},
                   {"method", method},
                   {"result", ok ? "ok" : "failed"},
                   {"reason", reason}});
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored                                                                     \
    "-Wdeprecated-declarations" // the message API is the non-blocking one

// Runs authentication; returns the account once a method succeeded. Password,
// keyboard-interactive (one "Password: " prompt) and public keys against the
// user's authorized_keys; failures count and are slowed down as FTP's.
core::Task<std::optional<auth::Account>>
authenticate(ssh_session s, Pump& pump, const SshDeps& deps,
             std::chrono::steady_clock::time_point deadline, const asio::ip::address& client) {
  const int methods =
      SSH_AUTH_METHOD_PASSWORD | SSH_AUTH_METHOD_PUBLICKEY | SSH_AUTH_METHOD_INTERACTIVE;
  const std::string peer = client.to_string();
  auth::LoginAttempts attempts(deps.authenticator->policy());
  unsigned key_offers = 0;
  std::string kbd_user; // while a keyboard-interactive exchange is open
  for (;;) {
    ssh_message m = ssh_message_get(s);
    if (m == nullptr) {
      auto left = deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::steady_clock::duration::zero() || !co_await pump.once(left))
        co_return std::nullopt;
      continue;
    }
    std::unique_ptr<ssh_message_struct, decltype(&ssh_message_free)> msg(m, ssh_message_free);
    if (ssh_message_type(m) != SSH_REQUEST_AUTH) {
      // Only the service request for ssh-userauth is expected before login.
      if (ssh_message_type(m) == SSH_REQUEST_SERVICE)
        ssh_message_service_reply_success(m);
      else
        ssh_message_reply_default(m);
      continue;
    }
    const int sub = ssh_message_subtype(m);
    // libssh 0.10 gives no user name with a keyboard-interactive response
    // (ssh_message_auth_user() is NULL): it is the one the exchange began with.
    const bool kbd_response =
        sub == SSH_AUTH_METHOD_INTERACTIVE && ssh_message_auth_kbdint_is_response(m) != 0;
    std::string user = kbd_response               ? std::exchange(kbd_user, {})
                       : ssh_message_auth_user(m) ? ssh_message_auth_user(m)
                                                  : "";
    bool failed = false;
    if (sub == SSH_AUTH_METHOD_INTERACTIVE && !kbd_response) {
      kbd_user = user;
      const char* prompts[] = {"Password: "};
      char echo[] = {0};
      ssh_message_auth_interactive_request(m, "", "", 1, prompts, echo);
      continue;
    }
    if (sub == SSH_AUTH_METHOD_PASSWORD || kbd_response) {
      std::string password;
      if (kbd_response && ssh_userauth_kbdint_getnanswers(s) == 1 &&
          ssh_userauth_kbdint_getanswer(s, 0) != nullptr)
        password = ssh_userauth_kbdint_getanswer(s, 0);
      else if (!kbd_response && ssh_message_auth_password(m) != nullptr)
        password = ssh_message_auth_password(m);
      const char* how = kbd_response ? "keyboard-interactive" : "password";
      auto account = co_await deps.authenticator->authenticate(user, password, client);
      if (account) {
        ssh_message_auth_reply_success(m, 0);
        report_login(
            deps, peer, user, how, true, spdlog::level::info,
            fmt::format("sftp: {} logged in as {} ({})", peer, core::printable(user), how));
        co_return std::move(*account);
      }
      const std::string reason = account.error().message();
      report_login(deps, peer, user, how, false, spdlog::level::warn,
                   fmt::format("sftp: {} failed {} login as {}: {}", peer, how,
                               core::printable(user), reason),
                   reason);
      if (account.error() == auth::Errc::banned ||
          account.error().category() != auth::auth_category())
        co_return std::nullopt; // banned, or the user store failed: try again later
      failed = true;
    } else if (sub == SSH_AUTH_METHOD_PUBLICKEY) {
      ssh_key key = ssh_message_auth_pubkey(m);
      int state = ssh_message_auth_publickey_state(m);
      char* b64 = nullptr;
      core::Result<auth::Account> account = core::unexpected(auth::Errc::bad_credentials);
      if (key != nullptr && ssh_pki_export_pubkey_base64(key, &b64) == SSH_OK) {
        const std::string blob(b64);
        const std::string type(ssh_key_type_to_char(ssh_key_type(key)));
        account = co_await deps.authenticator->authenticate_key(user, type, blob, client);
      }
      ssh_string_free_char(b64);
      if (account && state == SSH_PUBLICKEY_STATE_NONE) {
        ssh_message_auth_reply_pk_ok_simple(m); // "this key would do": the client signs next
        continue;
      }
      if (account && state == SSH_PUBLICKEY_STATE_VALID) {
        ssh_message_auth_reply_success(m, 0);
        report_login(
            deps, peer, user, "publickey", true, spdlog::level::info,
            fmt::format("sftp: {} logged in as {} (public key)", peer, core::printable(user)));
        co_return std::move(*account);
      }
      if (!account && (account.error() == auth::Errc::banned ||
                       account.error().category() != auth::auth_category())) {
        const std::string reason = account.error().message();
        report_login(
            deps, peer, user, "publickey", false, spdlog::level::warn,
            fmt::format("sftp: {} login as {} refused: {}", peer, core::printable(user), reason),
            reason);
        co_return std::nullopt;
      }
      if (!account && account.error() != auth::Errc::bad_credentials)
        spdlog::warn("sftp: {} public key for {} refused: {}", peer, core::printable(user),
                     account.error().message());
      if (state == SSH_PUBLICKEY_STATE_VALID || state == SSH_PUBLICKEY_STATE_WRONG) {
        report_login(deps, peer, user, "publickey", false, spdlog::level::warn,
                     fmt::format("sftp: {} refused public key for {}", peer, core::printable(user)),
                     "public key refused");
        co_await deps.authenticator->record_failure(client);
        failed = true;
      } else if (++key_offers > kMaxKeyOffers) {
        spdlog::warn("sftp: {} offered too many keys for {}; disconnecting", peer,
                     core::printable(user));
        co_return std::nullopt;
      }
    }
    if (failed && !co_await attempts.failed()) {
      spdlog::warn("sftp: {} too many failed logins; disconnecting", peer);
      co_return std::nullopt;
    }
    ssh_message_auth_set_methods(m, methods);
    ssh_message_reply_default(m);
  }
}

#pragma GCC diagnostic pop

} // namespace

void init_libssh() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (ssh_init() != 0)
      throw std::runtime_error("libssh failed to initialise");
    // BERTH_LIBSSH_LOG=1..4 turns on libssh's own log (stderr), for debugging.
    if (const char* level = std::getenv("BERTH_LIBSSH_LOG"))
      ssh_set_log_level(std::atoi(level));
  });
}

HostKeys HostKeys::load(const std::vector<std::filesystem::path>& configured,
                        const std::filesystem::path& generated_dir) {
  HostKeys keys;
  keys.files = configured;
  if (keys.files.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(generated_dir, ec);
    struct Kind {
      const char* file;
      ssh_keytypes_e type;
      int bits;
    };
    for (Kind k : {Kind{"ssh_host_ed25519_key", SSH_KEYTYPE_ED25519, 0},
                   Kind{"ssh_host_ecdsa_key", SSH_KEYTYPE_ECDSA_P256, 256},
                   Kind{"ssh_host_rsa_key", SSH_KEYTYPE_RSA, 3072}}) {
      auto path = generated_dir / k.file;
      if (!std::filesystem::exists(path)) {
        ssh_key key = nullptr;
        if (ssh_pki_generate(k.type, k.bits, &key) != SSH_OK ||
            ssh_pki_export_privkey_file(key, nullptr, nullptr, nullptr, path.c_str()) != SSH_OK) {
          ssh_key_free(key);
          throw std::runtime_error(fmt::format("{}: can not generate a host key", path.string()));
        }
        ssh_key_free(key);
        ::chmod(path.c_str(), 0600);
      }
      keys.files.push_back(path);
    }
  }
  for (const auto& f : keys.files) {
    std::ifstream in(f, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ssh_key key = nullptr;
    if (!in.is_open() ||
        ssh_pki_import_privkey_base64(text.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK)
      throw std::runtime_error(fmt::format("sftp.host_keys: {}: can not load the key", f.string()));
    keys.fingerprints.push_back(fingerprint(key));
    ssh_key_free(key);
    keys.private_keys.push_back(std::move(text));
  }
  return keys;
}

namespace {

// What serve_connection() tells run_ssh_session() for the session's last line.
struct Outcome {
  bool admitted = false;
  std::string user; ///< Set once logged in.
};

// The connection from admission to its end. Awaited directly: references.
core::Task<void> serve_connection(net::Socket socket, const std::shared_ptr<const SshDeps>& deps,
                                  net::Endpoint client_endpoint, Outcome& outcome) {
  std::error_code ec;
  socket.set_option(net::Tcp::no_delay(true), ec); // libssh sets neither this nor O_NONBLOCK
  const asio::ip::address client = net::unmapped(client_endpoint.address());
  const std::string peer = client.to_string();
  auto ex = socket.get_executor();

  std::string refusal;
  auto admitted = co_await deps->authenticator->admit(client, refusal);
  if (!admitted) {
    // Before any SSH: RFC 4253 4.2 lets a server send text lines before its
    // version string, and a refused client learns why without costing us a
    // key exchange (sshd's MaxStartups just closes).
    spdlog::warn("sftp: {} refused: {}", peer, admitted.error().message());
    std::string line = refusal + "\r\n";
    co_await asio::async_write(socket, asio::buffer(line),
                               asio::experimental::as_tuple(asio::use_awaitable));
    socket.shutdown(net::Socket::shutdown_both, ec);
    co_return;
  }
  outcome.admitted = true;
  core::SessionCount count(deps->telemetry, core::Protocol::sftp);
  socket.native_non_blocking(true, ec);

  ssh_bind bind = ssh_bind_new();
  int no = 0;
  ssh_bind_options_set(bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &no);
  for (const auto& text : deps->host_keys.private_keys) {
    // From memory, not the file: after the privilege drop it may be unreadable.
    ssh_key key = nullptr;
    if (ssh_pki_import_privkey_base64(text.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK ||
        ssh_bind_options_set(bind, SSH_BIND_OPTIONS_IMPORT_KEY, key) != SSH_OK)
      ssh_key_free(key); // on success the bind owns it
  }
  ssh_bind_options_set(bind, SSH_BIND_OPTIONS_KEY_EXCHANGE, kKex);
  ssh_bind_options_set(bind, SSH_BIND_OPTIONS_CIPHERS_C_S, kCiphers);
  ssh_bind_options_set(bind, SSH_BIND_OPTIONS_CIPHERS_S_C, kCiphers);
  ssh_bind_options_set(bind, SSH_BIND_OPTIONS_HMAC_C_S, kMacs);
  ssh_bind_options_set(bind, SSH_BIND_OPTIONS_HMAC_S_C, kMacs);

  ssh_session session = ssh_new();
  SessionGuard guard{session};
  int fd = socket.release(ec); // libssh owns the descriptor from here on
  int rc = ssh_bind_accept_fd(bind, session, fd);
  ssh_bind_free(bind);
  if (rc != SSH_OK) {
    ::close(fd);
    spdlog::warn("sftp: {}: {}", peer, ssh_get_error(session));
    co_return;
  }
  ssh_set_blocking(session, 0);
  Pump pump(ex, session, fd);
  pump.stop_on(deps->drain.get()); // until a channel's program runs

  auto deadline = std::chrono::steady_clock::now() + deps->login_timeout;
  for (;;) {
    rc = ssh_handle_key_exchange(session);
    if (rc == SSH_OK)
      break;
    auto left = deadline - std::chrono::steady_clock::now();
    if (rc != SSH_AGAIN || left <= std::chrono::steady_clock::duration::zero() ||
        !co_await pump.once(left)) {
      spdlog::info("sftp: {} key exchange failed: {}", peer, ssh_get_error(session));
      co_return;
    }
  }
  ssh_set_auth_methods(session, SSH_AUTH_METHOD_PASSWORD | SSH_AUTH_METHOD_PUBLICKEY |
                                    SSH_AUTH_METHOD_INTERACTIVE);
  auto account = co_await authenticate(session, pump, *deps, deadline, client);
  if (!account)
    co_return;
  outcome.user = account->name;
  std::string session_refusal;
  auto user_session = co_await deps->authenticator->open_session(*account, session_refusal);
  if (!user_session) {
    if (user_session.error() == auth::Errc::limit_reached) {
      // Authenticated, then refused: the login event said "ok"; this says why
      // the session ends at once.
      spdlog::warn("sftp: {} login as {} refused: {}", peer, account->name, session_refusal);
      ssh_session_set_disconnect_message(session, session_refusal.c_str());
      ssh_disconnect(session);
    } else {
      spdlog::error("sftp: home of user {} is unavailable: {}", account->name,
                    user_session.error().message());
    }
    co_return;
  }
  // As with sshd, the connection lasts until the client closes it (or idles
  // out), and serves each session channel it opens, several at once.
  Channels chans{ex, session, pump, deps->max_channels, deps->drain.get(), false, false, {}};
  auto login = std::make_shared<Login>(ex, std::move(*user_session),
                                       SessionInfo{account->name, peer, deps->telemetry},
                                       deps->limits, deps->drain);
  co_await serve_channels(chans, login, deps->idle_timeout);
}

} // namespace

core::Task<void> run_ssh_session(net::Socket socket, std::shared_ptr<const SshDeps> deps,
                                 net::Endpoint client_endpoint) {
  const auto started = std::chrono::steady_clock::now();
  const std::string peer = net::unmapped(client_endpoint.address()).to_string();
  core::log_event(spdlog::level::info, fmt::format("sftp: connect from {}", peer),
                  {{"event", "session_start"}, {"protocol", "sftp"}, {"client", peer}});
  Outcome outcome;
  co_await serve_connection(std::move(socket), deps, client_endpoint, outcome);
  if (!outcome.admitted)
    co_return;
  const std::chrono::duration<double> lasted = std::chrono::steady_clock::now() - started;
  core::log_event(spdlog::level::info,
                  fmt::format("sftp: disconnect {}{}", peer,
                              outcome.user.empty() ? std::string() : " user " + outcome.user),
                  {{"event", "session_end"},
                   {"protocol", "sftp"},
                   {"client", peer},
                   {"user", outcome.user},
                   {"duration_s", lasted.count()}});
}

} // namespace berth::sftp::ssh
