#pragma once
// SSH transport for SFTP, on libssh: host keys, key exchange, user
// authentication and session channels: the "sftp" subsystem, and the few
// commands of sftp/exec/ (never a shell). libssh runs non-blocking on
// the session's own event loop; readiness comes from Asio.

#include "auth/authenticator.hpp"
#include "core/drain.hpp"
#include "core/task.hpp"
#include "core/telemetry.hpp"
#include "net/types.hpp"
#include "sftp/session.hpp"

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace berth::sftp::ssh {

/// Host keys: configured files, or ed25519, ECDSA P-256 and RSA 3072 keys
/// generated into `generated_dir` (mode 0600) and reused on later starts.
/// Read once, when loaded: sessions take the keys from memory, so they need
/// no access to the files (which may be root's after the privilege drop).
struct HostKeys {
  std::vector<std::filesystem::path> files;
  std::vector<std::string> fingerprints; ///< "ED25519 SHA256:...", as ssh-keygen -l prints.
  std::vector<std::string> private_keys; ///< The files' text (OpenSSH or PEM), one per file.

  /// Throws std::runtime_error with one line (file and reason) on failure.
  static HostKeys load(const std::vector<std::filesystem::path>& configured,
                       const std::filesystem::path& generated_dir);
};

/// What every SFTP session shares. Immutable; sessions hold it by shared_ptr
/// so that a reload can hand new sessions a new one.
struct SshDeps {
  HostKeys host_keys;
  std::shared_ptr<auth::Authenticator> authenticator; ///< This configuration's users and rules.
  /// The server's graceful stop; null: never drains. Sessions that have not
  /// logged in, or have no file open, end when it starts.
  std::shared_ptr<core::Drain> drain;
  Limits limits;
  std::chrono::seconds login_timeout{60};
  std::chrono::seconds idle_timeout{300};
  /// Session channels (SFTP sessions, commands) open at once on one connection.
  std::uint32_t max_channels = 10;
  /// Metrics and the transfer log; null: nothing is counted.
  std::shared_ptr<core::Telemetry> telemetry;
};

/// Initialises libssh once per process.
void init_libssh();

/// Serves one SSH connection to its end. Takes ownership of the socket.
/// `client` is the peer, or the address a PROXY protocol header gave.
core::Task<void> run_ssh_session(net::Socket socket, std::shared_ptr<const SshDeps> deps,
                                 net::Endpoint client);

} // namespace berth::sftp::ssh
