#include "store/storage_state.hpp"

#include "store/sqlite/sqlite_store.hpp"
#include "support/sqlite_file.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <limits>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

namespace berth::store {

// Readable failures (found by ADL).
void PrintTo(const UsageRecord& u, std::ostream* os) {
  *os << "{bytes " << u.bytes << ", files " << u.files << "}";
}
void PrintTo(const PartRecord& p, std::ostream* os) {
  *os << "{#" << p.number << " " << p.etag << " " << p.size << "}";
}

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;
using test::exec_sql;
using test::query_int;

const Clock::time_point kT0 = Clock::time_point(1700000000s);
const std::string kLoc = "s3://archive@photos";

UploadRecord upload(std::string key, std::string id, Clock::time_point updated = kT0) {
  UploadRecord u;
  u.location = kLoc;
  u.key = std::move(key);
  u.upload_id = std::move(id);
  u.user = "alice";
  u.started = kT0;
  u.updated = updated;
  return u;
}

PartRecord part(std::uint32_t number, std::uint64_t size = 5u << 20) {
  return {number, "\"etag-" + std::to_string(number) + "\"", size};
}

// The behaviour every StorageState backend shares; a backend adds one
// Backend row (PostgreSQL later).
struct Backend {
  std::string name;
  // Opens a (new or existing) state in `dir`; several opens of one dir are
  // connections to the same database.
  std::function<std::unique_ptr<StorageState>(const std::filesystem::path& dir)> open;
};

void PrintTo(const Backend& b, std::ostream* os) {
  *os << b.name;
}

std::unique_ptr<StorageState> open_sqlite(const std::filesystem::path& dir) {
  auto s = SqliteStore::open(dir / "users.db", nullptr);
  EXPECT_TRUE(s) << s.error().message();
  return s ? std::move(*s) : nullptr;
}

class StorageStateTest : public ::testing::TestWithParam<Backend> {
protected:
  void SetUp() override {
    state_ = GetParam().open(dir_.path());
    ASSERT_TRUE(state_);
  }
  std::unique_ptr<StorageState> connect() { return GetParam().open(dir_.path()); }

  test::TempDir dir_;
  std::unique_ptr<StorageState> state_;
};

TEST_P(StorageStateTest, SaveThenFind) {
  auto missing = state_->find_upload(kLoc, "a.jpg");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(*missing);

  UploadRecord u = upload("albums/2026/a.jpg", "id-1", kT0 + 5s);
  u.parts = {part(2, 7), part(1)}; // any order in, ascending out
  ASSERT_TRUE(state_->save_upload(u));
  auto found = state_->find_upload(kLoc, "albums/2026/a.jpg");
  ASSERT_TRUE(found);
  ASSERT_TRUE(*found);
  UploadRecord want = u;
  want.parts = {part(1), part(2, 7)};
  EXPECT_EQ(**found, want);
  // Location and key together name the object.
  EXPECT_FALSE(*state_->find_upload("s3://photos", "albums/2026/a.jpg"));
  EXPECT_FALSE(*state_->find_upload(kLoc, "albums/2026"));
}

TEST_P(StorageStateTest, SaveReplacesTheUploadOfThatObject) {
  UploadRecord first = upload("a.jpg", "id-1");
  first.parts = {part(1), part(2), part(3)};
  ASSERT_TRUE(state_->save_upload(first));
  UploadRecord other = upload("b.jpg", "id-9");
  other.parts = {part(1)};
  ASSERT_TRUE(state_->save_upload(other));

  UploadRecord second = upload("a.jpg", "id-2", kT0 + 60s);
  second.user = "bob";
  second.parts = {part(1, 11)};
  ASSERT_TRUE(state_->save_upload(second));
  EXPECT_EQ(**state_->find_upload(kLoc, "a.jpg"), second); // the old parts 2 and 3 are gone
  EXPECT_EQ(**state_->find_upload(kLoc, "b.jpg"), other);

  // Saving the same upload again with fewer parts keeps what the record says.
  second.parts.clear();
  ASSERT_TRUE(state_->save_upload(second));
  EXPECT_TRUE((*state_->find_upload(kLoc, "a.jpg"))->parts.empty());
}

TEST_P(StorageStateTest, AddPartAppendsAndReplacesByNumber) {
  ASSERT_TRUE(state_->save_upload(upload("a.jpg", "id-1")));
  ASSERT_TRUE(state_->add_upload_part(kLoc, "a.jpg", "id-1", part(1), kT0 + 10s));
  ASSERT_TRUE(state_->add_upload_part(kLoc, "a.jpg", "id-1", part(2, 3), kT0 + 20s));
  PartRecord again = part(1);
  again.etag = "\"second-try\"";
  ASSERT_TRUE(state_->add_upload_part(kLoc, "a.jpg", "id-1", again, kT0 + 30s));

  auto found = state_->find_upload(kLoc, "a.jpg");
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->parts, (std::vector<PartRecord>{again, part(2, 3)}));
  EXPECT_EQ((*found)->updated, kT0 + 30s);
  EXPECT_EQ((*found)->started, kT0);
}

