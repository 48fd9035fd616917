#pragma once
// OpenSSH user certificates as sshd accepts them: signed by a CA that the
// user's authorized_keys names with `cert-authority` (optionally limited by
// `principals=`) or that the server trusts for everyone (TrustedUserCAKeys,
// then a principal must be the user's name), inside their validity period,
// with only the critical options berth can honour, and not revoked.

#include "auth/authorized_keys.hpp"
#include "auth/revoked_keys.hpp"

#include <asio/ip/address.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace berth::auth {

/// What a certificate is checked against.
struct CertContext {
  std::string_view user;                                     ///< The login name.
  const std::vector<std::string>* authorized_keys = nullptr; ///< The user's lines; may be null.
  std::string_view trusted_ca_keys;     ///< Text of [sftp] trusted_user_ca_keys, or empty.
  const RevokedKeys* revoked = nullptr; ///< [sftp] revoked_keys, or null.
  asio::ip::address client;
  std::chrono::system_clock::time_point now;
};

/// Decides on a certificate blob (wire encoding) a client offered. Refused,
/// with a reason for the log, when it does not parse, is not a user
/// certificate, its CA is not trusted for this user, the CA's signature does
/// not verify, it is revoked, outside its validity period, has no principal
/// the CA may vouch for, or a critical option berth can not honour:
/// `source-address` must contain the client, `force-command` must name the
/// SFTP subsystem, any other critical option refuses it (PROTOCOL.certkeys).
/// Pure apart from the signature check; never blocks.
KeyDecision check_certificate(std::string_view cert_blob, const CertContext& ctx);

} // namespace berth::auth
