#include "auth/certificates.hpp"

#include "auth/ssh_signature.hpp"
#include "auth/ssh_wire.hpp"
#include "core/cidr.hpp"
#include "core/log.hpp"

#include <algorithm>
#include <optional>

namespace berth::auth {
namespace {

KeyDecision refuse(std::string reason) {
  return KeyDecision{false, std::move(reason)};
}

std::vector<std::string> split_commas(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    auto comma = list.find(',');
    out.emplace_back(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  return out;
}

bool names_ca(const AuthorizedKey& key, std::string_view ca_key) {
  auto blob = decode_base64(key.blob);
  return blob && *blob == ca_key;
}

// Who the CA may vouch for here: the principals= list of the user's
// cert-authority line, or the user's own name.
struct Authority {
  std::vector<std::string> principals;
  std::string refusal; ///< Non-empty: the matching line's options refuse.
};

// The first trusting source of `ca_key`: the user's cert-authority lines,
// then the server-wide CA file. nullopt when neither names the CA.
std::optional<Authority> find_authority(std::string_view ca_key, const CertContext& ctx) {
  std::optional<Authority> found;
  if (ctx.authorized_keys != nullptr) {
    for (const auto& line : *ctx.authorized_keys) {
      auto key = parse_authorized_key(line);
      if (!key || !key->cert_authority || !names_ca(*key, ca_key))
        continue;
      Authority a;
      a.refusal = line_refusal(*key, ctx.client, ctx.now);
      a.principals = key->principals ? split_commas(*key->principals)
                                     : std::vector<std::string>{std::string(ctx.user)};
      if (a.refusal.empty())
        return a;
      found = std::move(a); // another line may name the CA with other options
    }
  }
  std::string_view text = ctx.trusted_ca_keys;
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto key = parse_authorized_key(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (key && !key->cert_authority && names_ca(*key, ca_key))
      return Authority{{std::string(ctx.user)}, line_refusal(*key, ctx.client, ctx.now)};
  }
  return found;
}

// The value inside a critical option's data (itself an SSH string).
std::optional<std::string_view> option_value(const CertOption& o) {
  SshReader r(o.data);
  auto v = r.string();
  if (!v || !r.done())
    return std::nullopt;
  return v;
}

std::string check_critical_options(const SshCert& cert, const asio::ip::address& client) {
  bool seen_force = false, seen_source = false;
  for (const auto& o : cert.critical_options) {
    auto value = option_value(o);
    if (o.name == "force-command") {
      if (seen_force || !value)
        return "malformed force-command";
      seen_force = true;
      if (!is_sftp_command(*value))
        return "certificate force-command \"" + core::printable(*value) + "\" is not sftp";
    } else if (o.name == "source-address") {
      if (seen_source || !value)
        return "malformed source-address";
      seen_source = true;
      std::string bad;
      auto list = core::CidrList::parse(split_commas(*value), &bad);
      if (!list)
        return "certificate source-address has a bad entry \"" + core::printable(bad) + "\"";
      if (!list->contains(client))
        return "client address not in certificate source-address \"" + core::printable(*value) +
               "\"";
    } else {
      // SECURITY: PROTOCOL.certkeys — an unrecognised critical option must refuse the cert.
      return "unknown critical option \"" + core::printable(o.name) + "\"";
    }
  }
  return {};
}

} // namespace

KeyDecision check_certificate(std::string_view cert_blob, const CertContext& ctx) {
  auto parsed = parse_ssh_cert(cert_blob);
  if (!parsed)
    return refuse("malformed certificate");
  const SshCert& cert = *parsed;
  if (cert.cert_type != kUserCert)
    return refuse("not a user certificate");
  auto authority = find_authority(cert.ca_key, ctx);
  if (!authority)
    return refuse("certificate signed by an untrusted CA");
  if (!authority->refusal.empty())
    return refuse("certificate authority line: " + authority->refusal);
  // SECURITY: nothing in the certificate counts before the CA's signature does.
  if (!verify_ssh_signature(cert.ca_key, cert.signature, cert_blob.substr(0, cert.signed_size)))
    return refuse("bad CA signature on certificate");
  const std::string id =
      " (id \"" + core::printable(cert.key_id) + "\", serial " + std::to_string(cert.serial) + ")";
  if (ctx.revoked != nullptr) {
    auto why = ctx.revoked->cert_revoked(cert, cert_blob);
    if (!why.empty())
      return refuse(why + id);
  }
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(ctx.now.time_since_epoch());
  const auto secs = static_cast<std::uint64_t>(std::max<std::int64_t>(now.count(), 0));
  if (secs < cert.valid_after)
    return refuse("certificate not yet valid" + id);
  if (secs >= cert.valid_before)
    return refuse("certificate expired" + id);
  if (cert.principals.empty())
    return refuse("certificate has no principals" + id);
  const bool principal_ok =
      std::any_of(cert.principals.begin(), cert.principals.end(), [&](const std::string& p) {
        return std::find(authority->principals.begin(), authority->principals.end(), p) !=
               authority->principals.end();
      });
  if (!principal_ok)
    return refuse("no certificate principal allowed for this user" + id);
  auto why = check_critical_options(cert, ctx.client);
  if (!why.empty())
    return refuse(why + id);
  return KeyDecision{true, {}};
}

} // namespace berth::auth
