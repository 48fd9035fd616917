#include "auth/password.hpp"

#include <crypt.h>
#include <gtest/gtest.h>

#include <cctype>
#include <memory>
#include <string>

namespace berth::auth {
namespace {

class PasswordTest : public ::testing::Test {
protected:
  void SetUp() override { init_crypto(); }
};

// A crypt(3) hash of `password` with a fresh salt of `prefix`'s method.
std::string crypt_hash(const char* prefix, const std::string& password) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  if (crypt_gensalt_rn(prefix, 0, nullptr, 0, salt, sizeof salt) == nullptr)
    return {};
  auto data = std::make_unique<crypt_data>();
  const char* out = crypt_r(password.c_str(), salt, data.get());
  return out == nullptr || out[0] == '*' ? std::string() : std::string(out);
}

TEST_F(PasswordTest, Argon2idRoundTrip) {
  const std::string hash = hash_password("correct horse");
  EXPECT_TRUE(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$")) << hash;
  EXPECT_TRUE(is_supported_hash(hash));
  EXPECT_TRUE(verify_hash(hash, "correct horse"));
  EXPECT_FALSE(verify_hash(hash, "correct horsE"));
  EXPECT_FALSE(verify_hash(hash, ""));
}

TEST_F(PasswordTest, Argon2idCostIsEncoded) {
  const std::string hash = hash_password("pw", HashCost{8 * 1024, 3});
  EXPECT_TRUE(hash.starts_with("$argon2id$v=19$m=8192,t=3,p=1$")) << hash;
  EXPECT_TRUE(verify_hash(hash, "pw"));
  EXPECT_FALSE(verify_hash(hash, "pW"));
  // Two hashes of one password differ (fresh salt).
  EXPECT_NE(hash_password("pw", HashCost{8 * 1024, 1}), hash_password("pw", HashCost{8 * 1024, 1}));
}

TEST_F(PasswordTest, Sha512CryptVerifies) {
  const std::string hash = crypt_hash("$6$", "s3cret");
  ASSERT_TRUE(hash.starts_with("$6$")) << hash;
  EXPECT_TRUE(is_supported_hash(hash));
  EXPECT_TRUE(verify_hash(hash, "s3cret"));
  EXPECT_FALSE(verify_hash(hash, "s3creT"));
  EXPECT_FALSE(verify_hash(hash, ""));
  // crypt(3) reads C strings: a NUL must not cut the password short.
  EXPECT_FALSE(verify_hash(hash, std::string("s3cret\0more", 11)));
}

TEST_F(PasswordTest, YescryptVerifies) {
  const std::string hash = crypt_hash("$y$", "s3cret");
  ASSERT_TRUE(hash.starts_with("$y$")) << hash;
  EXPECT_TRUE(is_supported_hash(hash));
  EXPECT_TRUE(verify_hash(hash, "s3cret"));
  EXPECT_FALSE(verify_hash(hash, "s3cre"));
}

TEST_F(PasswordTest, Sha256CryptVerifies) {
  const std::string hash = crypt_hash("$5$", "pw");
  ASSERT_TRUE(hash.starts_with("$5$")) << hash;
  EXPECT_TRUE(verify_hash(hash, "pw"));
  EXPECT_FALSE(verify_hash(hash, "pw2"));
}

TEST_F(PasswordTest, BcryptVerifiesWhenLibxcryptHasIt) {
  const std::string hash = crypt_hash("$2b$", "pw");
  if (hash.empty())
    GTEST_SKIP() << "libxcrypt without bcrypt";
  EXPECT_TRUE(is_supported_hash(hash));
  EXPECT_TRUE(verify_hash(hash, "pw"));
  EXPECT_FALSE(verify_hash(hash, "pw2"));
}

TEST_F(PasswordTest, DigestMustMatchExactly) {
  std::string hash = crypt_hash("$6$", "pw");
  ASSERT_FALSE(hash.empty());
  hash.back() = hash.back() == 'a' ? 'b' : 'a';
  EXPECT_FALSE(verify_hash(hash, "pw"));
}

TEST_F(PasswordTest, GarbageIsRefused) {
  const std::string six = crypt_hash("$6$", "pw");
  const std::string argon = hash_password("pw");
  for (const std::string& h : {
           std::string(),
           std::string("pw"),
           std::string("$"),
           std::string("$$$$$$"),
           std::string("$6$"),
           std::string("$6$salt$"),
           std::string("$6$salt$short"),
           six.substr(0, six.size() - 1),
           six + "x",
           std::string("$y$"),
           std::string("$y$j9T$"),
           std::string("$2b$04$"),
           std::string("$1$ek26gfc9$YDZuLR8c8K8Le1nBjm8mW/"), // md5crypt: not accepted
           std::string("gaxDyoamrjlO6"),                      // DES crypt: not accepted
           std::string("$argon2id$"),
           std::string("$argon2id$v=19$m=19456,t=2,p=1$"),
           // 43 base64 characters cut to 41: never a whole number of bytes.
           // (Cut to 38, one salt in 16 leaves a valid 28-byte hash.)
           argon.substr(0, argon.size() - 2),
           std::string("$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"),
           std::string("$6$\0salt$", 9),
           std::string(4096, '$'),
           std::string("$6$") + std::string(1000, 'a') + "$" + std::string(86, 'b'),
       }) {
    EXPECT_FALSE(is_supported_hash(h)) << h;
    EXPECT_FALSE(verify_hash(h, "pw")) << h;
    EXPECT_FALSE(verify_hash(h, "")) << h;
  }
}

TEST_F(PasswordTest, RandomPasswordAlphabet) {
  const std::string pw = random_password(32);
  ASSERT_EQ(pw.size(), 32u);
  for (char c : pw)
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << pw;
}

} // namespace
} // namespace berth::auth
