#include "core/cidr.hpp"

#include <gtest/gtest.h>

namespace berth::core {
namespace {

asio::ip::address addr(const char* s) {
  return asio::ip::make_address(s);
}

TEST(CidrTest, BlocksAndSingleAddresses) {
  auto list = CidrList::parse({"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"});
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->contains(addr("10.1.2.3")));
  EXPECT_TRUE(list->contains(addr("192.0.2.7")));
  EXPECT_FALSE(list->contains(addr("192.0.2.8")));
  EXPECT_TRUE(list->contains(addr("2001:db8:1::5")));
  EXPECT_FALSE(list->contains(addr("2001:db9::1")));
  EXPECT_TRUE(list->contains(addr("::ffff:10.9.9.9"))); // IPv4-mapped
  EXPECT_FALSE(CidrList().contains(addr("10.0.0.1")));
}

TEST(CidrTest, MalformedBlocksAreRefused) {
  std::string bad;
  for (const char* b :
       {"10.0.0.0/33", "10.0.0.0/", "nonsense", "10.0.0.1/8", "::/129", "1.2.3.4/x"}) {
    EXPECT_FALSE(CidrList::parse({b}, &bad)) << b;
    EXPECT_EQ(bad, b);
    EXPECT_FALSE(valid_cidr(b)) << b;
  }
  EXPECT_TRUE(valid_cidr("0.0.0.0/0"));
  EXPECT_TRUE(valid_cidr("::1"));
}

} // namespace
} // namespace berth::core
