#include "auth/limits.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace berth::auth {
namespace {

const auto kA = asio::ip::make_address("192.0.2.1");
const auto kB = asio::ip::make_address("192.0.2.2");

TEST(LimitsTest, PerAddressLimitCountsEachAddressApart) {
  Limits l(0, 2);
  std::string why;
  auto a1 = l.connect(kA, &why);
  auto a2 = l.connect(kA, &why);
  ASSERT_TRUE(a1 && a2);
  EXPECT_FALSE(l.connect(kA, &why));
  EXPECT_NE(why.find("from your address"), std::string::npos);
  EXPECT_TRUE(l.connect(kB, &why)); // another address still gets in
  a1 = {};                          // a place is given back
  EXPECT_TRUE(l.connect(kA, &why));
}

TEST(LimitsTest, MappedIpv4CountsAsIpv4) {
  Limits l(0, 1);
  std::string why;
  auto t = l.connect(kA, &why);
  ASSERT_TRUE(t);
  EXPECT_FALSE(l.connect(asio::ip::make_address("::ffff:192.0.2.1"), &why));
}

TEST(LimitsTest, TotalLimit) {
  Limits l(2, 0);
  std::string why;
  auto t1 = l.connect(kA, &why);
  auto t2 = l.connect(kB, &why);
  EXPECT_EQ(l.connections(), 2u);
  EXPECT_FALSE(l.connect(asio::ip::make_address("192.0.2.3"), &why));
  EXPECT_NE(why.find("Too many connections"), std::string::npos);
  Limits::Ticket moved = std::move(t1);
  EXPECT_EQ(l.connections(), 2u); // moving keeps the place
  moved = {};
  EXPECT_EQ(l.connections(), 1u);
}

TEST(LimitsTest, SessionsPerUser) {
  Limits l(0, 0);
  std::string why;
  auto s1 = l.log_in("alice", 1, &why);
  ASSERT_TRUE(s1);
  EXPECT_FALSE(l.log_in("alice", 1, &why));
  EXPECT_TRUE(l.log_in("bob", 1, &why));
  auto unlimited = l.log_in("carol", 0, &why);
  auto unlimited2 = l.log_in("carol", 0, &why);
  EXPECT_TRUE(unlimited && unlimited2);
  s1 = {};
  EXPECT_TRUE(l.log_in("alice", 1, &why));
}

TEST(LimitsTest, NewLimitsOverTheSameCounts) {
  Limits old(0, 1);
  std::string why;
  auto t = old.connect(kA, &why);
  ASSERT_TRUE(t);
  Limits reloaded(old, 0, 1);
  EXPECT_FALSE(reloaded.connect(kA, &why)); // the old place counts here
  Limits raised(old, 0, 2);
  auto u = raised.connect(kA, &why);
  EXPECT_TRUE(u);
  EXPECT_EQ(old.connections(), 2u);
  t = {};
  u = {};
  EXPECT_EQ(reloaded.connections(), 0u);
}

// Issue 17 item 18: IPv6 clients are limited by their network, not per /128.
TEST(LimitsTest, Ipv6ClientsCountByTheirPrefix) {
  Limits l(0, 2); // the default: /64
  std::string why;
  auto a = l.connect(asio::ip::make_address("2001:db8:1:2::1"), &why);
  auto b = l.connect(asio::ip::make_address("2001:db8:1:2::2"), &why);
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(l.connect(asio::ip::make_address("2001:db8:1:2:ffff::3"), &why));
  EXPECT_TRUE(l.connect(asio::ip::make_address("2001:db8:1:3::1"), &why));

  AddressRules per_address;
  per_address.ipv6_prefix = 128;
  Limits exact(0, 1, per_address);
  auto c = exact.connect(asio::ip::make_address("2001:db8:1:2::1"), &why);
  ASSERT_TRUE(c);
  EXPECT_TRUE(exact.connect(asio::ip::make_address("2001:db8:1:2::2"), &why));
  EXPECT_FALSE(exact.connect(asio::ip::make_address("2001:db8:1:2::1"), &why));
}

TEST(LimitsTest, AddressGroups) {
  auto group = [](const char* ip, unsigned prefix) {
    return core::address_group(asio::ip::make_address(ip), prefix);
  };
  EXPECT_EQ(group("192.0.2.1", 64), "192.0.2.1");
  EXPECT_EQ(group("::ffff:192.0.2.1", 64), "192.0.2.1");
  EXPECT_EQ(group("2001:DB8:1:2:3:4:5:6", 64), "2001:db8:1:2::/64");
  EXPECT_EQ(group("2001:db8:1:2:3:4:5:6", 128), "2001:db8:1:2:3:4:5:6");
  EXPECT_EQ(group("2001:db8:1:2:3:4:5:6", 56), "2001:db8:1::/56");
  EXPECT_EQ(group("2001:db8:1:2ff:3:4:5:6", 60), "2001:db8:1:2f0::/60");
  EXPECT_EQ(group("2001:db8:1:2ff:3:4:5:6", 1), "::/1");
  EXPECT_EQ(group("fe80::1%1", 128), "fe80::1"); // no zone
  EXPECT_EQ(group("::1", 64), "::/64");
}

// Issue 17 item 9: password checks in progress are bounded per address and
// in all; a place is given back when its check ends.
TEST(LimitsTest, PasswordChecksPerAddressAndInAll) {
  AddressRules rules;
  rules.max_checks = 3;
  rules.max_checks_per_address = 2;
  Limits l(0, 0, rules);
  auto a1 = l.check_password(kA);
  auto a2 = l.check_password(kA);
  ASSERT_TRUE(a1 && a2);
  EXPECT_FALSE(l.check_password(kA));
  EXPECT_FALSE(l.check_password(asio::ip::make_address("::ffff:192.0.2.1")));
  auto b1 = l.check_password(kB);
  ASSERT_TRUE(b1);
  EXPECT_FALSE(l.check_password(asio::ip::make_address("192.0.2.3"))); // 3 in all
  a1 = {};
  EXPECT_TRUE(l.check_password(asio::ip::make_address("192.0.2.3")));
  b1 = {};
  EXPECT_TRUE(l.check_password(kB));

  // Over the counts of `l`, as after a reload; 0: no bound.
  Limits unbounded(l, 0, 0);
  std::vector<Limits::Ticket> many;
  for (int i = 0; i < 100; ++i)
    many.push_back(unbounded.check_password(kA));
  EXPECT_TRUE(std::all_of(many.begin(), many.end(), [](const auto& t) { return bool(t); }));
}

// Issue 17 item 8: full TLS handshakes before login are bounded per address
// and minute (a flood filled the shared session cache and took CPU).
TEST(LimitsTest, TlsHandshakesPerAddressAndMinute) {
  AddressRules rules;
  rules.max_handshakes_per_minute = 2;
  Limits l(0, 0, rules);
  const auto t0 = std::chrono::steady_clock::time_point() + std::chrono::hours(1);
  EXPECT_TRUE(l.allow_handshake(kA, t0));
  EXPECT_TRUE(l.allow_handshake(kA, t0 + std::chrono::seconds(10)));
  EXPECT_FALSE(l.allow_handshake(kA, t0 + std::chrono::seconds(59)));
  EXPECT_TRUE(l.allow_handshake(kB, t0 + std::chrono::seconds(59))); // another address
  EXPECT_FALSE(l.allow_handshake(asio::ip::make_address("::ffff:192.0.2.1"), t0));
  EXPECT_TRUE(l.allow_handshake(kA, t0 + std::chrono::seconds(60))); // a new minute
  Limits unbounded(0, 0);
  for (int i = 0; i < 1000; ++i)
    ASSERT_TRUE(unbounded.allow_handshake(kA, t0));
}

} // namespace
} // namespace berth::auth
