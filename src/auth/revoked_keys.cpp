#include "auth/revoked_keys.hpp"

#include "auth/ssh_wire.hpp"

#include <openssl/sha.h>

namespace berth::auth {
namespace {

constexpr std::string_view kKrlMagic{"SSHKRL\n\0", 8};
constexpr std::uint32_t kKrlFormatVersion = 1;

enum : std::uint8_t {
  section_certificates = 1,
  section_explicit_key = 2,
  section_sha1 = 3,
  section_signature = 4,
  section_sha256 = 5,
  section_extension = 255,
  cert_serial_list = 0x20,
  cert_serial_range = 0x21,
  cert_serial_bitmap = 0x22,
  cert_key_id = 0x23,
  cert_extension = 0x39,
};

bool fail(std::string& reason, std::string why) {
  reason = std::move(why);
  return false;
}

// An extension (KRL section or certificate subsection): a critical one berth
// does not know makes the list unreadable (PROTOCOL.krl §2.5, §5).
bool extension_ok(std::string_view data, std::string& reason) {
  SshReader r(data);
  auto name = r.string();
  auto critical = r.byte();
  if (!name || !critical || !r.string() || !r.done())
    return fail(reason, "malformed extension");
  if (*critical != 0)
    return fail(reason, "unknown critical extension \"" + std::string(*name) + "\"");
  return true;
}

// Every string of a section into `out`.
bool read_strings(std::string_view data, std::set<std::string>& out) {
  return for_each_string(data, [&](std::string_view s) { out.emplace(s); });
}

std::string sha1(std::string_view s) {
  std::string out(SHA_DIGEST_LENGTH, '\0');
  SHA1(reinterpret_cast<const unsigned char*>(s.data()), s.size(),
       reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::string sha256(std::string_view s) {
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(),
         reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

std::string_view next_word(std::string_view& s) {
  while (!s.empty() && is_blank(s.front()))
    s.remove_prefix(1);
  std::size_t n = 0;
  while (n < s.size() && !is_blank(s[n]))
    ++n;
  std::string_view w = s.substr(0, n);
  s.remove_prefix(n);
  return w;
}

} // namespace

core::Result<RevokedKeys> RevokedKeys::parse(std::string_view file, std::string& reason) {
  RevokedKeys out;
  bool ok = false;
  if (file.size() > kMaxRevokedKeysSize)
    ok = fail(reason, "larger than 16 MiB");
  else if (file.starts_with(kKrlMagic))
    ok = parse_krl(file, out, reason);
  else
    ok = parse_text(file, out, reason);
  if (!ok)
    return core::unexpected(std::make_error_code(std::errc::invalid_argument));
  return out;
}

bool RevokedKeys::parse_krl(std::string_view file, RevokedKeys& out, std::string& reason) {
  SshReader r(file);
  (void)r.u64(); // magic, checked by the caller
  auto version = r.u32();
  (void)r.u64();    // krl_version
  (void)r.u64();    // generated_date
  (void)r.u64();    // flags: none defined
  (void)r.string(); // reserved
  (void)r.string(); // comment
  if (!r.ok())
    return fail(reason, "truncated KRL header");
  if (*version != kKrlFormatVersion)
    return fail(reason, "KRL format version " + std::to_string(*version) + " is not 1");
  while (!r.done()) {
    auto type = r.byte();
    auto data = r.string();
    if (!type || !data)
      return fail(reason, "truncated KRL section");
    bool ok = true;
    switch (*type) {
    case section_certificates:
      ok = parse_cert_section(*data, out, reason);
      break;
    case section_explicit_key:
      ok = read_strings(*data, out.keys_) || fail(reason, "malformed explicit key section");
      break;
    case section_sha1:
      ok = read_strings(*data, out.sha1_) || fail(reason, "malformed SHA-1 section");
      break;
    case section_sha256:
      ok = read_strings(*data, out.sha256_) || fail(reason, "malformed SHA-256 section");
      break;
    case section_extension:
      ok = extension_ok(*data, reason);
      break;
    case section_signature:
      return fail(reason, "KRL signatures are not supported (as in OpenSSH 9.4)");
    default:
      return fail(reason, "unknown KRL section type " + std::to_string(*type));
    }
    if (!ok)
      return false;
  }
  return true;
}

bool RevokedKeys::parse_cert_section(std::string_view data, RevokedKeys& out, std::string& reason) {
  SshReader r(data);
  auto ca_key = r.string();
  if (!ca_key || !r.string()) // reserved
    return fail(reason, "malformed certificate section");
  CertSection s;
  s.ca_key = std::string(*ca_key);
  while (!r.done()) {
    auto type = r.byte();
    auto sub = r.string();
    if (!type || !sub)
      return fail(reason, "truncated certificate subsection");
    SshReader q(*sub);
    switch (*type) {
    case cert_serial_list:
      while (!q.done()) {
        auto serial = q.u64();
        if (!serial)
          return fail(reason, "malformed serial list");
        s.ranges.emplace_back(*serial, *serial);
      }
      break;
    case cert_serial_range: {
      auto lo = q.u64();
      auto hi = q.u64();
      if (!lo || !hi || !q.done() || *lo > *hi)
        return fail(reason, "malformed serial range");
      s.ranges.emplace_back(*lo, *hi);
      break;
    }
    case cert_serial_bitmap: {
      auto offset = q.u64();
      auto bits = q.string(); // an mpint: big-endian, bit 0 the last byte's lowest
      if (!offset || !bits || !q.done())
        return fail(reason, "malformed serial bitmap");
      s.bitmaps.emplace_back(*offset, std::string(*bits));
      break;
    }
    case cert_key_id:
      if (!read_strings(*sub, s.key_ids))
        return fail(reason, "malformed key id section");
      break;
    case cert_extension:
      if (!extension_ok(*sub, reason))
        return false;
      break;
    default:
      return fail(reason, "unknown certificate subsection type " + std::to_string(*type));
    }
  }
  out.certs_.push_back(std::move(s));
  return true;
}

bool RevokedKeys::parse_text(std::string_view file, RevokedKeys& out, std::string& reason) {
  std::size_t line_no = 0;
  while (!file.empty()) {
    auto nl = file.find('\n');
    std::string_view line = file.substr(0, nl);
    file = nl == std::string_view::npos ? std::string_view() : file.substr(nl + 1);
    ++line_no;
    std::string_view rest = line;
    std::string_view type = next_word(rest);
    if (type.empty() || type.front() == '#')
      continue;
    auto blob = decode_base64(next_word(rest));
    SshReader r(blob ? std::string_view(*blob) : std::string_view());
    auto inner = r.string();
    if (!blob || !inner || *inner != type)
      return fail(reason, "line " + std::to_string(line_no) + " is not a public key");
    out.keys_.insert(std::move(*blob));
  }
  return true;
}

bool RevokedKeys::key_revoked(std::string_view key_blob) const {
  const std::string k(key_blob);
  return keys_.count(k) != 0 || (!sha1_.empty() && sha1_.count(sha1(k)) != 0) ||
         (!sha256_.empty() && sha256_.count(sha256(k)) != 0);
}

bool RevokedKeys::serial_revoked(const CertSection& s, std::uint64_t serial) const {
  for (const auto& [lo, hi] : s.ranges)
    if (serial >= lo && serial <= hi)
      return true;
  for (const auto& [offset, bits] : s.bitmaps) {
    if (serial < offset)
      continue;
    const std::uint64_t n = serial - offset;
    if (n / 8 >= bits.size())
      continue;
    const auto byte = static_cast<unsigned char>(bits[bits.size() - 1 - n / 8]);
    if ((byte >> (n % 8)) & 1u)
      return true;
  }
  return false;
}

std::string RevokedKeys::cert_revoked(const SshCert& cert, std::string_view cert_blob) const {
  if (key_revoked(cert.ca_key))
    return "certificate authority key is revoked";
  if (key_revoked(cert.key_blob))
    return "certified key is revoked";
  if (keys_.count(std::string(cert_blob)) != 0)
    return "certificate is revoked";
  for (const auto& s : certs_) {
    if (!s.ca_key.empty() && s.ca_key != cert.ca_key)
      continue;
    // sshd: serial 0 means "no serial" and is never revoked by serial.
    if (cert.serial != 0 && serial_revoked(s, cert.serial))
      return "certificate serial " + std::to_string(cert.serial) + " is revoked";
    if (s.key_ids.count(cert.key_id) != 0)
      return "certificate key id is revoked";
  }
  return {};
}

} // namespace berth::auth
