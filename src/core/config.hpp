#pragma once
// The configuration: a TOML file (toml++) or the embedded default.

#include "core/host_port.hpp"
#include "core/log_format.hpp"
#include "core/permissions.hpp"
#include "core/upload_mode.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth::core {

/// One `[[user]]` table: a read-only user defined in the configuration.
struct UserConfig {
  std::string name;
  std::string password;      ///< Plain text, compared in constant time; or empty.
  std::string password_hash; ///< "$argon2id$..." (libsodium format); or empty.
  /// A storage location (vfs::Location): a directory, or s3://bucket/prefix.
  std::filesystem::path home;
  std::string home_source; ///< "file:line" of `home`, for the storage check's error.
  std::vector<std::string> authorized_keys; ///< authorized_keys lines, inline and from the file.
  Permissions permissions = Permissions::all();
  std::uint64_t quota_bytes = 0;       ///< 0: no limit.
  std::uint64_t quota_files = 0;       ///< 0: no limit.
  std::uint32_t max_sessions = 0;      ///< 0: [limits] max_sessions_per_user.
  std::uint64_t upload_rate = 0;       ///< Bytes/s (KiB/s in the file); 0: no limit.
  std::uint64_t download_rate = 0;     ///< Bytes/s (KiB/s in the file); 0: no limit.
  std::vector<std::string> allow_from; ///< CIDR blocks; empty: anywhere.
  bool disabled = false;
};

/// `proxy_protocol` and `proxy_from` of a listener section: the PROXY
/// protocol (v1 or v2) header that a load balancer puts before the connection.
struct ProxyConfig {
  bool enabled = false;
  std::vector<std::string> from; ///< CIDR blocks that may (and must) send a header.
};

/// `[server] user` and `group`: who berth becomes once its listeners are
/// bound. Resolved (passwd and group databases) when the configuration is read.
struct RunAs {
  std::string user;  ///< The user's name in the passwd database.
  std::string group; ///< As configured; empty: the user's primary group.
  std::uint32_t uid = 0;
  std::uint32_t gid = 0; ///< `group`'s id, or the user's primary group.
};

/// `[server]`.
struct ServerConfig {
  std::filesystem::path state_dir = "berth-data";
  unsigned threads = 0;        ///< Event-loop threads; 0 = one per core.
  std::optional<RunAs> run_as; ///< Absent: berth keeps the identity it was started with.
  /// How long running transfers may take to finish after SIGTERM/SIGINT.
  std::chrono::seconds shutdown_timeout{30};
  /// How replacing uploads reach the disk (every protocol).
  UploadMode upload_mode = UploadMode::atomic;
};

/// Explicit FTPS policy on the FTP control port (RFC 4217).
enum class TlsPolicy {
  off,      ///< No AUTH TLS.
  optional, ///< AUTH TLS offered; plain sessions allowed.
  required, ///< Login and data need TLS (USER/PASS before AUTH: 530; data without PROT P: 521).
};

/// One `[[ftp.host]]` table: a virtual host on the FTP listeners, chosen by
/// the HOST command (RFC 7151) and, for its certificate, by the TLS server name.
struct FtpHostConfig {
  std::string name;                  ///< As HOST and SNI name it; compared without case.
  std::vector<std::string> users;    ///< Who may log in through it; empty: every user.
  std::filesystem::path certificate; ///< Empty: [tls]'s certificate.
  std::filesystem::path private_key; ///< Empty with a certificate: the key is in that file.
  std::string banner;                ///< The text of the 220 reply to HOST.
};

/// One of `[ftp] passive_address_rules`: clients of a block get their own
/// PASV address (internal clients an internal one, behind NAT).
struct PassiveAddressRule {
  std::string from;    ///< CIDR block of the control connection's client (after PROXY).
  std::string address; ///< IPv4 address or host name announced to them.
};

