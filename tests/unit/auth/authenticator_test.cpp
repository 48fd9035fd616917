#include "auth/authenticator.hpp"

#include "auth/password.hpp"
#include "store/static/static_store.hpp"
#include "support/run_task.hpp"

#include <gtest/gtest.h>

namespace berth::auth {
namespace {

store::UserRecord user(std::string name, std::string password, std::string hash,
                       std::vector<std::string> keys = {}) {
  store::UserRecord u;
  u.name = std::move(name);
  u.password = std::move(password);
  u.password_hash = std::move(hash);
  u.home = "/tmp";
  u.authorized_keys = std::move(keys);
  return u;
}

class AuthenticatorTest : public ::testing::Test {
protected:
  void SetUp() override { init_crypto(); }
  core::Result<Account> login(std::vector<store::UserRecord> users, const std::string& name,
                              const std::string& password) {
    Authenticator a(std::make_shared<store::StaticStore>(std::move(users)), 1);
    return test::run_task(a.authenticate(name, password));
  }
};

TEST_F(AuthenticatorTest, PlainPasswordMatchesExactly) {
  std::vector<store::UserRecord> users{user("alice", "s3cret", "")};
  EXPECT_TRUE(login(users, "alice", "s3cret"));
  EXPECT_EQ(login(users, "alice", "s3cre").error(), Errc::bad_credentials);
  EXPECT_EQ(login(users, "alice", "").error(), Errc::bad_credentials);
  EXPECT_EQ(login(users, "bob", "s3cret").error(), Errc::bad_credentials);
}

TEST_F(AuthenticatorTest, Argon2idHashVerifies) {
  std::vector<store::UserRecord> users{user("alice", "", hash_password("pw"))};
  EXPECT_TRUE(login(users, "alice", "pw"));
  EXPECT_EQ(login(users, "alice", "PW").error(), Errc::bad_credentials);
}

// Regression: a user with only authorized keys must not log in with an empty
// password (FTP sends "PASS " happily).
TEST_F(AuthenticatorTest, KeyOnlyUserHasNoPassword) {
  std::vector<store::UserRecord> users{
      user("keyonly", "", "", {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample k"})};
  EXPECT_EQ(login(users, "keyonly", "").error(), Errc::bad_credentials);
  EXPECT_EQ(login(users, "keyonly", "anything").error(), Errc::bad_credentials);
}

} // namespace
} // namespace berth::auth
