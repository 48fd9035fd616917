#pragma once
// The configuration: a TOML file (toml++) or the embedded default.

#include "core/host_port.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace berth::core {

/// One `[[user]]` table: a read-only user defined in the configuration.
struct UserConfig {
  std::string name;
  std::string password;      ///< Plain text, compared in constant time; or empty.
  std::string password_hash; ///< "$argon2id$..." (libsodium format); or empty.
  std::filesystem::path home;
  std::vector<std::string> authorized_keys; ///< authorized_keys lines, inline and from the file.
};

/// `[server]`.
struct ServerConfig {
  std::filesystem::path state_dir = "berth-data";
  unsigned threads = 0; ///< Event-loop threads; 0 = one per core.
};

/// Explicit FTPS policy on the FTP control port (RFC 4217).
enum class TlsPolicy {
  off,      ///< No AUTH TLS.
  optional, ///< AUTH TLS offered; plain sessions allowed.
  required, ///< Login and data need TLS (USER/PASS before AUTH: 530; data without PROT P: 521).
};

/// `[ftp]`.
struct FtpConfig {
  std::vector<HostPort> listen;
  PortRange passive_ports{60000, 65535};
  std::string passive_address;         ///< IPv4 announced in PASV; empty = local address.
  std::uint16_t active_data_port = 20; ///< Source port of active data; 0 = any.
  std::chrono::seconds idle_timeout{300};
  std::chrono::seconds login_timeout{60};
  std::chrono::seconds data_timeout{60};
  std::chrono::milliseconds failed_login_delay{1000};
  std::size_t max_line = 4096; ///< Longest accepted control line, CRLF excluded.
  TlsPolicy tls = TlsPolicy::optional;
};

/// `[ftps]`: implicit FTPS, TLS from the first byte.
struct FtpsConfig {
  std::vector<HostPort> listen;
  std::uint16_t active_data_port = 989; ///< Source port of active data; 0 = any.
};

/// `[tls]`: certificate and TLS rules for FTPS.
struct TlsConfig {
  std::filesystem::path certificate; ///< Empty: generated in the state folder.
  std::filesystem::path private_key; ///< Empty with a certificate: the key is in that file.
  bool require_session_reuse = true; ///< Data connections must resume the control session.
  bool tls13_only = false;           ///< min_version = "1.3" (default "1.2").
  std::chrono::seconds handshake_timeout{30};
};

/// `[sftp]`: SFTP over SSH.
struct SftpConfig {
  std::vector<HostPort> listen;
  std::vector<std::filesystem::path> host_keys; ///< Empty: generated in the state folder.
};

/// `[users]`: the embedded user database and password hashing.
struct UsersConfig {
  std::filesystem::path database; ///< Empty: users.db in the state folder.
  std::uint32_t hash_memory_kib = 19 * 1024; ///< argon2id m (OWASP minimum: 19 MiB).
  std::uint32_t hash_iterations = 2;         ///< argon2id t.
};

/// The whole configuration.
struct Config {
  std::filesystem::path source; ///< The file it came from; empty for the embedded default.
  ServerConfig server;
  FtpConfig ftp;
  FtpsConfig ftps;
  TlsConfig tls;
  SftpConfig sftp;
  std::vector<UserConfig> users;
  UsersConfig users_db;

  /// The SQLite user database: [users] database, or users.db in the state folder.
  std::filesystem::path user_database() const {
    return users_db.database.empty() ? server.state_dir / "users.db" : users_db.database;
  }
};

/// A configuration error: one line naming file, line, key and reason.
class ConfigError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Reads and validates a configuration file. Relative paths in it are taken
/// relative to the current directory. Throws ConfigError (start-up failure).
Config load_config(const std::filesystem::path& file);

/// The embedded default: FTP with optional explicit TLS on 0.0.0.0:2121,
/// implicit FTPS on 0.0.0.0:2990, SFTP on 0.0.0.0:2222, state in ./berth-data.
Config default_config();

} // namespace berth::core