/// `[ftp]`.
struct FtpConfig {
  std::vector<HostPort> listen;
  PortRange passive_ports{60000, 65535};
  /// IPv4 address or host name (resolved in the background, at most once a
  /// minute) announced in PASV; empty = local address.
  std::string passive_address;
  std::vector<PassiveAddressRule> passive_address_rules; ///< First match wins, before the above.
  std::uint16_t active_data_port = 20;                   ///< Source port of active data; 0 = any.
  std::chrono::seconds idle_timeout{300};
  std::chrono::seconds login_timeout{60};
  std::chrono::seconds data_timeout{60};
  std::chrono::milliseconds failed_login_delay{1000};
  std::size_t max_line = 4096; ///< Longest accepted control line, CRLF excluded.
  TlsPolicy tls = TlsPolicy::optional;
  /// CCC (RFC 4217 12.2) ends TLS on the control connection after login, for
  /// firewalls that must read PASV replies; data keeps its PROT level.
  bool allow_ccc = false;
  ProxyConfig proxy;
  std::vector<FtpHostConfig> hosts; ///< [[ftp.host]]
};

/// `[ftp.anonymous]`: anonymous FTP (user "anonymous" or "ftp", any password).
struct AnonymousConfig {
  bool enabled = false;
  std::filesystem::path home; ///< A storage location, as [[user]] home.
  std::string home_source;    ///< "file:line" of `home`.
  Permissions permissions = Permissions::read_only();
};

/// `[ftps]`: implicit FTPS, TLS from the first byte.
struct FtpsConfig {
  std::vector<HostPort> listen;
  std::uint16_t active_data_port = 989; ///< Source port of active data; 0 = any.
  ProxyConfig proxy;
};

/// `[tls]`: certificate and TLS rules for FTPS.
struct TlsConfig {
  std::filesystem::path certificate; ///< Empty: generated in the state folder.
  std::filesystem::path private_key; ///< Empty with a certificate: the key is in that file.
  bool require_session_reuse = true; ///< Data connections must resume the control session.
  /// A data connection closed without TLS close_notify is cut short (an
  /// upload is incomplete: 426); false: such a close ends it normally.
  bool require_close_notify = true;
  long session_cache_size = 20480; ///< Most sessions in the server's shared cache.
  bool tls13_only = false;         ///< min_version = "1.3" (default "1.2").
  std::chrono::seconds handshake_timeout{30};
};

/// `[sftp]`: SFTP over SSH.
struct SftpConfig {
  std::vector<HostPort> listen;
  std::vector<std::filesystem::path> host_keys; ///< Empty: generated in the state folder.
  ProxyConfig proxy;
  /// Session channels (SFTP sessions, commands) one connection may have open
  /// at once, as sshd's MaxSessions; one more is refused at its open.
  std::uint32_t max_channels_per_connection = 10;
  /// CA keys trusted to sign user certificates for every user (sshd's
  /// TrustedUserCAKeys; a principal must be the user's name). Empty: none.
  std::filesystem::path trusted_user_ca_keys;
  /// Revoked keys and certificates, a KRL or one public key a line (sshd's
  /// RevokedKeys). Empty: none.
  std::filesystem::path revoked_keys;
};

/// `[limits]`: connections (every protocol together), sessions and open files.
struct LimitsConfig {
  std::uint32_t max_connections = 0;        ///< 0: no limit.
  std::uint32_t max_connections_per_ip = 0; ///< 0: no limit.
  /// Sessions of a user whose own max_sessions is 0. 0: no limit.
  std::uint32_t max_sessions_per_user = 128;
  /// Files and directories open at once, all users together; 0: RLIMIT_NOFILE
  /// minus a reserve for connections and logins (never more than that).
  std::uint32_t max_open_files = 0;
  /// Of them, one user's; 0: a quarter of max_open_files.
  std::uint32_t max_open_files_per_user = 0;
  /// An IPv6 client is counted and banned as its network of this many bits.
  unsigned ipv6_prefix = 64;
  /// Password checks in progress (waiting for a hash worker or running), in
  /// all and per address; over the bound a login is refused at once.
  std::uint32_t max_password_checks = 128;
  std::uint32_t max_password_checks_per_ip = 32;
  /// Full TLS handshakes of control connections per address and minute.
  std::uint32_t max_tls_handshakes_per_ip = 1200;
};

