#include "auth/authenticator.hpp"

#include "auth/password.hpp"
#include "store/static/static_store.hpp"
#include "support/run_task.hpp"

#include <gtest/gtest.h>

#include <mutex>

namespace berth::auth {
namespace {

const asio::ip::address kClient = asio::ip::make_address("192.0.2.7");

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
    return test::run_task(a.authenticate(name, password, kClient));
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

TEST_F(AuthenticatorTest, DisabledUserIsRefusedWithTheRightPassword) {
  auto u = user("alice", "s3cret", "");
  u.disabled = true;
  EXPECT_EQ(login({u}, "alice", "s3cret").error(), Errc::disabled);
}

TEST_F(AuthenticatorTest, AllowFromLimitsWhereAUserLogsInFrom) {
  auto u = user("alice", "s3cret", "");
  u.allow_from = {"10.0.0.0/8", "192.0.2.0/24"};
  EXPECT_TRUE(login({u}, "alice", "s3cret"));
  u.allow_from = {"10.0.0.0/8"};
  EXPECT_EQ(login({u}, "alice", "s3cret").error(), Errc::address_not_allowed);
}

TEST_F(AuthenticatorTest, AccountCarriesTheUsersRules) {
  auto u = user("alice", "s3cret", "");
  u.permissions = core::Permissions::read_only();
  u.quota_bytes = 1000;
  u.quota_files = 3;
  u.max_sessions = 2;
  u.upload_rate = 4096;
  u.download_rate = 8192;
  auto a = login({u}, "alice", "s3cret");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->permissions, core::Permissions::read_only());
  EXPECT_EQ(a->quota_bytes, 1000u);
  EXPECT_EQ(a->quota_files, 3u);
  EXPECT_EQ(a->max_sessions, 2u);
  EXPECT_EQ(a->upload_rate, 4096u);
  EXPECT_EQ(a->download_rate, 8192u);
  EXPECT_FALSE(a->anonymous);
}

// A store whose record can change between logins, counting lookups.
class MutableStore final : public store::UserStore {
public:
  store::UserRecord record;
  core::Task<core::Result<store::UserRecord>> find(std::string_view name) override {
    if (name != record.name)
      co_return core::unexpected(store::Errc::no_such_user);
    co_return record;
  }
};

TEST_F(AuthenticatorTest, VerifiedLoginCacheIsDroppedWhenTheUserChanges) {
  auto s = std::make_shared<MutableStore>();
  s->record = user("alice", "", hash_password("old"));
  s->record.revision = 1;
  Authenticator a(s, 1);
  EXPECT_TRUE(test::run_task(a.authenticate("alice", "old", kClient)));
  EXPECT_TRUE(test::run_task(a.authenticate("alice", "old", kClient))); // from the cache
  EXPECT_EQ(test::run_task(a.authenticate("alice", "wrong", kClient)).error(),
            Errc::bad_credentials);
  // The password changes: the cached "old" must not work any more.
  s->record.password_hash = hash_password("new");
  s->record.revision = 2;
  EXPECT_EQ(test::run_task(a.authenticate("alice", "old", kClient)).error(), Errc::bad_credentials);
  EXPECT_TRUE(test::run_task(a.authenticate("alice", "new", kClient)));
  // Disabling the user (a new revision) takes effect although "new" is cached.
  s->record.disabled = true;
  s->record.revision = 3;
  EXPECT_EQ(test::run_task(a.authenticate("alice", "new", kClient)).error(), Errc::disabled);
}

TEST_F(AuthenticatorTest, AnonymousOnlyWhenEnabled) {
  Authenticator off(std::make_shared<store::StaticStore>(std::vector<store::UserRecord>{}), 1);
  EXPECT_FALSE(off.is_anonymous("anonymous"));
  AuthSettings settings;
  settings.anonymous.enabled = true;
  settings.anonymous.home = "/srv/pub";
  Authenticator on(std::make_shared<store::StaticStore>(std::vector<store::UserRecord>{}), 1,
                   settings);
  EXPECT_TRUE(on.is_anonymous("anonymous"));
  EXPECT_TRUE(on.is_anonymous("ftp"));
  EXPECT_FALSE(on.is_anonymous("alice"));
  auto a = on.anonymous();
  EXPECT_TRUE(a.anonymous);
  EXPECT_EQ(a.home.path(), "/srv/pub");
  EXPECT_EQ(a.permissions, core::Permissions::read_only());
}

TEST_F(AuthenticatorTest, SessionLimitPerUser) {
  auto dir = std::filesystem::temp_directory_path();
  auto u = user("alice", "s3cret", "");
  u.home = dir;
  u.max_sessions = 1;
  Authenticator a(std::make_shared<store::StaticStore>(std::vector<store::UserRecord>{u}), 1);
  auto account = test::run_task(a.authenticate("alice", "s3cret", kClient));
  ASSERT_TRUE(account);
  std::string reason;
  auto first = test::run_task(a.open_session(*account, reason));
  ASSERT_TRUE(first);
  auto second = test::run_task(a.open_session(*account, reason));
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), Errc::limit_reached);
  EXPECT_NE(reason.find("Too many sessions"), std::string::npos);
  *first = {}; // the first session ends
  EXPECT_TRUE(test::run_task(a.open_session(*account, reason)));
}

