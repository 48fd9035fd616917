#pragma once
// One FTP control connection: a coroutine that reads commands, dispatches them
// through the command table and writes replies.

#include "auth/authenticator.hpp"
#include "core/config.hpp"
#include "core/drain.hpp"
#include "core/telemetry.hpp"
#include "core/watchdog.hpp"
#include "core/worker_pool.hpp"
#include "ftp/codec.hpp"
#include "ftp/data_channel.hpp"
#include "ftp/listing.hpp"
#include "ftp/passive_address.hpp"
#include "ftp/reply.hpp"
#include "net/stream.hpp"
#include "net/tls_context.hpp"
#include "vfs/filesystem.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace berth::ftp {

/// What every session of a listener shares. Immutable; sessions hold it by
/// shared_ptr so that a reload can hand new sessions a new one while running
/// sessions keep theirs (and everything it owns) to their end.
struct SessionDeps {
  core::FtpConfig config; ///< For implicit FTPS, active_data_port is [ftps]'s.
  core::TlsConfig tls_config;
  std::shared_ptr<auth::Authenticator> authenticator; ///< This configuration's users and rules.
  std::shared_ptr<net::TlsHolder> tls;                ///< Null when FTPS is off.
  /// The server's graceful stop; null: never drains (tests). Idle sessions
  /// end with 421 when it starts, others after their transfer.
  std::shared_ptr<core::Drain> drain;
  bool implicit_tls = false; ///< TLS from the first byte (port 990).
  /// Set when the listener takes PROXY headers: passive data connections come
  /// through the same load balancers, with a header too.
  std::shared_ptr<const core::CidrList> proxy_from;
  /// Metrics and the transfer log; null: nothing is counted.
  std::shared_ptr<core::Telemetry> telemetry;
  /// What PASV announces to each client; shared (with its lookups) by the
  /// sessions of every thread. Null: config.passive_address as it is.
  std::shared_ptr<PassiveAddresses> passive_addresses;
};

enum class TransferType { ascii, binary };

/// The body of a transfer: moves bytes over the connected data stream (TLS under
/// PROT P) and counts them in `progress` (read by the stall watchdog).
using TransferBody = std::function<core::Task<core::Result<void>>(net::Stream&, std::uint64_t&)>;

/// The 421 reply text when a client's address had too many TLS handshakes.
inline constexpr const char* kTooManyHandshakes =
    "Too many TLS handshakes from your address, try again later.";

/// Runs one control connection to its end. Takes ownership of the socket.
/// `client` is the peer, or the address a PROXY protocol header gave.
core::Task<void> run_session(net::Socket socket, std::shared_ptr<const SessionDeps> deps,
                             net::Endpoint client);

/// Session state and the services handlers use. Fields are the typed sequence
/// state of RFC 959 (USER->PASS, RNFR->RNTO, REST->RETR/STOR); dispatch() clears
/// them after any other verb.
class Session {
public:
  Session(net::Stream control, std::shared_ptr<const SessionDeps> deps, net::Endpoint client);

  /// Serves the connection until QUIT, timeout or disconnect.
  core::Task<void> run();

  /// Sends a reply now (1xx preliminaries, 426 before a 226). Failure ends the session.
  core::Task<void> send(const Reply& r);
  /// Sends encoded reply text now: the parts of a multi-line reply sent as
  /// they are made (encode_first() and the others), even after `quit`
  /// (callers check it). Failure ends the session (sets `quit`).
  core::Task<void> send_encoded(const std::string& wire);

  /// Resolves a client path against the current directory.
  core::Result<vfs::VirtualPath> path(std::string_view arg) const {
    return vfs::VirtualPath::resolve(cwd, arg);
  }

  /// Resolves a client path and stats it (following symlinks inside the root).
  core::Task<core::Result<std::pair<vfs::VirtualPath, vfs::Stat>>> stat_path(std::string_view arg);