TEST_P(StorageStateTest, AddPartToAnotherUploadIsRefused) {
  EXPECT_EQ(state_->add_upload_part(kLoc, "a.jpg", "id-1", part(1), kT0).error(),
            Errc::no_such_upload);
  ASSERT_TRUE(state_->save_upload(upload("a.jpg", "id-2")));
  // A node still writing the replaced upload must not mix its parts in.
  EXPECT_EQ(state_->add_upload_part(kLoc, "a.jpg", "id-1", part(1), kT0 + 1s).error(),
            Errc::no_such_upload);
  auto found = state_->find_upload(kLoc, "a.jpg");
  ASSERT_TRUE(found && *found);
  EXPECT_TRUE((*found)->parts.empty());
  EXPECT_EQ((*found)->updated, kT0);
}

TEST_P(StorageStateTest, RefusesWhatItCanNotHold) {
  const auto invalid = std::make_error_code(std::errc::invalid_argument);
  UploadRecord kept = upload("a.jpg", "id-1");
  kept.parts = {part(1)};
  ASSERT_TRUE(state_->save_upload(kept));

  std::vector<UploadRecord> bad(7, upload("a.jpg", "id-2"));
  bad[0].location.clear();
  bad[1].key.clear();
  bad[2].upload_id.clear();
  bad[3].parts = {part(0)};
  bad[4].parts = {part(kMaxPartNumber + 1)};
  bad[5].parts = {part(1), part(2), part(1)};
  bad[6].parts = {part(1, std::numeric_limits<std::uint64_t>::max())};
  for (const auto& u : bad)
    EXPECT_EQ(state_->save_upload(u).error(), invalid);
  EXPECT_EQ(state_->add_upload_part(kLoc, "a.jpg", "id-1", part(0), kT0).error(), invalid);
  EXPECT_EQ(state_->add_upload_part(kLoc, "a.jpg", "id-1", part(kMaxPartNumber + 1), kT0).error(),
            invalid);
  // Nothing of a refused change was stored.
  EXPECT_EQ(**state_->find_upload(kLoc, "a.jpg"), kept);
  ASSERT_TRUE(state_->add_upload_part(kLoc, "a.jpg", "id-1", part(kMaxPartNumber), kT0));
}

TEST_P(StorageStateTest, RemoveOnlyTheUploadNamed) {
  UploadRecord u = upload("a.jpg", "id-2");
  u.parts = {part(1), part(2)};
  ASSERT_TRUE(state_->save_upload(u));
  auto wrong = state_->remove_upload(kLoc, "a.jpg", "id-1");
  ASSERT_TRUE(wrong);
  EXPECT_FALSE(*wrong);
  EXPECT_EQ(**state_->find_upload(kLoc, "a.jpg"), u);

  auto removed = state_->remove_upload(kLoc, "a.jpg", "id-2");
  ASSERT_TRUE(removed);
  EXPECT_TRUE(*removed);
  EXPECT_FALSE(*state_->find_upload(kLoc, "a.jpg"));
  EXPECT_FALSE(*state_->remove_upload(kLoc, "a.jpg", "id-2"));
  // Its parts went with it: the next upload of that object starts empty.
  ASSERT_TRUE(state_->save_upload(upload("a.jpg", "id-2")));
  EXPECT_TRUE((*state_->find_upload(kLoc, "a.jpg"))->parts.empty());
}

TEST_P(StorageStateTest, OlderThanListsOldestFirstWithParts) {
  for (int i = 0; i < 5; ++i) {
    UploadRecord u = upload("f" + std::to_string(i), "id-" + std::to_string(i),
                            kT0 + std::chrono::hours(4 - i)); // f4 is the oldest
    u.parts = {part(1, static_cast<std::uint64_t>(i))};
    ASSERT_TRUE(state_->save_upload(u));
  }
  // f0 (kT0 + 4h) is fresh, and so is f3 once a part arrives.
  ASSERT_TRUE(state_->add_upload_part(kLoc, "f3", "id-3", part(2), kT0 + 5h));
  auto old = state_->uploads_older_than(kT0 + 4h, 10);
  ASSERT_TRUE(old);
  std::vector<std::string> keys;
  for (const auto& u : *old)
    keys.push_back(u.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"f4", "f2", "f1"}));
  EXPECT_EQ((*old)[0].upload_id, "id-4");
  EXPECT_EQ((*old)[0].parts, std::vector<PartRecord>{part(1, 4)});

  auto two = state_->uploads_older_than(kT0 + 4h, 2);
  ASSERT_TRUE(two);
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ((*two)[1].key, "f2");
  EXPECT_TRUE(state_->uploads_older_than(kT0, 10)->empty());
}

