#pragma once
// Turns a configuration into the objects that serve it.

#include "auth/authenticator.hpp"
#include "auth/defender.hpp"
#include "core/config.hpp"
#include "core/drain.hpp"
#include "core/telemetry.hpp"
#include "ftp/session.hpp"
#include "net/tls_context.hpp"
#include "sftp/ssh/ssh_server.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/user_store.hpp"
#include "vfs/storage_backends.hpp"

#include <memory>

namespace berth::server {

/// What one configuration makes: its users, the Authenticator over them, the
/// TLS context, the SSH host keys and each listener's session deps.
/// Immutable once built. A reload builds a new one; sessions hold shared_ptrs
/// to their deps, which own what the sessions use (the Authenticator, the
/// TLS holder), so the generation a running session started with lives until
/// that session ends.
struct Generation {
  core::Config config;
  std::shared_ptr<store::UserStore> users; ///< The configuration's users, then the database.
  std::shared_ptr<auth::Authenticator> authenticator;
  std::shared_ptr<net::TlsHolder> tls;            ///< Null when FTPS is off.
  std::shared_ptr<const ftp::SessionDeps> ftp;    ///< FTP with explicit FTPS.
  std::shared_ptr<const ftp::SessionDeps> ftps;   ///< Implicit FTPS.
  std::shared_ptr<const sftp::ssh::SshDeps> sftp; ///< Null when SFTP is off.
  /// Per listener kind: the load balancers that may send PROXY headers; null
  /// without proxy_protocol.
  std::shared_ptr<const core::CidrList> ftp_proxy_from, ftps_proxy_from, sftp_proxy_from;
};

/// The objects built from a configuration: those kept from start to exit,
/// whatever is reloaded (worker pools, the user database, the defender's
/// bans and failure counts, the limits' counts, quotas and throttles, the
/// drain), and the current generation.
struct Wired {
  std::unique_ptr<core::WorkerPool> io; ///< First: outlives everything that uses it.
  std::shared_ptr<store::SqliteStore> database;
  std::unique_ptr<core::WorkerPool> db; ///< Runs the database's queries; joined before it closes.
  std::unique_ptr<auth::Defender> defender;
  std::shared_ptr<auth::LiveState> live; ///< Shared by every generation's Authenticator.
  std::shared_ptr<core::Drain> drain;    ///< Shared by every session.
  /// Metrics (always counted) and the transfer log ([log] transfer_log);
  /// shared with every session, which may outlive this. Kept across reloads.
  std::shared_ptr<core::Telemetry> telemetry;
  /// Opens homes (local and object storage); a reload gives it new settings
  /// for the sessions after it.
  std::shared_ptr<vfs::StorageBackends> storage;
  std::shared_ptr<const Generation> current; ///< The generation built at start.

  /// Starts the worker pools' threads: after dropping root, so that every
  /// thread has the identity and capabilities the drop left (they are per thread).
  void start_workers();

  /// Lets the worker pools finish their work and ends their threads. Called
  /// once the event loops stopped, before they are destroyed (a completion
  /// must not be posted to a destroyed loop).
  void join_workers();
};

/// Builds the objects for `cfg`: creates the state folder, and for the embedded
/// default the `demo` user (printing its password once on stdout), and the TLS
/// context (generating a certificate when none is configured; its fingerprint is
/// printed). Throws
/// std::runtime_error with one line on failure (start-up failure).
Wired wire(const core::Config& cfg);

/// The storage settings of `cfg`: [server] upload_mode and state_dir, [s3].
vfs::StorageSettings storage_settings(const core::Config& cfg);

/// Checks every home of `cfg` ([[user]] home, [ftp.anonymous] home) with
/// `storage`: it must be a storage location its backend accepts (an existing
/// directory, a bucket that answers). Throws core::ConfigError with one line,
/// "file:line: user.home: reason", for the first that is not. Blocks while
/// object storage answers: call it off the event loops.
void check_homes(const core::Config& cfg, vfs::Backends& storage);

/// The defender's settings from `[defender]` and `[limits] ipv6_prefix` (its
/// CIDR blocks were checked by the configuration).
auth::DefenderConfig defender_settings(const core::Config& cfg);

/// Builds a new generation for `cfg` (a reloaded configuration) on the
/// lasting objects of `w`. Reads files (certificate, host keys) and may
/// generate missing ones: call it off the event loops. Thread-safe against
/// running sessions. Throws std::runtime_error with one line on failure; `w`
/// is unchanged then. [server] and [users] database changes need a restart
/// (the caller keeps the old values).
std::shared_ptr<const Generation> rewire(const core::Config& cfg, const Wired& w);

/// The files and folders berth made in the state folder (and the user
/// database with its -wal/-shm files, wherever it is), for handing them to
/// [server] user before dropping root: the state folder itself and
/// everything in it, except what users' homes hold. Existing paths only.
std::vector<std::filesystem::path> generated_paths(const core::Config& cfg);

} // namespace berth::server
