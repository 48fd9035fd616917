#include "store/sqlite/sqlite_store.hpp"

#include "core/worker_pool.hpp"
#include "support/run_task.hpp"
#include "support/sqlite_file.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <string>

namespace berth::store {
namespace {

using namespace std::chrono_literals;
using test::exec_sql;

UserRecord user(std::string name) {
  UserRecord u;
  u.name = std::move(name);
  u.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
  u.home = "/srv/ftp/" + u.name;
  return u;
}

class SqliteStoreTest : public ::testing::Test {
protected:
  std::unique_ptr<SqliteStore> open_store(core::WorkerPool* pool = nullptr) {
    auto s = SqliteStore::open(file_, pool);
    EXPECT_TRUE(s) << s.error().message();
    return s ? std::move(*s) : nullptr;
  }

  test::TempDir dir_;
  std::filesystem::path file_ = dir_.path() / "state" / "users.db";
};

TEST_F(SqliteStoreTest, CreatesPrivateFileAndDirectory) {
  auto store = open_store();
  ASSERT_TRUE(store);
  struct stat st {};
  ASSERT_EQ(::stat(file_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(file_.parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(SqliteStoreTest, SchemaVersionIsRecorded) {
  auto store = open_store();
  ASSERT_TRUE(store);
  auto v = store->schema_version();
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, SqliteStore::kSchemaVersion);
  store.reset();
  // Reopening applies nothing twice.
  store = open_store();
  ASSERT_TRUE(store);
  EXPECT_EQ(*store->schema_version(), SqliteStore::kSchemaVersion);
}

TEST_F(SqliteStoreTest, NewerSchemaIsRefused) {
  ASSERT_TRUE(open_store());
  exec_sql(file_, "INSERT INTO schema_version (version, applied) VALUES (99, 0)");
  auto s = SqliteStore::open(file_, nullptr);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error(), Errc::database);
}

TEST_F(SqliteStoreTest, NotADatabaseIsRefused) {
  std::filesystem::create_directories(file_.parent_path());
  dir_.write("state/users.db", std::string(4096, 'x'));
  auto s = SqliteStore::open(file_, nullptr);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error(), Errc::database);
}

TEST_F(SqliteStoreTest, AddGetUpdateRemove) {
  auto store = open_store();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->get_user("alice").error(), Errc::no_such_user);
  ASSERT_TRUE(store->add_user(user("alice")));
  EXPECT_EQ(store->add_user(user("alice")).error(), Errc::exists);

  auto got = store->get_user("alice");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->name, "alice");
  EXPECT_EQ(got->home, "/srv/ftp/alice");
  EXPECT_FALSE(got->read_only);
  EXPECT_GE(got->revision, 1u);

  UserRecord changed = *got;
  changed.home = "/elsewhere";
  ASSERT_TRUE(store->update_user(changed));
  auto again = store->get_user("alice");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->home, "/elsewhere");
  EXPECT_GT(again->revision, got->revision);

  EXPECT_EQ(store->update_user(user("bob")).error(), Errc::no_such_user);
  EXPECT_EQ(store->remove_user("bob").error(), Errc::no_such_user);
  ASSERT_TRUE(store->remove_user("alice"));
  EXPECT_EQ(store->get_user("alice").error(), Errc::no_such_user);
  EXPECT_EQ(store->remove_user("alice").error(), Errc::no_such_user);
}

TEST_F(SqliteStoreTest, RevisionDiffersAfterRemoveAndAddAgain) {
  auto store = open_store();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->add_user(user("alice")));
  ASSERT_TRUE(store->add_user(user("bob")));
  const auto first = store->get_user("alice")->revision;
  EXPECT_NE(first, store->get_user("bob")->revision);
  ASSERT_TRUE(store->remove_user("alice"));
  ASSERT_TRUE(store->add_user(user("alice")));
  const auto second = store->get_user("alice")->revision;
  EXPECT_GT(second, first);
  EXPECT_GT(second, store->get_user("bob")->revision);
  // Also across a reopen.
  store = open_store();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->remove_user("alice"));
  ASSERT_TRUE(store->add_user(user("alice")));
  EXPECT_GT(store->get_user("alice")->revision, second);
}

