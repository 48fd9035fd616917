#include "auth/certificates.hpp"

#include "auth/cert_samples.hpp"
#include "auth/ssh_wire.hpp"

#include <gtest/gtest.h>

namespace berth::auth {
namespace {

using namespace test;

std::string raw(const std::string& b64) {
  return decode_base64(b64).value_or(std::string());
}

const auto kInside = std::chrono::system_clock::from_time_t(1'800'000'000); // 2027-01-15

struct Fixture {
  std::vector<std::string> lines;
  std::string cas;
  asio::ip::address client = asio::ip::make_address("127.0.0.1");
  std::chrono::system_clock::time_point now = kInside;
  const RevokedKeys* revoked = nullptr;
  KeyDecision check(const std::string& cert_b64, std::string_view user = "alice") const {
    return check_certificate(raw(cert_b64), CertContext{user, &lines, cas, revoked, client, now});
  }
};

TEST(Certificates, CertAuthorityLine) {
  Fixture f;
  f.lines = {"cert-authority ssh-ed25519 " + kCaEd25519};
  EXPECT_TRUE(f.check(kCertEd25519).allowed);
  EXPECT_TRUE(f.check(kCertEd25519, "ops").allowed);
  EXPECT_EQ(f.check(kCertEd25519, "bob").reason.find("no certificate principal"), 0u);
  EXPECT_EQ(f.check(kCertEcdsa).reason, "certificate signed by an untrusted CA");
  f.lines = {"ssh-ed25519 " + kCaEd25519}; // the CA as a plain key is no authority
  EXPECT_EQ(f.check(kCertEd25519).reason, "certificate signed by an untrusted CA");
  f.lines = {"cert-authority,from=\"10.0.0.0/8\" ssh-ed25519 " + kCaEd25519};
  EXPECT_EQ(f.check(kCertEd25519).reason.find("certificate authority line: client address"), 0u);
}

TEST(Certificates, PrincipalsOption) {
  Fixture f;
  f.lines = {"cert-authority,principals=\"ops,web\" ssh-ed25519 " + kCaEd25519};
  EXPECT_TRUE(f.check(kCertEd25519, "someone").allowed); // "ops" is listed
  f.lines = {"cert-authority,principals=\"web\" ssh-ed25519 " + kCaEd25519};
  EXPECT_FALSE(f.check(kCertEd25519).allowed); // not even the user's own name
}

TEST(Certificates, TrustedCaFileNeedsTheUserName) {
  Fixture f;
  f.cas = "# CAs\necdsa-sha2-nistp256 " + kCaEcdsa + "\nssh-rsa " + kCaRsa + "\n";
  EXPECT_TRUE(f.check(kCertEcdsa).allowed);
  EXPECT_TRUE(f.check(kCertRsa).allowed);
  EXPECT_FALSE(f.check(kCertEcdsa, "ops").allowed);
  EXPECT_FALSE(f.check(kCertEd25519).allowed);
}

TEST(Certificates, ValidityPeriod) {
  Fixture f;
  f.lines = {"cert-authority ssh-ed25519 " + kCaEd25519};
  f.now = std::chrono::system_clock::from_time_t(1'767'225'599);
  EXPECT_EQ(f.check(kCertEd25519).reason.find("certificate not yet valid"), 0u);
  f.now = std::chrono::system_clock::from_time_t(1'767'225'600);
  EXPECT_TRUE(f.check(kCertEd25519).allowed);
  f.now = std::chrono::system_clock::from_time_t(1'830'297'600); // 2028-01-01
  EXPECT_EQ(f.check(kCertEd25519).reason.find("certificate expired"), 0u);
}

TEST(Certificates, CriticalOptions) {
  Fixture f;
  f.lines = {"cert-authority ssh-ed25519 " + kCaEd25519};
  f.client = asio::ip::make_address("10.1.2.3"); // outside source-address=127.0.0.0/8
  EXPECT_EQ(f.check(kCertEd25519).reason.find("client address not in certificate source-address"),
            0u);
  f.client = asio::ip::make_address("::ffff:127.0.0.9");
  EXPECT_TRUE(f.check(kCertEd25519).allowed);
}

TEST(Certificates, RefusesHostCertsTamperingAndRevoked) {
  Fixture f;
  f.lines = {"cert-authority ssh-ed25519 " + kCaEd25519};
  EXPECT_EQ(f.check(kHostCert).reason, "not a user certificate");
  std::string blob = raw(kCertEd25519);
  blob[blob.size() / 3] ^= 1;
  EXPECT_FALSE(check_certificate(blob, CertContext{"alice", &f.lines, "", nullptr, f.client, f.now})
                   .allowed);
  EXPECT_EQ(f.check("!!").reason, "malformed certificate");
  std::string why;
  auto krl = RevokedKeys::parse(raw(kKrl), why);
  ASSERT_TRUE(krl);
  f.revoked = &*krl;
  EXPECT_EQ(f.check(kCertEd25519).reason.find("certified key is revoked"), 0u);
}

} // namespace
} // namespace berth::auth
