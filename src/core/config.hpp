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
};

/// `[sftp]`: SFTP over SSH.
struct SftpConfig {
  std::vector<HostPort> listen;
  std::vector<std::filesystem::path> host_keys; ///< Empty: generated in the state folder.
};

/// The whole configuration.
struct Config {
  std::filesystem::path source; ///< The file it came from; empty for the embedded default.
  ServerConfig server;
  FtpConfig ftp;
  SftpConfig sftp;
  std::vector<UserConfig> users;
};

/// A configuration error: one line naming file, line, key and reason.
class ConfigError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Reads and validates a configuration file. Relative paths in it are taken
/// relative to the current directory. Throws ConfigError (start-up failure).
Config load_config(const std::filesystem::path& file);

/// The embedded default: FTP on 0.0.0.0:2121, state in ./berth-data.
Config default_config();

} // namespace berth::core