  /// Opens the data connection, sends `opening` as the 150 reply, runs `body`
  /// while watching the control connection for ABOR and the data connection for
  /// stalls, and returns the final reply (226, 426, 425, 451, 552...).
  /// Arguments are references: the caller awaits, and GCC 12 mishandles
  /// temporaries passed by value into coroutines inside co_await expressions.
  core::Task<Reply> transfer(const std::string& opening, const TransferBody& body);

  /// Starts tracking a file transfer of `path` (before transfer()): the
  /// record of the transfer log and the metrics.
  core::TransferTracker start_transfer(const vfs::VirtualPath& path, bool upload);
  /// Reports the tracked transfer with the outcome of the last transfer()
  /// and `bytes` moved; a transfer() that never tried to connect (no PORT or
  /// PASV first) reports nothing.
  void end_transfer(core::TransferTracker& tracker, std::uint64_t bytes);

  /// AUTH TLS: after the 234 reply, runs the TLS handshake on the control
  /// connection. Bytes the client sent after AUTH in plain text are discarded.
  /// On failure the session ends.
  core::Task<void> upgrade_control();

  /// CCC: after the 200 reply, ends TLS on the control connection (both
  /// close_notify alerts) and goes on in clear. On failure the session ends.
  core::Task<void> clear_control();

  /// Counts a TLS handshake of this control connection's client; false
  /// (logged) when its address had too many lately ([limits]
  /// max_tls_handshakes_per_ip): refuse it with kTooManyHandshakes.
  bool tls_handshake_allowed();

  /// True if this session can offer TLS (AUTH TLS, PROT P).
  bool tls_available() const { return tls_ != nullptr; }
  bool control_is_tls() { return control_.is_tls(); }
  /// The FTPS policy. On the implicit port the control connection is always
  /// TLS, and "required" also refuses clear data there (PROT C: 534).
  core::TlsPolicy tls_policy() const {
    if (deps_->implicit_tls && config().tls == core::TlsPolicy::off)
      return core::TlsPolicy::optional;
    return config().tls;
  }

  /// ftps once the control connection is TLS, else ftp.
  core::Protocol protocol() {
    return control_.is_tls() ? core::Protocol::ftps : core::Protocol::ftp;
  }
  /// The listener's protocol: ftps on the implicit FTPS port, else ftp.
  core::Protocol listener_protocol() const {
    return deps_->implicit_tls ? core::Protocol::ftps : core::Protocol::ftp;
  }
  /// Metrics and the transfer log; may be null.
  core::Telemetry* telemetry() const { return deps_->telemetry.get(); }
  /// What PASV announces by client; may be null.
  PassiveAddresses* passive_addresses() const { return deps_->passive_addresses.get(); }

  /// Logs in, or clears the login (REIN), which forgets the HOST too.
  void log_in(auth::Account account, auth::UserSession session);
  void reset_login();

  /// The virtual host HOST chose (RFC 7151), or nullptr for the server's own.
  const core::FtpHostConfig* host() const { return host_; }
  /// Chooses the virtual host: its banner, its users, and its certificate
  /// for TLS begun from now on (AUTH TLS, data connections).
  void choose_host(const core::FtpHostConfig* host) {
    host_ = host;
    tls_sessions_.set_host(host != nullptr ? host->name : std::string());
  }
  /// True if `account` may log in through the chosen host (its `users`).
  bool host_admits(const auth::Account& account) const;

  const core::FtpConfig& config() const { return deps_->config; }
  auth::Authenticator& authenticator() const { return *deps_->authenticator; }
  vfs::Filesystem& fs() { return *user_session_.fs; }
  bool logged_in() const { return user_session_.fs != nullptr; }
  const std::string& user() const { return account_.name; }
  bool anonymous() const { return account_.anonymous; }
  net::Stream& control() { return control_; }
  net::Endpoint peer() const { return peer_; }
  net::Endpoint local() const { return local_; }
  /// The local address with IPv4-mapped IPv6 turned into IPv4.
  net::Address unmapped_local() const;
  DataChannel& data() { return data_; }
  bool transferring() const { return transferring_; }

