#include "auth/ssh_cert.hpp"

#include "auth/ssh_wire.hpp"

#include <array>

namespace berth::auth {
namespace {

// How the certified key is laid out after the nonce, by certificate type.
enum class KeyShape { rsa, ecdsa, ed25519 };

struct CertKind {
  std::string_view cert_type;
  std::string_view key_type;
  KeyShape shape;
};

constexpr std::array<CertKind, 5> kKinds = {{
    {"ssh-ed25519-cert-v01@openssh.com", "ssh-ed25519", KeyShape::ed25519},
    {"ecdsa-sha2-nistp256-cert-v01@openssh.com", "ecdsa-sha2-nistp256", KeyShape::ecdsa},
    {"ecdsa-sha2-nistp384-cert-v01@openssh.com", "ecdsa-sha2-nistp384", KeyShape::ecdsa},
    {"ecdsa-sha2-nistp521-cert-v01@openssh.com", "ecdsa-sha2-nistp521", KeyShape::ecdsa},
    {"ssh-rsa-cert-v01@openssh.com", "ssh-rsa", KeyShape::rsa},
}};

const CertKind* kind_of(std::string_view type) {
  for (const auto& k : kKinds)
    if (k.cert_type == type)
      return &k;
  return nullptr;
}

// A string that holds (name, data) pairs (critical options, extensions).
bool read_option_list(std::string_view packed, std::vector<CertOption>& out) {
  SshReader r(packed);
  while (!r.done()) {
    auto name = r.string();
    auto data = r.string();
    if (!name || !data || name->empty())
      return false;
    out.push_back(CertOption{std::string(*name), std::string(*data)});
  }
  return true;
}

} // namespace

bool is_cert_type(std::string_view type) {
  return kind_of(type) != nullptr;
}

core::Result<SshCert> parse_ssh_cert(std::string_view blob) {
  auto bad = core::unexpected(std::make_error_code(std::errc::invalid_argument));
  if (blob.size() > kMaxCertSize)
    return bad;
  SshReader r(blob);
  auto type = r.string();
  const CertKind* kind = type ? kind_of(*type) : nullptr;
  if (kind == nullptr || !r.string()) // nonce
    return bad;
  SshCert c;
  c.type = std::string(*type);
  const std::size_t key_start = r.offset();
  switch (kind->shape) {
  case KeyShape::rsa: // mpint e, mpint n
    if (!r.string() || !r.string())
      return bad;
    break;
  case KeyShape::ecdsa: { // string curve, string point
    auto curve = r.string();
    if (!curve || !kind->key_type.ends_with(*curve) || !r.string())
      return bad;
    break;
  }
  case KeyShape::ed25519: {
    auto pk = r.string();
    if (!pk || pk->size() != 32)
      return bad;
    break;
  }
  }
  // The plain key's blob is its type followed by the same fields.
  c.key_blob = ssh_string(kind->key_type);
  c.key_blob.append(blob.substr(key_start, r.offset() - key_start));
  auto serial = r.u64();
  auto cert_type = r.u32();
  auto key_id = r.string();
  auto principals = r.string();
  auto after = r.u64();
  auto before = r.u64();
  auto critical = r.string();
  auto extensions = r.string();
  auto reserved = r.string();
  auto ca_key = r.string();
  if (!r.ok())
    return bad;
  c.signed_size = r.offset();
  auto signature = r.string();
  if (!signature || !r.done())
    return bad;
  c.serial = *serial;
  c.cert_type = *cert_type;
  c.key_id = std::string(*key_id);
  c.valid_after = *after;
  c.valid_before = *before;
  c.ca_key = std::string(*ca_key);
  c.signature = std::string(*signature);
  (void)reserved; // PROTOCOL.certkeys: currently unused, ignored
  if (!for_each_string(*principals, [&](std::string_view p) { c.principals.emplace_back(p); }) ||
      !read_option_list(*critical, c.critical_options) ||
      !read_option_list(*extensions, c.extensions) || c.ca_key.empty())
    return bad;
  return c;
}

} // namespace berth::auth
