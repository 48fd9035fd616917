#include "sftp/ssh/ssh_server.hpp"

#include "core/errc.hpp"
#include "core/log.hpp"
#include "core/timeout.hpp"
#include "vfs/local/local_fs.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include <libssh/libssh.h>
#include <libssh/server.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
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

// Waits for the session's socket, as libssh asks, then lets libssh run.
class Pump {
public:
  Pump(asio::any_io_executor ex, ssh_session session, int fd)
      : session_(session), sd_(ex, ::dup(fd)) {}
  Pump(const Pump&) = delete;
  Pump& operator=(const Pump&) = delete;

  /// Waits until the socket is ready (readable; writable while output is
  /// pending), at most `limit`, then processes what arrived. False on timeout,
  /// error or a closed session.
  core::Task<bool> once(std::chrono::steady_clock::duration limit, bool retry_write = false) {
    bool want_write = retry_write || (ssh_get_status(session_) & SSH_WRITE_PENDING) != 0;
    auto wait = [](asio::posix::stream_descriptor& sd,
                   bool write) -> core::Task<core::Result<void>> {
      auto [ec] = co_await sd.async_wait(write ? asio::posix::stream_descriptor::wait_write
                                               : asio::posix::stream_descriptor::wait_read,
                                         kTuple);
      if (ec)
        co_return core::unexpected(ec);
      co_return core::Result<void>{};
    };
    // Asio's reactor is edge-triggered and libssh reads the socket itself, so
    // an edge may already have passed: look at the level first. poll() and the
    // wait are registered without yielding, so no edge falls between them.
    pollfd p{sd_.native_handle(), static_cast<short>(want_write ? POLLOUT : POLLIN), 0};
    int ready = ::poll(&p, 1, 0);
    if (ready > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0 && (p.revents & POLLIN) == 0)
      co_return false; // the peer is gone and nothing is left to read
    if (ready == 0) {
      // TODO(berth): libssh can hold work that no socket event announces (data
      // it buffered during another call, a write it could not finish); until
      // that is tracked exactly, wake up at least every kSafetyTick.
      auto r = co_await core::with_timeout(wait(sd_, want_write), std::min(limit, kSafetyTick));
      if (!r && r.error() != core::Errc::timed_out)
        co_return false;
      if (!r && (idle_since_ += kSafetyTick) >= limit)
        co_return false;
      if (r)
        idle_since_ = {};
    } else {
      // Ready at once: still let the loop's other sessions run first.
      co_await asio::post(sd_.get_executor(), asio::use_awaitable);
    }
    // One round of libssh's own I/O with a zero timeout: reads and handles
    // what arrived, writes what is pending. (An ssh_event would have to be
    // attached after libssh creates its poll context; this needs none.)
    ssh_blocking_flush(session_, 0);
    co_return alive();
  }

  bool alive() const { return (ssh_get_status(session_) & (SSH_CLOSED | SSH_CLOSED_ERROR)) == 0; }

private:
  ssh_session session_;
  asio::posix::stream_descriptor sd_;
  std::chrono::steady_clock::duration idle_since_{};
  static constexpr std::chrono::steady_clock::duration kSafetyTick = std::chrono::milliseconds(20);
};

// The SFTP byte channel over an SSH channel, with libssh's flow control.
class SshChannel final : public Channel {
public:
  SshChannel(ssh_session s, ssh_channel c, Pump& pump, std::chrono::seconds idle)
      : session_(s), channel_(c), pump_(pump), idle_(idle) {}

  // sftp::Channel
  core::Task<core::Result<std::size_t>> read_some(std::span<std::uint8_t> buf) override {
    for (;;) {
      // ssh_channel_read on the non-blocking session, not ssh_channel_read_nonblocking:
      // the latter asks only for what is buffered, so libssh never grows the
      // receive window and an upload stalls once the first window is used up.
      int n = ssh_channel_read(channel_, buf.data(), static_cast<uint32_t>(buf.size()), 0);
      if (n > 0)
        co_return static_cast<std::size_t>(n);
      if ((n < 0 && n != SSH_AGAIN) || ssh_channel_is_eof(channel_) != 0 ||
          ssh_channel_is_closed(channel_) != 0)
        co_return core::unexpected(core::Errc::closed);
      // The read's own I/O may have just buffered data it did not return; the
      // socket is then quiet and waiting on it would never end.
      int buffered = ssh_channel_poll(channel_, 0);
      if (buffered > 0)
        continue;
      if (buffered == SSH_EOF || buffered == SSH_ERROR)
        co_return core::unexpected(core::Errc::closed);
      refuse_other_requests();
      if (!co_await pump_.once(idle_))
        co_return core::unexpected(core::Errc::closed);
    }
  }