TEST_P(StorageStateTest, UsageCounter) {
  auto none = state_->usage("alice");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  // No counter: an add makes none up.
  auto added = state_->add_usage("alice", 100, 1);
  ASSERT_TRUE(added);
  EXPECT_FALSE(*added);
  EXPECT_FALSE(*state_->usage("alice"));

  ASSERT_TRUE(state_->set_usage("alice", {1000, 10}));
  EXPECT_EQ(**state_->add_usage("alice", 24, 1), (UsageRecord{1024, 11}));
  EXPECT_EQ(**state_->add_usage("alice", -1000, -5), (UsageRecord{24, 6}));
  EXPECT_EQ(**state_->add_usage("alice", -100, -100), (UsageRecord{0, 0})); // never below 0
  EXPECT_EQ(**state_->usage("alice"), (UsageRecord{0, 0}));
  ASSERT_TRUE(state_->set_usage("alice", {5, 1})); // a recount replaces it
  EXPECT_EQ(**state_->usage("alice"), (UsageRecord{5, 1}));
  EXPECT_FALSE(*state_->usage("bob"));

  const auto invalid = std::make_error_code(std::errc::invalid_argument);
  EXPECT_EQ(state_->set_usage("", {1, 1}).error(), invalid);
  EXPECT_EQ(state_->set_usage("alice", {-1, 0}).error(), invalid);
  EXPECT_EQ(state_->set_usage("alice", {0, -1}).error(), invalid);
  EXPECT_EQ(**state_->usage("alice"), (UsageRecord{5, 1}));
}

TEST_P(StorageStateTest, ConcurrentAddsSumExactly) {
  ASSERT_TRUE(state_->set_usage("alice", {0, 0}));
  auto second = connect(); // another connection (another node's, for a shared database)
  ASSERT_TRUE(second);
  constexpr int kThreads = 4;
  constexpr int kAdds = 200;
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      StorageState& s = t % 2 == 0 ? *state_ : *second;
      for (int i = 0; i < kAdds; ++i)
        if (!s.add_usage("alice", t + 1, 1))
          ++failures[static_cast<std::size_t>(t)];
    });
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(failures, std::vector<int>(kThreads, 0));
  // 200 * (1 + 2 + 3 + 4) bytes, 800 files.
  EXPECT_EQ(**state_->usage("alice"), (UsageRecord{kAdds * 10, kThreads * kAdds}));
  EXPECT_EQ(**second->usage("alice"), (UsageRecord{kAdds * 10, kThreads * kAdds}));
}

TEST_P(StorageStateTest, ConnectionsSeeEachOther) {
  auto second = connect();
  ASSERT_TRUE(second);
  ASSERT_TRUE(state_->save_upload(upload("a.jpg", "id-1")));
  ASSERT_TRUE(second->add_upload_part(kLoc, "a.jpg", "id-1", part(1), kT0 + 1s));
  EXPECT_EQ((*state_->find_upload(kLoc, "a.jpg"))->parts, std::vector<PartRecord>{part(1)});
}

INSTANTIATE_TEST_SUITE_P(Backends, StorageStateTest,
                         ::testing::Values(Backend{"sqlite", open_sqlite}),
                         [](const auto& p) { return p.param.name; });

// What only the SQLite store does: the schema's upgrade and its ties to users.

class SqliteStorageStateTest : public ::testing::Test {
protected:
  std::unique_ptr<SqliteStore> open_store() {
    auto s = SqliteStore::open(file_, nullptr);
    EXPECT_TRUE(s) << s.error().message();
    return s ? std::move(*s) : nullptr;
  }

  test::TempDir dir_;
  std::filesystem::path file_ = dir_.path() / "state" / "users.db";
};

UserRecord user(std::string name, std::string home) {
  UserRecord u;
  u.name = std::move(name);
  u.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
  u.home = std::move(home);
  return u;
}