TEST_F(SqliteStoreTest, EveryFieldRoundTrips) {
  auto store = open_store();
  ASSERT_TRUE(store);
  UserRecord u = user("carol");
  u.password_hash = "$6$salt$digest";
  u.home = "/srv/ftp/carol with space/ü";
  u.authorized_keys = {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample one",
                       "from=\"10.0.0.0/8\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample2 two"};
  u.permissions = core::Permissions::read_only();
  u.quota_bytes = 10ull << 30;
  u.quota_files = 1000;
  u.max_sessions = 3;
  u.upload_rate = 512 * 1024;
  u.download_rate = 1024 * 1024;
  u.allow_from = {"10.0.0.0/8", "2001:db8::/32"};
  u.disabled = true;
  u.read_only = true; // ignored: records in the database are never read-only
  u.revision = 12345; // ignored: the store decides
  ASSERT_TRUE(store->add_user(u));
  store = open_store(); // from the file, not from a cache
  ASSERT_TRUE(store);
  auto got = store->get_user("carol");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->name, u.name);
  EXPECT_EQ(got->password, "");
  EXPECT_EQ(got->password_hash, u.password_hash);
  EXPECT_EQ(got->home, u.home);
  EXPECT_EQ(got->authorized_keys, u.authorized_keys);
  EXPECT_EQ(got->permissions, u.permissions);
  EXPECT_EQ(got->quota_bytes, u.quota_bytes);
  EXPECT_EQ(got->quota_files, u.quota_files);
  EXPECT_EQ(got->max_sessions, u.max_sessions);
  EXPECT_EQ(got->upload_rate, u.upload_rate);
  EXPECT_EQ(got->download_rate, u.download_rate);
  EXPECT_EQ(got->allow_from, u.allow_from);
  EXPECT_TRUE(got->disabled);
  EXPECT_FALSE(got->read_only);
  EXPECT_NE(got->revision, 12345u);

  // Defaults and extremes too.
  UserRecord plain = user("dave");
  plain.password_hash.clear();
  plain.permissions = core::Permissions::none();
  plain.quota_bytes = ~std::uint64_t{0};
  plain.max_sessions = ~std::uint32_t{0};
  ASSERT_TRUE(store->add_user(plain));
  auto d = store->get_user("dave");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->password_hash, "");
  EXPECT_TRUE(d->authorized_keys.empty());
  EXPECT_TRUE(d->allow_from.empty());
  EXPECT_EQ(d->permissions, core::Permissions::none());
  EXPECT_EQ(d->quota_bytes, ~std::uint64_t{0});
  EXPECT_EQ(d->max_sessions, ~std::uint32_t{0});
  EXPECT_FALSE(d->disabled);
}

TEST_F(SqliteStoreTest, RefusesWhatItCanNotHold) {
  auto store = open_store();
  ASSERT_TRUE(store);
  const auto invalid = std::make_error_code(std::errc::invalid_argument);
  UserRecord plain = user("p");
  plain.password = "plain text";
  EXPECT_EQ(store->add_user(plain).error(), invalid);
  EXPECT_EQ(store->add_user(user("")).error(), invalid);
  UserRecord key = user("k");
  key.authorized_keys = {"ssh-ed25519 AAAA\nssh-rsa BBBB"};
  EXPECT_EQ(store->add_user(key).error(), invalid);
  UserRecord from = user("f");
  from.allow_from = {"10.0.0.0/8,192.168.0.0/16"};
  EXPECT_EQ(store->add_user(from).error(), invalid);
  EXPECT_TRUE(store->list_users()->empty());
}

TEST_F(SqliteStoreTest, ListIsSortedByName) {
  auto store = open_store();
  ASSERT_TRUE(store);
  for (const char* n : {"mallory", "alice", "zed", "bob"})
    ASSERT_TRUE(store->add_user(user(n)));
  auto all = store->list_users();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[0].name, "alice");
  EXPECT_EQ((*all)[1].name, "bob");
  EXPECT_EQ((*all)[2].name, "mallory");
  EXPECT_EQ((*all)[3].name, "zed");
}