  core::Task<core::Result<void>> write_all(std::span<const std::uint8_t> buf) override {
    while (!buf.empty()) {
      // libssh queues without bound and returns short counts during rekeys:
      // write only into the peer's window while nothing is pending.
      std::uint32_t window = ssh_channel_window_size(channel_);
      if ((ssh_get_status(session_) & SSH_WRITE_PENDING) != 0 || window == 0) {
        if (!co_await pump_.once(idle_))
          co_return core::unexpected(core::Errc::closed);
        process_input();
        continue;
      }
      auto chunk = static_cast<std::uint32_t>(std::min<std::size_t>(buf.size(), window));
      int n = ssh_channel_write(channel_, buf.data(), chunk);
      if (n < 0)
        co_return core::unexpected(core::Errc::closed);
      buf = buf.subspan(static_cast<std::size_t>(n));
      // A write of 0 bytes (libssh is busy, e.g. rekeying) is retried once the
      // socket can take data, not when more input arrives: the peer may be
      // waiting for this very reply.
      if (n == 0 && !co_await pump_.once(idle_, /*retry_write=*/true))
        co_return core::unexpected(core::Errc::closed);
    }
    co_return core::Result<void>{};
  }

  // Lets libssh read and handle what arrived (window adjustments above all)
  // even while client data waits unread in the channel buffer: reading the
  // empty stderr stream does that without taking any of it. SFTP clients send
  // no stderr data.
  void process_input() {
    char c;
    (void)ssh_channel_read_timeout(channel_, &c, 1, /*is_stderr=*/1, 0);
  }

  // Requests that arrive once the subsystem runs (a second channel, exec...) are refused.
  void refuse_other_requests() {
    while (ssh_message m = ssh_message_get(session_)) {
      ssh_message_reply_default(m);
      ssh_message_free(m);
    }
  }

private:
  ssh_session session_;
  ssh_channel channel_;
  Pump& pump_;
  std::chrono::seconds idle_;
};

struct SessionGuard {
  ssh_session s;
  ~SessionGuard() {
    ssh_disconnect(s);
    ssh_free(s);
  }
};

// Checks one authorized_keys line against the offered key. Options before the
// key type (from="...", command=...) are not supported: such lines are skipped
// with a warning rather than honoured halfway.
bool key_matches(std::string_view line, std::string_view type, std::string_view blob) {
  while (!line.empty() && (line.front() == ' ' || line.front() == '\t'))
    line.remove_prefix(1);
  if (line.empty() || line.front() == '#')
    return false;
  auto sp = line.find(' ');
  std::string_view t = line.substr(0, sp);
  if (!t.starts_with("ssh-") && !t.starts_with("ecdsa-") && !t.starts_with("sk-")) {
    spdlog::warn("sftp: authorized_keys line with options is not supported; skipped");
    return false;
  }
  if (sp == std::string_view::npos)
    return false;
  std::string_view rest = line.substr(sp + 1);
  std::string_view b = rest.substr(0, rest.find(' '));
  return t == type && b == blob;
}

// Runs authentication; returns the account once a method succeeded.
core::Task<std::optional<auth::Account>>
authenticate(ssh_session s, Pump& pump, const SshDeps& deps,
             std::chrono::steady_clock::time_point deadline, std::string_view peer) {
  const int methods = SSH_AUTH_METHOD_PASSWORD | SSH_AUTH_METHOD_PUBLICKEY;
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
    std::string user = ssh_message_auth_user(m) ? ssh_message_auth_user(m) : "";
    int sub = ssh_message_subtype(m);
    if (sub == SSH_AUTH_METHOD_PASSWORD) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored                                                                     \
    "-Wdeprecated-declarations" // the message API is the non-blocking one
      std::string password = ssh_message_auth_password(m) ? ssh_message_auth_password(m) : "";
#pragma GCC diagnostic pop
      auto account = co_await deps.authenticator->authenticate(user, password);
      if (account) {
        ssh_message_auth_reply_success(m, 0);
        spdlog::info("sftp: {} logged in as {} (password)", peer, user);
        co_return std::move(*account);
      }
      spdlog::warn("sftp: {} failed password login as {}", peer, user);
    } else if (sub == SSH_AUTH_METHOD_PUBLICKEY) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
      ssh_key key = ssh_message_auth_pubkey(m);
      int state = ssh_message_auth_publickey_state(m);