// A reload builds a new Authenticator: the connections, sessions and quotas
// of the old one's sessions must still count (issue #6).
TEST_F(AuthenticatorTest, ReloadKeepsCountsAndQuotasInTheLiveState) {
  auto live = std::make_shared<LiveState>(1);
  auto u = user("alice", "s3cret", "");
  u.home = std::filesystem::temp_directory_path();
  u.max_sessions = 1;
  u.quota_bytes = 1 << 30;
  AuthSettings settings;
  settings.limits.max_connections = 1;
  auto users = std::make_shared<store::StaticStore>(std::vector<store::UserRecord>{u});
  Authenticator before(users, live, settings, nullptr, nullptr);
  std::string reason;
  auto connection = test::run_task(before.admit(kClient, reason));
  ASSERT_TRUE(connection);
  auto account = test::run_task(before.authenticate("alice", "s3cret", kClient));
  ASSERT_TRUE(account);
  auto session = test::run_task(before.open_session(*account, reason));
  ASSERT_TRUE(session);

  Authenticator after(users, live, settings, nullptr, nullptr);
  EXPECT_EQ(test::run_task(after.admit(kClient, reason)).error(), Errc::limit_reached);
  EXPECT_EQ(test::run_task(after.open_session(*account, reason)).error(), Errc::limit_reached);
  // New limits apply to new connections; the old places still count.
  settings.limits.max_connections = 2;
  Authenticator raised(users, live, settings, nullptr, nullptr);
  EXPECT_TRUE(test::run_task(raised.admit(kClient, reason)));
  *connection = {};
  *session = {};
  EXPECT_TRUE(test::run_task(after.admit(kClient, reason)));
  auto again = test::run_task(after.open_session(*account, reason));
  ASSERT_TRUE(again);
  EXPECT_NE(again->fs, nullptr);
}

// Regression (issue 17, item 16): users with a plain `password` were answered
// without a hash, unknown users after one, so the time of a failed login told
// which names exist. Every failing path pays exactly one verification, at the
// configured cost when the user has no hash of their own.
TEST_F(AuthenticatorTest, EveryFailedLoginPaysOneHashAtTheConfiguredCost) {
  const HashCost cost{8 * 1024, 1};
  const std::string cost_text = "$m=8192,t=1,p=1$";
  std::vector<std::string> seen; // the hashes verified, in order
  std::mutex mu;
  AuthSettings settings;
  settings.hash_cost = cost;
  settings.login_cache_ttl = std::chrono::seconds(300);
  settings.verify = [&](std::string_view hash, std::string_view password) {
    std::lock_guard lock(mu);
    seen.emplace_back(hash);
    return verify_hash(hash, password);
  };
  auto plain = user("plain", "s3cret", "");
  auto hashed = user("hashed", "", hash_password("pw", cost));
  auto disabled_plain = user("offplain", "s3cret", "");
  disabled_plain.disabled = true;
  auto disabled_hashed = user("offhashed", "", hash_password("pw", cost));
  disabled_hashed.disabled = true;
  auto elsewhere = user("elsewhere", "", hash_password("pw", cost));
  elsewhere.allow_from = {"10.0.0.0/8"};
  auto keyonly = user("keyonly", "", "", {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample k"});
  Authenticator a(std::make_shared<store::StaticStore>(std::vector<store::UserRecord>{
                      plain, hashed, disabled_plain, disabled_hashed, elsewhere, keyonly}),
                  1, settings);
  auto fails_after_one_hash = [&](const std::string& name, const std::string& password,
                                  Errc expected) {
    seen.clear();
    auto r = test::run_task(a.authenticate(name, password, kClient));
    ASSERT_FALSE(r) << name;
    EXPECT_EQ(r.error(), expected) << name;
    ASSERT_EQ(seen.size(), 1u) << name;
    EXPECT_NE(seen[0].find(cost_text), std::string::npos) << name << ": " << seen[0];
  };
  fails_after_one_hash("nobody", "s3cret", Errc::bad_credentials);
  fails_after_one_hash("plain", "wrong", Errc::bad_credentials);
  fails_after_one_hash("hashed", "wrong", Errc::bad_credentials);
  fails_after_one_hash("offplain", "s3cret", Errc::disabled);
  fails_after_one_hash("offplain", "wrong", Errc::bad_credentials);
  fails_after_one_hash("offhashed", "pw", Errc::disabled);
  fails_after_one_hash("offhashed", "wrong", Errc::bad_credentials);
  fails_after_one_hash("keyonly", "", Errc::bad_credentials);
  fails_after_one_hash("elsewhere", "pw", Errc::address_not_allowed);
  // A cached success spares the hash only when the login succeeds: refused
  // from this address, the second try pays one again.
  fails_after_one_hash("elsewhere", "pw", Errc::address_not_allowed);
  ASSERT_TRUE(test::run_task(a.authenticate("hashed", "pw", kClient)));
  fails_after_one_hash("hashed", "wrong", Errc::bad_credentials);
}

} // namespace
} // namespace berth::auth