TEST_F(SqliteStorageStateTest, VersionOneDatabaseUpgradesInPlace) {
  // A database as the berth of schema version 1 left it, with a user and a ban.
  ASSERT_TRUE(SqliteStore::create_at_version_for_test(file_, 1));
  EXPECT_EQ(query_int(file_, "SELECT MAX(version) FROM schema_version"), 1);
  EXPECT_EQ(query_int(file_, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'usage_counters'"),
            0);
  exec_sql(file_, "INSERT INTO users (name, password_hash, home, authorized_keys, permissions,"
                  " quota_bytes, revision, created, updated) VALUES ('alice', '$6$salt$hash',"
                  " '/srv/ftp/alice', 'ssh-ed25519 AAAA a@b', 3, 4096, 7, 1, 1);"
                  "UPDATE counters SET value = 7 WHERE name = 'revision';"
                  "INSERT INTO bans (address, until, level, reason)"
                  " VALUES ('203.0.113.9', 1700000000, 2, 'guessing')");

  auto store = open_store();
  ASSERT_TRUE(store);
  EXPECT_EQ(*store->schema_version(), SqliteStore::kSchemaVersion);
  auto alice = store->get_user("alice");
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->password_hash, "$6$salt$hash");
  EXPECT_EQ(alice->home, "/srv/ftp/alice");
  EXPECT_EQ(alice->authorized_keys, std::vector<std::string>{"ssh-ed25519 AAAA a@b"});
  EXPECT_EQ(alice->quota_bytes, 4096u);
  EXPECT_EQ(alice->revision, 7u);
  auto ban = store->get_ban("203.0.113.9");
  ASSERT_TRUE(ban && *ban);
  EXPECT_EQ((*ban)->level, 2u);
  // The revision counter carried over: the next change does not reuse 7.
  ASSERT_TRUE(store->update_user(*alice));
  EXPECT_GT(store->get_user("alice")->revision, 7u);
  // The new tables work.
  ASSERT_TRUE(store->set_usage("alice", {10, 1}));
  ASSERT_TRUE(store->save_upload(upload("a.jpg", "id-1")));
  EXPECT_TRUE(*store->find_upload(kLoc, "a.jpg"));

  // Reopening migrates nothing twice.
  store = open_store();
  ASSERT_TRUE(store);
  EXPECT_EQ(query_int(file_, "SELECT COUNT(*) FROM schema_version"), 2);
  EXPECT_EQ(**store->usage("alice"), (UsageRecord{10, 1}));
}

TEST_F(SqliteStorageStateTest, RemovedUploadLeavesNoParts) {
  auto store = open_store();
  ASSERT_TRUE(store);
  UploadRecord u = upload("a.jpg", "id-1");
  u.parts = {part(1), part(2)};
  ASSERT_TRUE(store->save_upload(u));
  ASSERT_TRUE(store->save_upload(upload("b.jpg", "id-2")));
  ASSERT_TRUE(store->add_upload_part(kLoc, "b.jpg", "id-2", part(1), kT0));
  EXPECT_EQ(query_int(file_, "SELECT COUNT(*) FROM upload_parts"), 3);
  ASSERT_TRUE(*store->remove_upload(kLoc, "a.jpg", "id-1"));
  EXPECT_EQ(query_int(file_, "SELECT COUNT(*) FROM upload_parts"), 1);
}

TEST_F(SqliteStorageStateTest, CounterGoesWithTheUserOrTheirHome) {
  auto store = open_store();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->add_user(user("alice", "/srv/a")));
  ASSERT_TRUE(store->add_user(user("bob", "/srv/b")));
  ASSERT_TRUE(store->set_usage("alice", {10, 1}));
  ASSERT_TRUE(store->set_usage("bob", {20, 2}));
  ASSERT_TRUE(store->set_usage("carol", {30, 3})); // a configuration file's user

  // Another field changes: the counter stays.
  UserRecord a = *store->get_user("alice");
  a.quota_bytes = 1;
  ASSERT_TRUE(store->update_user(a));
  EXPECT_EQ(**store->usage("alice"), (UsageRecord{10, 1}));
  // Another home: it counted the old one.
  a.home = "s3://photos/alice";
  ASSERT_TRUE(store->update_user(a));
  EXPECT_FALSE(*store->usage("alice"));

  ASSERT_TRUE(store->remove_user("bob"));
  EXPECT_FALSE(*store->usage("bob"));
  ASSERT_TRUE(store->set_usage("dave", {1, 1})); // left from before, say
  ASSERT_TRUE(store->add_user(user("dave", "/srv/d")));
  EXPECT_FALSE(*store->usage("dave"));
  EXPECT_EQ(**store->usage("carol"), (UsageRecord{30, 3}));
  // A refused removal keeps the counter.
  EXPECT_EQ(store->remove_user("carol").error(), Errc::no_such_user);
  EXPECT_EQ(**store->usage("carol"), (UsageRecord{30, 3}));
}

} // namespace
} // namespace berth::store
