#pragma once
// OpenSSH authorized_keys lines (sshd(8) "AUTHORIZED_KEYS FILE FORMAT"):
// `[options] keytype base64-key [comment]`. Options that limit where or when
// a key works are honoured; options berth can not honour refuse the key
// rather than grant more than the line says.

#include "core/result.hpp"

#include <asio/ip/address.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::auth {

/// One parsed line.
struct AuthorizedKey {
  std::string type;                ///< "ssh-ed25519", "ecdsa-sha2-nistp256", ...
  std::string blob;                ///< The base64 key, as written.
  std::optional<std::string> from; ///< from="pattern-list": where the client may be.
  std::optional<std::chrono::system_clock::time_point> expires; ///< expiry-time=.
  bool cert_authority = false;           ///< cert-authority: the key is a CA for certificates.
  std::optional<std::string> principals; ///< principals="a,b" (cert-authority lines only).
  std::string refusal; ///< Non-empty: an option berth can not honour; the key never matches.
};

/// Parses one line. nullopt for blank lines, comments and lines that are not
/// a key at all (bad quoting, no key type, unknown option: sshd skips those too).
std::optional<AuthorizedKey> parse_authorized_key(std::string_view line);

/// sshd's from="..." rule: a comma-separated list of address patterns (`*` and
/// `?` wildcards on the address text, or CIDR `10.0.0.0/8`, `2001:db8::/32`),
/// each optionally negated with `!`. True when some pattern matches and no
/// negated one does. Host names are not looked up (sshd's UseDNS=no).
bool from_allows(std::string_view patterns, const asio::ip::address& client);

/// A forced command that still serves SFTP: `internal-sftp` or an sftp-server
/// path, with or without arguments.
bool is_sftp_command(std::string_view cmd);

/// What checking a client's key against a user's lines decided.
struct KeyDecision {
  bool allowed = false;
  std::string reason; ///< Why a matching line did not allow it (for the log), else empty.
};

/// Looks for `type`/`blob` among `lines` and applies the matching line's
/// options. cert-authority lines never match a plain key (as in sshd).
/// The options of one matching line that apply to any key: its refusal,
/// from= and expiry-time=. Empty when they allow `client` at `now`.
std::string line_refusal(const AuthorizedKey& key, const asio::ip::address& client,
                         std::chrono::system_clock::time_point now);

KeyDecision check_authorized_keys(const std::vector<std::string>& lines, std::string_view type,
                                  std::string_view blob, const asio::ip::address& client,
                                  std::chrono::system_clock::time_point now);

} // namespace berth::auth
