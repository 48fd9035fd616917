#pragma once
// Turns a configuration into the objects that serve it.

#include "auth/authenticator.hpp"
#include "auth/defender.hpp"
#include "core/config.hpp"
#include "core/telemetry.hpp"
#include "ftp/session.hpp"
#include "net/tls_context.hpp"
#include "sftp/ssh/ssh_server.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/user_store.hpp"

#include <memory>

namespace berth::server {

/// The long-lived objects built from one configuration.
struct Wired {
  std::unique_ptr<core::WorkerPool> io; ///< First: outlives everything that uses it.
  std::shared_ptr<store::SqliteStore> database;
  std::unique_ptr<core::WorkerPool> db; ///< Runs the database's queries; joined before it closes.
  std::shared_ptr<store::UserStore> users; ///< The configuration's users, then the database.
  std::unique_ptr<auth::Defender> defender;
  std::unique_ptr<auth::Authenticator> authenticator;
  std::shared_ptr<net::TlsHolder> tls;            ///< Null when FTPS is off.
  std::shared_ptr<const ftp::SessionDeps> ftp;    ///< FTP with explicit FTPS.
  std::shared_ptr<const ftp::SessionDeps> ftps;   ///< Implicit FTPS.
  std::shared_ptr<const sftp::ssh::SshDeps> sftp; ///< Null when SFTP is off.
  /// Metrics (always counted) and the transfer log ([log] transfer_log);
  /// shared with every session, which may outlive this.
  std::shared_ptr<core::Telemetry> telemetry;
};

/// Builds the objects for `cfg`: creates the state folder, and for the embedded
/// default the `demo` user (printing its password once on stdout), and the TLS
/// context (generating a certificate when none is configured; its fingerprint is
/// printed), and opens the transfer log. Throws std::runtime_error with one
/// line on failure (start-up failure).
Wired wire(const core::Config& cfg);

} // namespace berth::server
