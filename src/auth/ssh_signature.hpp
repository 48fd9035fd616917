#pragma once
// Verifying an SSH signature (RFC 4253 §6.6, RFC 8332, RFC 5656, RFC 8709)
// with OpenSSL: how a certificate's CA signature is checked.

#include <string_view>

namespace berth::auth {

/// True when `signature` (wire: string algorithm, string blob) is a valid
/// signature of `data` by `key` (a plain public key's wire blob). Keys:
/// ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa of at least 1024 bits
/// with rsa-sha2-256 or rsa-sha2-512 (SHA-1 `ssh-rsa` signatures are
/// refused, as OpenSSH's CASignatureAlgorithms default does). False for any
/// other key or algorithm and for malformed input. Does not block.
bool verify_ssh_signature(std::string_view key, std::string_view signature, std::string_view data);

} // namespace berth::auth
