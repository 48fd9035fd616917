#include "auth/defender.hpp"

#include "support/run_task.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace berth::auth {
namespace {

using namespace std::chrono_literals;
using std::chrono::seconds;
using TimePoint = std::chrono::system_clock::time_point;

/// A BanStore in memory; `fail` makes every call a database error.
class MemoryBanStore final : public store::BanStore {
public:
  // store::BanStore
  core::Task<core::Result<std::optional<store::Ban>>>
  find_ban(const std::string& address) override {
    ++finds;
    if (fail)
      co_return core::unexpected(store::Errc::database);
    auto it = bans.find(address);
    if (it == bans.end())
      co_return std::optional<store::Ban>{};
    co_return std::optional<store::Ban>{it->second};
  }
  core::Task<core::Result<void>> put_ban(const store::Ban& ban) override {
    ++puts;
    if (fail)
      co_return core::unexpected(store::Errc::database);
    bans[ban.address] = ban;
    co_return core::Result<void>{};
  }

  std::map<std::string, store::Ban> bans;
  bool fail = false;
  int finds = 0;
  int puts = 0;
};

class DefenderTest : public ::testing::Test {
protected:
  DefenderConfig config() {
    DefenderConfig c;
    c.max_failures = 5;
    c.window = 600s;
    c.ban_time = 600s;
    c.max_ban_time = 86400s;
    return c;
  }
  Defender make(DefenderConfig c, store::BanStore* bans) {
    return Defender(std::move(c), bans, [this] { return now_; });
  }
  std::optional<seconds> banned(Defender& d, const char* ip) {
    const asio::ip::address address = asio::ip::make_address(ip);
    return test::run_task(d.banned(address));
  }
  void fail(Defender& d, const char* ip, int times = 1) {
    const asio::ip::address address = asio::ip::make_address(ip);
    for (int i = 0; i < times; ++i)
      test::run_task(d.failed(address));
  }
  void advance(std::chrono::system_clock::duration d) { now_ += d; }

