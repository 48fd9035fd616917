#pragma once
// sshd's RevokedKeys: a file of revoked keys and certificates, either an
// OpenSSH key revocation list (PROTOCOL.krl, as `ssh-keygen -k` writes it)
// or plain text with one public key per line.

#include "auth/ssh_cert.hpp"
#include "core/result.hpp"

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth::auth {

/// Larger revocation files are refused (one revoked serial costs 8 bytes,
/// a revoked key about 100).
inline constexpr std::size_t kMaxRevokedKeysSize = 16 * 1024 * 1024;

/// What a revocation file revokes. Parsing is bounded by the file's size.
class RevokedKeys {
public:
  /// Parses a KRL (it starts with "SSHKRL\n\0") or plain text (blank lines
  /// and `#` comments skipped; each other line `keytype base64 [comment]`).
  /// Fails (`reason` set) on a file longer than kMaxRevokedKeysSize, a
  /// truncated or malformed section, an unknown section or critical
  /// extension, a KRL signature section (OpenSSH 9.4 refuses those too), or
  /// a text line that is not a key: a file that can not be read whole
  /// revokes everything, as sshd refuses all keys then.
  static core::Result<RevokedKeys> parse(std::string_view file, std::string& reason);

  /// `key_blob` (a plain key's wire blob) is revoked: listed explicitly or by
  /// its SHA-1 or SHA-256 hash.
  bool key_revoked(std::string_view key_blob) const;

  /// Why `cert` (with its wire blob `cert_blob`) is revoked, or empty: its
  /// CA key or certified key is revoked, or a certificate section for its CA
  /// (or for any CA) lists its serial or key id, or the plain file lists the
  /// certificate itself.
  std::string cert_revoked(const SshCert& cert, std::string_view cert_blob) const;

private:
  struct CertSection {
    std::string ca_key;                                          ///< Empty: every CA.
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges; ///< Inclusive; lists too.
    std::vector<std::pair<std::uint64_t, std::string>> bitmaps;  ///< Offset, big-endian bits.
    std::set<std::string> key_ids;
  };
  static bool parse_krl(std::string_view file, RevokedKeys& out, std::string& reason);
  static bool parse_cert_section(std::string_view data, RevokedKeys& out, std::string& reason);
  static bool parse_text(std::string_view file, RevokedKeys& out, std::string& reason);
  bool serial_revoked(const CertSection& s, std::uint64_t serial) const;

  std::vector<CertSection> certs_;
  std::set<std::string> keys_; ///< Explicit blobs (plain keys, and certificates from text).
  std::set<std::string> sha1_, sha256_;
};

} // namespace berth::auth