TEST_F(SqliteStoreTest, Bans) {
  auto store = open_store();
  ASSERT_TRUE(store);
  auto none = store->get_ban("192.0.2.1");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);

  const auto until =
      std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now()) + 3600s;
  ASSERT_TRUE(store->set_ban(Ban{"192.0.2.1", until, 1, "5 failed logins"}));
  ASSERT_TRUE(store->set_ban(Ban{"2001:db8::1", until + 60s, 3, "scan"}));
  auto got = store->get_ban("192.0.2.1");
  ASSERT_TRUE(got);
  ASSERT_TRUE(*got);
  EXPECT_EQ((*got)->address, "192.0.2.1");
  EXPECT_EQ((*got)->until, until);
  EXPECT_EQ((*got)->level, 1u);
  EXPECT_EQ((*got)->reason, "5 failed logins");

  // put replaces.
  ASSERT_TRUE(store->set_ban(Ban{"192.0.2.1", until + 7200s, 2, "again"}));
  got = store->get_ban("192.0.2.1");
  EXPECT_EQ((*got)->level, 2u);
  EXPECT_EQ((*got)->until, until + 7200s);
  EXPECT_EQ((*got)->reason, "again");

  auto all = store->list_bans();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].address, "192.0.2.1");
  EXPECT_EQ((*all)[1].address, "2001:db8::1");
  EXPECT_EQ((*all)[1].level, 3u);

  EXPECT_EQ(store->remove_ban("192.0.2.1").value(), true);
  EXPECT_EQ(store->remove_ban("192.0.2.1").value(), false);
  EXPECT_FALSE(store->get_ban("192.0.2.1").value().has_value());

  // Expired bans are kept (their level counts) and outlive a reopen.
  ASSERT_TRUE(store->set_ban(Ban{"198.51.100.7", until - 7200s, 4, ""}));
  store = open_store();
  ASSERT_TRUE(store);
  auto old = store->get_ban("198.51.100.7");
  ASSERT_TRUE(old && *old);
  EXPECT_EQ((*old)->level, 4u);
  EXPECT_EQ(store->list_bans()->size(), 2u);
}

TEST_F(SqliteStoreTest, ReopenKeepsData) {
  {
    auto store = open_store();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->add_user(user("alice")));
  }
  auto store = open_store();
  ASSERT_TRUE(store);
  auto all = store->list_users();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].name, "alice");
}

TEST_F(SqliteStoreTest, AsyncInterfaceInline) {
  auto store = open_store();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->add_user(user("alice")));
  UserStore& users = *store;
  auto found = test::run_task(users.find("alice"));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->name, "alice");
  EXPECT_EQ(test::run_task(users.find("nobody")).error(), Errc::no_such_user);

  BanStore& bans = *store;
  const Ban ban{"203.0.113.9", std::chrono::system_clock::time_point(1700000000s), 2, "x"};
  ASSERT_TRUE(test::run_task(bans.put_ban(ban)));
  auto b = test::run_task(bans.find_ban("203.0.113.9"));
  ASSERT_TRUE(b && *b);
  EXPECT_EQ((*b)->until, ban.until);
}

TEST_F(SqliteStoreTest, AsyncInterfaceOnPool) {
  core::WorkerPool pool(2);
  auto store = open_store(&pool);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->add_user(user("alice")));
  auto found = test::run_task(store->find("alice"));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->home, "/srv/ftp/alice");
  EXPECT_EQ(test::run_task(store->find("nobody")).error(), Errc::no_such_user);
  const Ban ban{"203.0.113.9", std::chrono::system_clock::time_point(1700000000s), 5, "y"};
  ASSERT_TRUE(test::run_task(store->put_ban(ban)));
  auto b = test::run_task(store->find_ban("203.0.113.9"));
  ASSERT_TRUE(b && *b);
  EXPECT_EQ((*b)->level, 5u);
  auto missing = test::run_task(store->find_ban("203.0.113.10"));
  ASSERT_TRUE(missing);
  EXPECT_FALSE(*missing);
}

TEST_F(SqliteStoreTest, TwoConnectionsSeeEachOther) {
  auto a = open_store();
  auto b = open_store();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->add_user(user("alice")));
  auto got = b->get_user("alice");
  ASSERT_TRUE(got);
  ASSERT_TRUE(b->update_user(*got));
  EXPECT_GT(a->get_user("alice")->revision, got->revision);
}

} // namespace
} // namespace berth::store
