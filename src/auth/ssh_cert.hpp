#pragma once
// OpenSSH certificates (PROTOCOL.certkeys): the blob a client offers as a
// `*-cert-v01@openssh.com` public key, parsed into its fields. Pure and
// bounded: the blob comes from the client before any signature is checked.

#include "core/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace berth::auth {

/// Longer blobs are refused unread (OpenSSH's own certificates stay well
/// under 4 KiB, an RSA-16384 one with a long principal list under 8 KiB).
inline constexpr std::size_t kMaxCertSize = 16 * 1024;
/// The certificate `type` field of a user certificate (2 is a host certificate).
inline constexpr std::uint32_t kUserCert = 1;

/// A critical option or extension: its name and its data (itself an SSH
/// string holding the value for the options OpenSSH defines; empty for flags).
struct CertOption {
  std::string name;
  std::string data;
};

/// One parsed certificate. Nothing here is trusted until the signature by
/// `ca_key` over the first `signed_size` bytes of the blob is verified.
struct SshCert {
  std::string type;     ///< "ssh-ed25519-cert-v01@openssh.com", ...
  std::string key_blob; ///< Wire blob of the certified plain key ("ssh-ed25519", pk).
  std::uint64_t serial = 0;
  std::uint32_t cert_type = 0; ///< kUserCert or 2 (host).
  std::string key_id;
  std::vector<std::string> principals;
  std::uint64_t valid_after = 0;  ///< Seconds since the epoch.
  std::uint64_t valid_before = 0; ///< Seconds since the epoch; ~0: forever.
  std::vector<CertOption> critical_options;
  std::vector<CertOption> extensions;
  std::string ca_key;          ///< Wire blob of the CA's public key.
  std::string signature;       ///< Wire signature (string algorithm, string blob).
  std::size_t signed_size = 0; ///< The prefix of the blob the signature covers.
};

/// True for the certificate key types parse_ssh_cert() reads (ed25519,
/// ECDSA P-256/384/521 and RSA certificates).
bool is_cert_type(std::string_view type);

/// Parses a certificate blob (SSH wire encoding, not base64). Fails with
/// std::errc::invalid_argument when it is longer than kMaxCertSize, of
/// another type, truncated, has bytes after the signature, or a field that
/// is not well formed (a principal or option list that does not parse).
core::Result<SshCert> parse_ssh_cert(std::string_view blob);

} // namespace berth::auth
