#include "auth/ssh_cert.hpp"

#include "auth/cert_samples.hpp"
#include "auth/ssh_signature.hpp"
#include "auth/ssh_wire.hpp"

#include <gtest/gtest.h>

namespace berth::auth {
namespace {

using namespace test;

std::string raw(const std::string& b64) {
  auto r = decode_base64(b64);
  EXPECT_TRUE(r);
  return r.value_or(std::string());
}

TEST(Base64, DecodesAndRefuses) {
  EXPECT_EQ(decode_base64("aGVsbG8="), "hello");
  EXPECT_EQ(decode_base64("aGVsbG8"), "hello");
  EXPECT_EQ(decode_base64(""), "");
  EXPECT_FALSE(decode_base64("aGV sbG8="));
  EXPECT_FALSE(decode_base64("a"));
}

TEST(SshCert, ParsesEd25519UserCertificate) {
  auto c = parse_ssh_cert(raw(kCertEd25519));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->type, "ssh-ed25519-cert-v01@openssh.com");
  EXPECT_EQ(c->key_blob, raw(kUserKey));
  EXPECT_EQ(c->ca_key, raw(kCaEd25519));
  EXPECT_EQ(c->serial, 7u);
  EXPECT_EQ(c->cert_type, kUserCert);
  EXPECT_EQ(c->key_id, "alice@example");
  EXPECT_EQ(c->principals, (std::vector<std::string>{"alice", "ops"}));
  EXPECT_EQ(c->valid_after, 1767225600u); // 2026-01-01 00:00 UTC
  ASSERT_EQ(c->critical_options.size(), 2u);
  EXPECT_EQ(c->critical_options[0].name, "force-command");
  EXPECT_EQ(c->critical_options[1].name, "source-address");
  EXPECT_FALSE(c->extensions.empty()); // permit-pty and the like
}

TEST(SshCert, ParsesEcdsaRsaAndHostCertificates) {
  auto e = parse_ssh_cert(raw(kCertEcdsa));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->ca_key, raw(kCaEcdsa));
  EXPECT_EQ(e->key_blob, raw(kUserKey));
  auto r = parse_ssh_cert(raw(kCertRsa));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->ca_key, raw(kCaRsa));
  auto h = parse_ssh_cert(raw(kHostCert));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->cert_type, 2u);
}

TEST(SshCert, RefusesEveryTruncationAndTrailingBytes) {
  const std::string blob = raw(kCertEd25519);
  for (std::size_t n = 0; n < blob.size(); ++n)
    EXPECT_FALSE(parse_ssh_cert(blob.substr(0, n))) << n;
  EXPECT_FALSE(parse_ssh_cert(blob + "x"));
  EXPECT_FALSE(parse_ssh_cert(raw(kUserKey))); // a plain key is no certificate
  EXPECT_FALSE(parse_ssh_cert(std::string(kMaxCertSize + 1, 'a')));
}

TEST(SshSignature, VerifiesEachCaTypeAndRefusesTampering) {
  for (const auto* b64 : {&kCertEd25519, &kCertEcdsa, &kCertRsa}) {
    const std::string blob = raw(*b64);
    auto c = parse_ssh_cert(blob);
    ASSERT_TRUE(c);
    const std::string data = blob.substr(0, c->signed_size);
    EXPECT_TRUE(verify_ssh_signature(c->ca_key, c->signature, data));
    std::string changed = data;
    changed[changed.size() / 2] ^= 1;
    EXPECT_FALSE(verify_ssh_signature(c->ca_key, c->signature, changed));
    EXPECT_FALSE(verify_ssh_signature(raw(kUserKey), c->signature, data)); // another key
    EXPECT_FALSE(verify_ssh_signature(c->ca_key, c->signature.substr(1), data));
  }
}

} // namespace
} // namespace berth::auth