  // Sequence and parameter state, read and written by handlers.
  std::optional<std::string> pending_user;     ///< USER given, PASS expected.
  std::optional<vfs::VirtualPath> rename_from; ///< RNFR given, RNTO expected.
  std::uint64_t restart_offset = 0;            ///< REST given, RETR/STOR/APPE expected.
  std::optional<std::pair<std::uint64_t, std::uint64_t>> hash_range; ///< RANG given.
  vfs::VirtualPath cwd;
  TransferType type = TransferType::ascii; // RFC 959 default
  bool epsv_all = false;
  bool quit = false;
  std::optional<auth::LoginAttempts> attempts; ///< Made at the first failed login.
  unsigned mlst_facts = fact_all;
  std::string hash_algorithm = "SHA-256";
  bool pbsz = false;         ///< PBSZ 0 given (RFC 4217 9).
  bool prot_private = false; ///< PROT P: data connections use TLS.
  bool mode_z = false;       ///< MODE Z: data connections carry one zlib stream each.
  int deflate_level = 6;     ///< OPTS MODE Z LEVEL (1-9): how hard MODE Z compresses.

private:
  enum class ControlEvent { abort, closed };
  /// What the session waits for, which says what a deadline or a stopping
  /// server ends: the next command, the data connection, or a transfer's progress.
  enum class Phase { other, command, opening, moving };
  core::Task<core::Result<Line>> read_line();
  core::Task<core::Result<Line>> read_command(std::chrono::steady_clock::duration limit);
  /// How long the control connection may wait for the client now: the idle
  /// timeout, and before login no later than the login deadline.
  std::chrono::steady_clock::duration control_limit() const;
  bool draining() const { return deps_->drain && deps_->drain->draining(); }
  core::Task<ControlEvent> watch_control();
  /// transfer() after the 150: opens the data connection and runs the body.
  core::Task<Reply> move_data(const TransferBody& body);
  /// Before each command under PROT P: the data connection's handshake,
  /// as far as it can go without waiting.
  void prepare_data();
  /// How a data connection's TLS is set up.
  net::TlsAccept data_tls();
  void log_command(std::string_view line, int code);
  void on_deadline(); ///< The watchdog's deadline passed in phase_.
  void on_drain();    ///< The server started draining.

  /// First, so that it outlives the streams whose TLS refers to it.
  net::TlsSessions tls_sessions_;
  bool control_cleared_ = false; ///< CCC ended the control connection's TLS.
  net::Stream control_;
  std::shared_ptr<const SessionDeps> deps_;
  net::Endpoint peer_;
  net::Endpoint local_;
  LineReader reader_;
  std::deque<Line> queued_; ///< Lines that arrived during a transfer.
  DataChannel data_;
  auth::Account account_;
  auth::UserSession user_session_;
  auth::Limits::Ticket connection_; ///< This connection's place in the limits.
  bool transferring_ = false;
  std::shared_ptr<net::TlsContext> tls_;      ///< Taken at connect; a reload does not change it.
  const core::FtpHostConfig* host_ = nullptr; ///< In deps_->config.hosts.
  core::SessionCount count_;                  ///< In berth_sessions_open while admitted.
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point login_deadline_ =
      std::chrono::steady_clock::time_point::max();
  /// How the last transfer() ended; nullopt when it did not try to connect.
  std::optional<core::TransferResult> transfer_result_;
  Phase phase_ = Phase::other;
  bool timed_out_ = false;             ///< The deadline of this phase passed.
  std::uint64_t progress_ = 0;         ///< Bytes the running transfer moved.
  std::uint64_t progress_seen_ = 0;    ///< progress_ when the stall deadline was last set.
  net::Stream* moving_ = nullptr;      ///< The data connection while a body runs.
  core::Watchdog watchdog_;            ///< Idle, data-connection and stall timeouts.
  core::Drain::Subscription draining_; ///< Ends an idle read or a data wait.
};

} // namespace berth::ftp
