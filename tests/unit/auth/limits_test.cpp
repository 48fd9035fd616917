#include "auth/limits.hpp"

#include <gtest/gtest.h>

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

} // namespace
} // namespace berth::auth