#pragma GCC diagnostic pop
      char* b64 = nullptr;
      bool authorized = false;
      auto record = co_await deps.users->find(user);
      if (key != nullptr && record && ssh_pki_export_pubkey_base64(key, &b64) == SSH_OK) {
        std::string_view type = ssh_key_type_to_char(ssh_key_type(key));
        for (const auto& line : record->authorized_keys)
          authorized = authorized || key_matches(line, type, b64);
      }
      ssh_string_free_char(b64);
      if (authorized && state == SSH_PUBLICKEY_STATE_NONE) {
        ssh_message_auth_reply_pk_ok_simple(m); // "this key would do": the client signs next
        continue;
      }
      if (authorized && state == SSH_PUBLICKEY_STATE_VALID) {
        ssh_message_auth_reply_success(m, 0);
        spdlog::info("sftp: {} logged in as {} (public key)", peer, user);
        co_return auth::Account{record->name, record->home};
      }
      if (state == SSH_PUBLICKEY_STATE_VALID || state == SSH_PUBLICKEY_STATE_WRONG)
        spdlog::warn("sftp: {} refused public key for {}", peer, user);
    }
    ssh_message_auth_set_methods(m, methods);
    ssh_message_reply_default(m);
  }
}

// After login: accept one session channel and its "sftp" subsystem; refuse
// shell, exec, port forwarding, agent and X11.
core::Task<ssh_channel> open_sftp_channel(ssh_session s, Pump& pump, std::chrono::seconds idle) {
  ssh_channel channel = nullptr;
  for (;;) {
    ssh_message m = ssh_message_get(s);
    if (m == nullptr) {
      if (!co_await pump.once(idle))
        co_return nullptr;
      continue;
    }
    std::unique_ptr<ssh_message_struct, decltype(&ssh_message_free)> msg(m, ssh_message_free);
    int type = ssh_message_type(m);
    int sub = ssh_message_subtype(m);
    if (type == SSH_REQUEST_CHANNEL_OPEN && sub == SSH_CHANNEL_SESSION && channel == nullptr) {
      channel = ssh_message_channel_request_open_reply_accept(m);
      continue;
    }
    if (type == SSH_REQUEST_CHANNEL && channel != nullptr) {
      if (sub == SSH_CHANNEL_REQUEST_SUBSYSTEM) {
        const char* name = ssh_message_channel_request_subsystem(m);
        if (name != nullptr && std::string_view(name) == "sftp") {
          ssh_message_channel_request_reply_success(m);
          co_return channel;
        }
      } else if (sub == SSH_CHANNEL_REQUEST_ENV) {
        ssh_message_channel_request_reply_success(m); // harmless; ignored
        continue;
      }
    }
    ssh_message_reply_default(m);
  }
}

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
    ssh_key key = nullptr;
    if (ssh_pki_import_privkey_file(f.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK)
      throw std::runtime_error(fmt::format("sftp.host_keys: {}: can not load the key", f.string()));
    keys.fingerprints.push_back(fingerprint(key));
    ssh_key_free(key);
  }
  return keys;
}

core::Task<void> run_ssh_session(net::Socket socket, std::shared_ptr<const SshDeps> deps) {
  std::error_code ec;
  socket.set_option(net::Tcp::no_delay(true), ec); // libssh sets neither this nor O_NONBLOCK
  socket.native_non_blocking(true, ec);
  std::string peer = socket.remote_endpoint(ec).address().to_string();
  auto ex = socket.get_executor();

  ssh_bind bind = ssh_bind_new();
  int no = 0;
  ssh_bind_options_set(bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &no);
  for (const auto& f : deps->host_keys.files)
    ssh_bind_options_set(bind, SSH_BIND_OPTIONS_HOSTKEY, f.c_str());
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
  ssh_set_auth_methods(session, SSH_AUTH_METHOD_PASSWORD | SSH_AUTH_METHOD_PUBLICKEY);
  auto account = co_await authenticate(session, pump, *deps, deadline, peer);
  if (!account)
    co_return;
  auto fs = vfs::LocalFs::open(account->home, deps->io);
  if (!fs) {
    spdlog::error("sftp: home of user {} is unavailable: {}", account->name, fs.error().message());
    co_return;
  }
  ssh_channel channel = co_await open_sftp_channel(session, pump, deps->idle_timeout);
  if (channel == nullptr)
    co_return;
  {
    SshChannel ch(session, channel, pump, deps->idle_timeout);
    co_await run_session(ch, **fs, deps->limits);
  }
  ssh_channel_send_eof(channel);
  ssh_channel_close(channel);
  ssh_channel_free(channel);
  spdlog::info("sftp: disconnect {} user {}", peer, account->name);
}

} // namespace berth::sftp::ssh
