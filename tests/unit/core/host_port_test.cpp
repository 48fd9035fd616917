#include "core/host_port.hpp"

#include <gtest/gtest.h>

#include <string>
#include <system_error>

namespace berth::core {
namespace {

TEST(ParseHostPort, Ipv4) {
  auto hp = parse_host_port("192.0.2.7:2121");
  ASSERT_TRUE(hp) << hp.error().message();
  EXPECT_EQ(hp->host, "192.0.2.7");
  EXPECT_EQ(hp->port, 2121);
  EXPECT_FALSE(hp->v6);
}

TEST(ParseHostPort, Ipv6InBrackets) {
  auto hp = parse_host_port("[::1]:21");
  ASSERT_TRUE(hp) << hp.error().message();
  EXPECT_EQ(hp->host, "::1");
  EXPECT_EQ(hp->port, 21);
  EXPECT_TRUE(hp->v6);

  auto full = parse_host_port("[2001:db8::a:b]:65535");
  ASSERT_TRUE(full);
  EXPECT_EQ(full->host, "2001:db8::a:b");
  EXPECT_EQ(full->port, 65535);
}

TEST(ParseHostPort, PortZeroMeansAnyPort) {
  auto hp = parse_host_port("0.0.0.0:0");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->port, 0);
  auto hp6 = parse_host_port("[::]:0");
  ASSERT_TRUE(hp6);
  EXPECT_EQ(hp6->port, 0);
}

TEST(ParseHostPort, RejectsMalformed) {
  for (const char* text : {
           "",
           "1.2.3.4",       // no port
           "1.2.3.4:",      // empty port
           ":21",           // empty host
           "1.2.3.4:65536", // port out of range
           "1.2.3.4:99999999999",
           "1.2.3.4:-1",
           "1.2.3.4:+21",
           "1.2.3.4:21x",
           "1.2.3.4: 21",
           "1.2.3:21", // not a dotted quad
           "1.2.3.256:21",
           "localhost:21", // names are not literals
           "::1:21",       // IPv6 needs brackets
           "[::1]",        // no port
           "[::1]:",       // empty port
           "[::1]21",      // no colon after ']'
           "[::1:21",      // no ']'
           "[1.2.3.4]:21", // IPv4 in brackets
           "[]:21",
           "[zz::1]:21",
       }) {
    auto hp = parse_host_port(text);
    EXPECT_FALSE(hp) << '"' << text << '"';
    if (!hp) {
      EXPECT_EQ(hp.error(), std::make_error_code(std::errc::invalid_argument)) << text;
    }
  }
}

TEST(IsHostName, Rfc1123Names) {
  for (const char* ok : {"localhost", "ftp.example.org", "ftp.example.org.", "a-b.c1", "1a.example",
                         "xn--bcher-kva.example"})
    EXPECT_TRUE(is_host_name(ok)) << ok;
  for (const char* bad : {"", ".", "a..b", "-a.org", "a-.org", "a_b.org", "10.0.0.256", "1.2.3.4",
                          "a b", "a/b", "::1", "a.org.."})
    EXPECT_FALSE(is_host_name(bad)) << bad;
  EXPECT_FALSE(is_host_name(std::string_view("ex\0ample.org", 12)));
  std::string longest(63, 'a');
  longest.append(".org");
  EXPECT_TRUE(is_host_name(longest));
  longest.insert(0, "a");
  EXPECT_FALSE(is_host_name(longest)); // a label of 64
}

TEST(IsIpv4Literal, DottedQuadsOnly) {
  EXPECT_TRUE(is_ipv4_literal("127.0.0.1"));
  EXPECT_TRUE(is_ipv4_literal("0.0.0.0"));
  EXPECT_TRUE(is_ipv4_literal("255.255.255.255"));
  EXPECT_FALSE(is_ipv4_literal(""));
  EXPECT_FALSE(is_ipv4_literal("::1"));
  EXPECT_FALSE(is_ipv4_literal("1.2.3"));
  EXPECT_FALSE(is_ipv4_literal("1.2.3.4.5"));
  EXPECT_FALSE(is_ipv4_literal("256.1.1.1"));
  EXPECT_FALSE(is_ipv4_literal("example.org"));
}

// Found by the address fuzzer: inet_pton stopped at the NUL and the rest was kept.
TEST(ParseHostPort, RejectsNulInsideTheAddress) {
  using namespace std::string_literals;
  for (const std::string& text : {"1.2.3.4\0junk:21"s, "1.2.3.4\0:21"s, "[::1\0junk]:21"s}) {
    EXPECT_FALSE(parse_host_port(text)) << text.size();
  }
  EXPECT_FALSE(is_ipv4_literal("1.2.3.4\0junk"s));
}

TEST(FormatHostPort, BracketsIpv6) {
  EXPECT_EQ(format_host_port("1.2.3.4", 21), "1.2.3.4:21");
  EXPECT_EQ(format_host_port("::1", 2121), "[::1]:2121");
  EXPECT_EQ(format_host_port("0.0.0.0", 0), "0.0.0.0:0");
}

TEST(FormatHostPort, RoundTripsThroughParse) {
  for (const char* text : {"1.2.3.4:21", "[::1]:2121", "[2001:db8::1]:65535", "0.0.0.0:0"}) {
    auto hp = parse_host_port(text);
    ASSERT_TRUE(hp) << text;
    EXPECT_EQ(format_host_port(hp->host, hp->port), text);
  }
}

TEST(ParsePortRange, Valid) {
  auto r = parse_port_range("60000-65535");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->low, 60000);
  EXPECT_EQ(r->high, 65535);

  auto one = parse_port_range("5000-5000");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->low, 5000);
  EXPECT_EQ(one->high, 5000);

  auto all = parse_port_range("1-65535");
  ASSERT_TRUE(all);
  EXPECT_EQ(all->low, 1);
  EXPECT_EQ(all->high, 65535);
}

TEST(ParsePortRange, RejectsMalformed) {
  for (const char* text : {
           "5000-4000", // reversed
           "0-10",      // port 0
           "10-0",
           "70000-80000", // beyond 65535
           "1-65536",
           "",
           "-",
           "5000",
           "5000-",
           "-5000",
           "a-b",
           "1-2-3",
           " 1-2",
           "1 -2",
           "1-2 ",
       }) {
    auto r = parse_port_range(text);
    EXPECT_FALSE(r) << '"' << text << '"';
    if (!r) {
      EXPECT_EQ(r.error(), std::make_error_code(std::errc::invalid_argument)) << text;
    }
  }
}

} // namespace
} // namespace berth::core