/// `[bandwidth]`: the server's global caps, for every protocol. 0: no limit.
struct BandwidthConfig {
  std::uint64_t upload_rate = 0;   ///< Bytes/s (KiB/s in the file).
  std::uint64_t download_rate = 0; ///< Bytes/s (KiB/s in the file).
};

/// `[defender]`: bans of addresses that fail to log in too often.
struct DefenderConfig {
  bool enabled = true;
  std::uint32_t max_failures = 5;
  std::chrono::seconds window{600};
  std::chrono::seconds ban_time{600};
  std::chrono::seconds max_ban_time{86400};
  /// CIDR blocks never banned. By default the loopback addresses, as
  /// fail2ban's ignoreip: local tools and health checks are never locked out.
  std::vector<std::string> allow{"127.0.0.1/32", "::1/128"};
};

/// `[users]`: the embedded user database and password hashing.
struct UsersConfig {
  std::filesystem::path database;            ///< Empty: users.db in the state folder.
  std::uint32_t hash_memory_kib = 19 * 1024; ///< argon2id m (OWASP minimum: 19 MiB).
  std::uint32_t hash_iterations = 2;         ///< argon2id t.
  /// How long a verified password spares the next login its hash; 0: off.
  std::chrono::seconds login_cache{300};
};

/// `[log]`: the format of log lines and the transfer log.
struct LogConfig {
  LogFormat format = LogFormat::text;
  /// The xferlog file (wu-ftpd format) every finished transfer is appended
  /// to; empty: none.
  std::filesystem::path transfer_log;
};

/// `[metrics]`: the Prometheus endpoint (GET /metrics, GET /healthz).
struct MetricsConfig {
  std::optional<HostPort> listen; ///< Absent: no endpoint.
};

/// One S3-compatible endpoint and its credentials: `[s3]` or `[s3.profiles.NAME]`.
struct S3Profile {
  std::string endpoint; ///< "https://host:port" or "http://..."; no path.
  std::string region = "us-east-1";
  std::string access_key;               ///< Empty in the file: AWS_ACCESS_KEY_ID.
  std::string secret_key;               ///< Empty in the file: AWS_SECRET_ACCESS_KEY.
  std::string session_token;            ///< AWS_SESSION_TOKEN, from the environment only.
  bool path_style = true;               ///< http://host/bucket/key, not http://bucket.host/key.
  std::filesystem::path ca_file;        ///< Trust anchors for https; empty: the system's.
  std::uint64_t part_size = 8ull << 20; ///< Multipart part size; at least 5 MiB.
  std::uint32_t upload_concurrency = 4; ///< Parts in flight per upload.
  std::chrono::seconds request_timeout{60};
};

/// `[s3]`: object storage for homes at s3:// locations.
struct S3Config {
  S3Profile defaults;                                      ///< `[s3]` itself: s3://bucket/prefix.
  std::vector<std::pair<std::string, S3Profile>> profiles; ///< s3://NAME@bucket/prefix.
  /// Node-wide bytes of upload part buffers; when used up, uploads stop reading
  /// their client until a part is sent.
  std::uint64_t memory_budget = 256ull << 20;
  /// Out-of-order SFTP writes beyond the in-flight window wait here; empty:
  /// "s3-spool" in the state folder.
  std::filesystem::path spool_dir;
  std::uint64_t spool_limit = 1ull << 30;   ///< Bytes of the spool, all uploads together.
  std::uint32_t max_rename_objects = 10000; ///< Most objects one folder rename moves.
  /// The profile `name` ("" for [s3] itself), or null.
  const S3Profile* profile(std::string_view name) const {
    if (name.empty())
      return &defaults;
    for (const auto& [n, p] : profiles)
      if (n == name)
        return &p;
    return nullptr;
  }
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
  AnonymousConfig anonymous; ///< [ftp.anonymous]
  LimitsConfig limits;
  BandwidthConfig bandwidth;
  DefenderConfig defender;
  LogConfig log;
  MetricsConfig metrics;
  S3Config s3;

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