  TimePoint now_ = std::chrono::system_clock::from_time_t(1'700'000'000);
  MemoryBanStore store_;
};

TEST_F(DefenderTest, FifthFailureBans) {
  Defender d = make(config(), &store_);
  fail(d, "192.0.2.1", 4);
  EXPECT_EQ(banned(d, "192.0.2.1"), std::nullopt);
  EXPECT_EQ(d.active_bans(), 0u);
  fail(d, "192.0.2.1");
  EXPECT_EQ(banned(d, "192.0.2.1"), 600s);
  EXPECT_EQ(d.active_bans(), 1u);
  ASSERT_EQ(store_.bans.count("192.0.2.1"), 1u);
  const store::Ban& ban = store_.bans["192.0.2.1"];
  EXPECT_EQ(ban.until, now_ + 600s);
  EXPECT_EQ(ban.level, 1u);
  EXPECT_FALSE(ban.reason.empty());
  advance(100s);
  EXPECT_EQ(banned(d, "192.0.2.1"), 500s);
  advance(1ms);
  EXPECT_EQ(banned(d, "192.0.2.1"), 500s); // rounded up
}

// SIGHUP reconfigures the one Defender: counts and bans stay (issue #6).
TEST_F(DefenderTest, ReconfigureKeepsCountsAndBans) {
  Defender d = make(config(), &store_);
  fail(d, "192.0.2.1", 5);
  fail(d, "192.0.2.2", 3);
  DefenderConfig c = config();
  c.max_failures = 4;
  c.ban_time = 60s;
  d.reconfigure(c);
  EXPECT_EQ(banned(d, "192.0.2.1"), 600s); // the ban made before keeps its end
  fail(d, "192.0.2.2");                    // the 4th: the new threshold
  EXPECT_EQ(banned(d, "192.0.2.2"), 60s);
  c.enabled = false;
  d.reconfigure(c);
  EXPECT_EQ(banned(d, "192.0.2.1"), std::nullopt);
}

TEST_F(DefenderTest, OtherAddressesAreUnaffected) {
  Defender d = make(config(), &store_);
  fail(d, "192.0.2.1", 5);
  fail(d, "192.0.2.2", 4);
  EXPECT_TRUE(banned(d, "192.0.2.1"));
  EXPECT_EQ(banned(d, "192.0.2.2"), std::nullopt);
  EXPECT_EQ(banned(d, "2001:db8::1"), std::nullopt);
}

TEST_F(DefenderTest, WindowExpiryStartsTheCountAgain) {
  Defender d = make(config(), &store_);
  fail(d, "192.0.2.1", 4);
  advance(600s);
  fail(d, "192.0.2.1", 4); // a new window: 4 in it
  EXPECT_EQ(banned(d, "192.0.2.1"), std::nullopt);
  advance(599s);
  fail(d, "192.0.2.1"); // the 5th of this window
  EXPECT_EQ(banned(d, "192.0.2.1"), 600s);
}

TEST_F(DefenderTest, BanExpires) {
  Defender d = make(config(), &store_);
  fail(d, "192.0.2.1", 5);
  advance(599s);
  EXPECT_EQ(banned(d, "192.0.2.1"), 1s);
  advance(1s);
  EXPECT_EQ(banned(d, "192.0.2.1"), std::nullopt);
  EXPECT_EQ(d.active_bans(), 0u);
  // Counting starts from nothing.
  fail(d, "192.0.2.1", 4);
  EXPECT_EQ(banned(d, "192.0.2.1"), std::nullopt);
}

TEST_F(DefenderTest, RepeatedBansDoubleUpToTheCap) {
  DefenderConfig c = config();
  c.max_ban_time = 2000s;
  Defender d = make(c, &store_);
  for (auto [level, expected] : {std::pair{1u, 600s}, {2u, 1200s}, {3u, 2000s}, {4u, 2000s}}) {
    fail(d, "192.0.2.1", 5);
    EXPECT_EQ(banned(d, "192.0.2.1"), expected) << level;
    EXPECT_EQ(store_.bans["192.0.2.1"].level, level);
    advance(expected);
    EXPECT_EQ(banned(d, "192.0.2.1"), std::nullopt);
  }
}

TEST_F(DefenderTest, AnOldBanNoLongerCountsAsInARow) {
  Defender d = make(config(), &store_);
  fail(d, "192.0.2.1", 5);
  advance(600s + 86400s + 1s); // ended more than max_ban_time ago
  fail(d, "192.0.2.1", 5);
  EXPECT_EQ(banned(d, "192.0.2.1"), 600s);
  EXPECT_EQ(store_.bans["192.0.2.1"].level, 1u);
}

TEST_F(DefenderTest, AllowListIsNeverCountedOrBanned) {
  DefenderConfig c = config();
  c.allow = *core::CidrList::parse({"10.0.0.0/8", "2001:db8::/32"});
  Defender d = make(c, &store_);
  fail(d, "10.1.2.3", 50);
  fail(d, "::ffff:10.9.9.9", 50);
  fail(d, "2001:db8::7", 50);
  EXPECT_EQ(banned(d, "10.1.2.3"), std::nullopt);
  EXPECT_EQ(banned(d, "10.9.9.9"), std::nullopt);
  EXPECT_EQ(banned(d, "2001:db8::7"), std::nullopt);
  EXPECT_TRUE(store_.bans.empty());
  EXPECT_EQ(store_.finds, 0);
  EXPECT_EQ(d.tracked_for_test(), 0u);
}

TEST_F(DefenderTest, BanLiftedInTheStoreEndsAtOnce) {
  Defender d = make(config(), &store_);
  fail(d, "192.0.2.1", 5);
  ASSERT_TRUE(banned(d, "192.0.2.1"));
  store_.bans.erase("192.0.2.1"); // `berth ban del 192.0.2.1`
  EXPECT_EQ(banned(d, "192.0.2.1"), std::nullopt);
  EXPECT_EQ(d.active_bans(), 0u);
  // The next ban starts over at level 1.
  fail(d, "192.0.2.1", 4);
  EXPECT_EQ(banned(d, "192.0.2.1"), std::nullopt);
  fail(d, "192.0.2.1");
  EXPECT_EQ(banned(d, "192.0.2.1"), 600s);
  EXPECT_EQ(store_.bans["192.0.2.1"].level, 1u);
}

TEST_F(DefenderTest, StoredBanIsHonouredAfterARestart) {
  store_.bans["192.0.2.9"] = store::Ban{"192.0.2.9", now_ + 300s, 2, "5 failed logins"};
  Defender d = make(config(), &store_);
  EXPECT_EQ(banned(d, "192.0.2.9"), 300s);
  EXPECT_EQ(banned(d, "::ffff:192.0.2.9"), 300s);
  // Its level carries on: the next ban is the third in a row.
  advance(300s);
  EXPECT_EQ(banned(d, "192.0.2.9"), std::nullopt);
  fail(d, "192.0.2.9", 5);
  EXPECT_EQ(banned(d, "192.0.2.9"), 2400s);
  EXPECT_EQ(store_.bans["192.0.2.9"].level, 3u);
}

TEST_F(DefenderTest, LevelIsReadFromTheStoreAfterARestart) {
  store_.bans["192.0.2.9"] = store::Ban{"192.0.2.9", now_ - 60s, 1, "5 failed logins"};
  Defender d = make(config(), &store_);
  fail(d, "192.0.2.9", 5); // no banned() call first
  EXPECT_EQ(banned(d, "192.0.2.9"), 1200s);
}

TEST_F(DefenderTest, DisabledNeverBans) {
  DefenderConfig c = config();
  c.enabled = false;
  store_.bans["192.0.2.9"] = store::Ban{"192.0.2.9", now_ + 300s, 1, ""};
  Defender d = make(c, &store_);
  fail(d, "192.0.2.1", 50);
  EXPECT_EQ(banned(d, "192.0.2.1"), std::nullopt);
  EXPECT_EQ(banned(d, "192.0.2.9"), std::nullopt);
  EXPECT_EQ(store_.puts, 0);
  EXPECT_EQ(store_.finds, 0);
}

TEST_F(DefenderTest, MappedIpv4IsIpv4) {
  Defender d = make(config(), &store_);
  fail(d, "::ffff:192.0.2.1", 2);
  fail(d, "192.0.2.1", 2);
  fail(d, "::ffff:192.0.2.1");
  EXPECT_EQ(banned(d, "192.0.2.1"), 600s);
  EXPECT_EQ(banned(d, "::ffff:192.0.2.1"), 600s);
  EXPECT_EQ(store_.bans.count("192.0.2.1"), 1u);
  EXPECT_EQ(store_.bans.size(), 1u);
}

TEST_F(DefenderTest, Ipv6AddressesAreStoredCanonically) {
  DefenderConfig c = config();
  c.ipv6_prefix = 128;
  Defender d = make(c, &store_);
  fail(d, "2001:DB8:0:0::1", 5);
  EXPECT_EQ(store_.bans.count("2001:db8::1"), 1u);
  EXPECT_TRUE(banned(d, "2001:db8::1"));
  EXPECT_FALSE(banned(d, "2001:db8::2"));
}

// Issue 17 item 18: a client holds a whole /64 (RFC 6177); counting each
// address apart let it fail 5 times per address, and ban evasion was free.
TEST_F(DefenderTest, Ipv6ClientsAreCountedAndBannedByTheirSlash64) {
  Defender d = make(config(), &store_);
  fail(d, "2001:db8:1:2::1", 2);
  fail(d, "2001:db8:1:2:aaaa:bbbb:cccc:dddd", 2);
  fail(d, "2001:db8:1:3::1", 4); // the next /64: counted apart
  EXPECT_EQ(banned(d, "2001:db8:1:2::1"), std::nullopt);
  fail(d, "2001:db8:1:2::ffff");
  EXPECT_EQ(banned(d, "2001:db8:1:2::1"), 600s);
  EXPECT_EQ(banned(d, "2001:db8:1:2:ffff:ffff:ffff:ffff"), 600s);
  EXPECT_EQ(banned(d, "2001:db8:1:3::1"), std::nullopt);
  EXPECT_EQ(store_.bans.count("2001:db8:1:2::/64"), 1u);
  EXPECT_EQ(store_.bans.size(), 1u);
}

TEST_F(DefenderTest, Ipv6PrefixIsConfigurable) {
  DefenderConfig c = config();
  c.ipv6_prefix = 48;
  Defender d = make(c, &store_);
  fail(d, "2001:db8:1:2::1", 3);
  fail(d, "2001:db8:1:ffff::1", 2);
  EXPECT_EQ(banned(d, "2001:db8:1:8000::9"), 600s);
  EXPECT_EQ(banned(d, "2001:db8:2::1"), std::nullopt);
  EXPECT_EQ(store_.bans.count("2001:db8:1::/48"), 1u);
  fail(d, "192.0.2.1", 4); // IPv4 stays per address
  fail(d, "192.0.2.2");
  EXPECT_EQ(banned(d, "192.0.2.1"), std::nullopt);
}

TEST_F(DefenderTest, MemoryOnlyWithoutAStore) {
  Defender d = make(config(), nullptr);
  fail(d, "192.0.2.1", 4);
  EXPECT_EQ(banned(d, "192.0.2.1"), std::nullopt);
  fail(d, "192.0.2.1");
  EXPECT_EQ(banned(d, "192.0.2.1"), 600s);
  advance(600s);
  EXPECT_EQ(banned(d, "192.0.2.1"), std::nullopt);
  fail(d, "192.0.2.1", 5);
  EXPECT_EQ(banned(d, "192.0.2.1"), 1200s);
}

TEST_F(DefenderTest, StoreErrorsNeverLiftABan) {
  Defender d = make(config(), &store_);
  store_.fail = true;
  fail(d, "192.0.2.1", 5); // the ban can not be stored: memory keeps it
  EXPECT_EQ(banned(d, "192.0.2.1"), 600s);
  store_.fail = false;
  EXPECT_EQ(banned(d, "192.0.2.1"), 600s); // not in the store, but never stored either

  fail(d, "192.0.2.2", 5);
  store_.fail = true;
  EXPECT_EQ(banned(d, "192.0.2.2"), 600s);
  EXPECT_EQ(banned(d, "192.0.2.3"), std::nullopt); // unknown and unreadable: let in
}

TEST_F(DefenderTest, CleanAddressesAreNotLookedUpEachTime) {
  DefenderConfig c = config();
  c.store_recheck = 60s;
  Defender d = make(c, &store_);
  EXPECT_EQ(banned(d, "192.0.2.1"), std::nullopt);
  EXPECT_EQ(banned(d, "192.0.2.1"), std::nullopt);
  EXPECT_EQ(store_.finds, 1);
  advance(60s);
  EXPECT_EQ(banned(d, "192.0.2.1"), std::nullopt);
  EXPECT_EQ(store_.finds, 2);
}

TEST_F(DefenderTest, FailuresOfABannedAddressAreNotCounted) {
  Defender d = make(config(), &store_);
  fail(d, "192.0.2.1", 5);
  fail(d, "192.0.2.1", 20);
  EXPECT_EQ(store_.puts, 1);
  EXPECT_EQ(d.tracked_for_test(), 0u);
}

TEST_F(DefenderTest, MemoryIsBoundedUnderASprayOfAddresses) {
  DefenderConfig c = config();
  c.max_tracked = 100;
  Defender d = make(c, &store_);
  for (unsigned i = 0; i < 1000; ++i) {
    const asio::ip::address a = asio::ip::make_address_v4(0xC6120000u + i); // 198.18.0.0/15
    test::run_task(d.failed(a));
    EXPECT_EQ(test::run_task(d.banned(a)), std::nullopt);
  }
  EXPECT_LE(d.tracked_for_test(), 100u);
  // Windows that ended are forgotten as time goes by (a few per call).
  advance(601s);
  fail(d, "192.0.2.1", 4);
  EXPECT_LT(d.tracked_for_test(), 100u);
  fail(d, "192.0.2.1", 6);
  EXPECT_EQ(d.tracked_for_test(), 0u); // all ended; 192.0.2.1's was cleared by its ban
  EXPECT_TRUE(banned(d, "192.0.2.1"));
}

TEST_F(DefenderTest, MaxFailuresOfZeroIsOne) {
  DefenderConfig c = config();
  c.max_failures = 0;
  Defender d = make(c, &store_);
  fail(d, "192.0.2.1");
  EXPECT_EQ(banned(d, "192.0.2.1"), 600s);
}

} // namespace
} // namespace berth::auth
