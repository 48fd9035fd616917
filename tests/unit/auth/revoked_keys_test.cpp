#include "auth/revoked_keys.hpp"

#include "auth/cert_samples.hpp"
#include "auth/ssh_wire.hpp"

#include <gtest/gtest.h>

namespace berth::auth {
namespace {

using namespace test;

std::string raw(const std::string& b64) {
  return decode_base64(b64).value_or(std::string());
}

// A certificate of kCaEd25519 with another serial and key id, for a key
// that kKrl does not revoke (the RSA CA's, as good as any).
SshCert cert_with(std::uint64_t serial, std::string key_id) {
  auto c = parse_ssh_cert(raw(kCertEd25519));
  EXPECT_TRUE(c);
  c->serial = serial;
  c->key_id = std::move(key_id);
  c->key_blob = raw(kCaRsa);
  return *c;
}

TEST(RevokedKeys, KrlSerialsBitmapKeyIdsAndExplicitKeys) {
  std::string why;
  auto krl = RevokedKeys::parse(raw(kKrl), why);
  ASSERT_TRUE(krl) << why;
  const std::string blob = raw(kCertEd25519);
  // ssh-keygen wrote serials 7 and 10-20 as one bitmap.
  for (std::uint64_t s : {7, 10, 15, 20})
    EXPECT_NE(krl->cert_revoked(cert_with(s, "x"), blob), "") << s;
  for (std::uint64_t s : {0, 6, 8, 9, 21, 1000})
    EXPECT_EQ(krl->cert_revoked(cert_with(s, "x"), blob).find("serial"), std::string::npos) << s;
  EXPECT_EQ(krl->cert_revoked(cert_with(9, "badid"), blob), "certificate key id is revoked");
  // The user's plain key is revoked explicitly, and with it its certificates.
  EXPECT_TRUE(krl->key_revoked(raw(kUserKey)));
  EXPECT_FALSE(krl->key_revoked(raw(kCaEcdsa)));
  auto real = parse_ssh_cert(blob);
  ASSERT_TRUE(real);
  real->serial = 9;
  EXPECT_EQ(krl->cert_revoked(*real, blob), "certified key is revoked");
}

TEST(RevokedKeys, KrlSectionsAreForTheirCaOnly) {
  std::string why;
  auto krl = RevokedKeys::parse(raw(kKrl), why);
  ASSERT_TRUE(krl);
  auto c = parse_ssh_cert(raw(kCertEcdsa)); // another CA, same serial range
  ASSERT_TRUE(c);
  c->serial = 7;
  c->key_blob = raw(kCaRsa); // not the revoked user key
  EXPECT_EQ(krl->cert_revoked(*c, raw(kCertEcdsa)), "");
}

TEST(RevokedKeys, RefusesBrokenKrls) {
  const std::string krl = raw(kKrl);
  std::string why;
  // Every truncation past the magic fails rather than revoking less.
  for (std::size_t n = 8; n < krl.size(); ++n) {
    auto r = RevokedKeys::parse(krl.substr(0, n), why);
    if (r) // a cut exactly between sections is a shorter, valid list
      continue;
    EXPECT_FALSE(why.empty());
  }
  std::string unknown = krl;
  unknown += std::string("\x07\x00\x00\x00\x00", 5); // section type 7
  EXPECT_FALSE(RevokedKeys::parse(unknown, why));
  EXPECT_EQ(why, "unknown KRL section type 7");
  std::string signature = krl + std::string("\x04\x00\x00\x00\x00\x00\x00\x00\x00", 9);
  EXPECT_FALSE(RevokedKeys::parse(signature, why));
  // A critical extension berth does not know.
  std::string ext = ssh_string("x@example.com") + std::string("\x01", 1) + ssh_string("");
  EXPECT_FALSE(RevokedKeys::parse(krl + "\xff" + ssh_string(ext), why));
  ext[ext.size() - 5] = '\0'; // the same, not critical: ignored
  EXPECT_TRUE(RevokedKeys::parse(krl + "\xff" + ssh_string(ext), why)) << why;
  EXPECT_FALSE(RevokedKeys::parse(std::string(kMaxRevokedKeysSize + 1, '#'), why));
}

TEST(RevokedKeys, PlainList) {
  std::string why;
  auto list = RevokedKeys::parse("# comment\n\nssh-ed25519 " + kUserKey + " user\r\n", why);
  ASSERT_TRUE(list) << why;
  EXPECT_TRUE(list->key_revoked(raw(kUserKey)));
  EXPECT_FALSE(list->key_revoked(raw(kCaEd25519)));
  EXPECT_FALSE(RevokedKeys::parse("ssh-rsa " + kUserKey + "\n", why)); // type mismatch
  EXPECT_EQ(why, "line 1 is not a public key");
  EXPECT_FALSE(RevokedKeys::parse("garbage\n", why));
  auto ca = RevokedKeys::parse("ssh-ed25519 " + kCaEd25519 + "\n", why);
  ASSERT_TRUE(ca);
  EXPECT_EQ(ca->cert_revoked(cert_with(1, "x"), raw(kCertEd25519)),
            "certificate authority key is revoked");
  auto cert = RevokedKeys::parse("ssh-ed25519-cert-v01@openssh.com " + kCertEd25519 + "\n", why);
  ASSERT_TRUE(cert);
  EXPECT_EQ(cert->cert_revoked(cert_with(7, "x"), raw(kCertEd25519)), "certificate is revoked");
}

} // namespace
} // namespace berth::auth
