#include "auth/authorized_keys.hpp"

#include <gtest/gtest.h>

namespace berth::auth {
namespace {

const std::string kBlob = "AAAAC3NzaC1lZDI1NTE5AAAAIJ6d0Zb7JVgPp0kLzE0h3Rj2cwQy8bH1q0v3S4eXh6fo";
const std::string kOther = "AAAAC3NzaC1lZDI1NTE5AAAAIOtherOtherOtherOtherOtherOtherOtherOtherOt";

asio::ip::address ip(const char* text) {
  return asio::ip::make_address(text);
}

const auto kNow = std::chrono::system_clock::from_time_t(1'800'000'000); // 2027-01-15

TEST(AuthorizedKeys, PlainLineParses) {
  auto k = parse_authorized_key("ssh-ed25519 " + kBlob + " alice@laptop");
  ASSERT_TRUE(k);
  EXPECT_EQ(k->type, "ssh-ed25519");
  EXPECT_EQ(k->blob, kBlob);
  EXPECT_FALSE(k->from);
  EXPECT_TRUE(k->refusal.empty());
}

TEST(AuthorizedKeys, BlankCommentAndGarbageAreNotKeys) {
  EXPECT_FALSE(parse_authorized_key(""));
  EXPECT_FALSE(parse_authorized_key("   "));
  EXPECT_FALSE(parse_authorized_key("# ssh-ed25519 " + kBlob));
  EXPECT_FALSE(parse_authorized_key("hello world"));
  EXPECT_FALSE(parse_authorized_key("ssh-ed25519"));
  EXPECT_FALSE(parse_authorized_key("from=\"10.0.0.1 ssh-ed25519 " + kBlob)); // unterminated
  EXPECT_FALSE(parse_authorized_key("frobnicate ssh-ed25519 " + kBlob));      // unknown option
  EXPECT_FALSE(parse_authorized_key("expiry-time=\"2025\" ssh-ed25519 " + kBlob));
}

TEST(AuthorizedKeys, OptionsWithQuotedCommasAndSpaces) {
  auto k = parse_authorized_key("no-pty,from=\"10.0.0.0/8, 192.168.1.?\",restrict,"
                                "environment=\"A=\\\"b c\\\"\" ssh-ed25519 " +
                                kBlob + " c");
  ASSERT_TRUE(k);
  ASSERT_TRUE(k->from);
  EXPECT_EQ(*k->from, "10.0.0.0/8, 192.168.1.?");
  EXPECT_TRUE(k->refusal.empty());
}

TEST(AuthorizedKeys, ForcedCommandOnlyForSftp) {
  auto sftp = parse_authorized_key("command=\"internal-sftp -R\" ssh-ed25519 " + kBlob);
  ASSERT_TRUE(sftp);
  EXPECT_TRUE(sftp->refusal.empty());
  auto server =
      parse_authorized_key("command=\"/usr/lib/openssh/sftp-server\" ssh-ed25519 " + kBlob);
  ASSERT_TRUE(server);
  EXPECT_TRUE(server->refusal.empty());
  auto backup = parse_authorized_key("command=\"/usr/bin/rsync --server\" ssh-ed25519 " + kBlob);
  ASSERT_TRUE(backup);
  EXPECT_FALSE(backup->refusal.empty());
  auto ca = parse_authorized_key("cert-authority,principals=\"a,b\" ssh-ed25519 " + kBlob);
  ASSERT_TRUE(ca);
  EXPECT_TRUE(ca->refusal.empty());
  EXPECT_TRUE(ca->cert_authority);
  EXPECT_EQ(ca->principals, "a,b");
  // principals= belongs on a cert-authority line only (sshd refuses the line).
  EXPECT_FALSE(parse_authorized_key("principals=\"a\" ssh-ed25519 " + kBlob));
}

TEST(AuthorizedKeys, CertAuthorityLineIsNoPlainKey) {
  const std::vector<std::string> lines = {"cert-authority ssh-ed25519 " + kBlob};
  EXPECT_FALSE(check_authorized_keys(lines, "ssh-ed25519", kBlob, ip("127.0.0.1"),
                                     std::chrono::system_clock::now())
                   .allowed);
}

TEST(AuthorizedKeys, FromPatterns) {
  EXPECT_TRUE(from_allows("10.0.0.0/8", ip("10.1.2.3")));
  EXPECT_FALSE(from_allows("10.0.0.0/8", ip("11.1.2.3")));
  EXPECT_TRUE(from_allows("127.0.0.1", ip("127.0.0.1")));
  EXPECT_FALSE(from_allows("127.0.0.1", ip("127.0.0.2")));
  EXPECT_TRUE(from_allows("127.0.0.*", ip("127.0.0.2")));
  EXPECT_TRUE(from_allows("192.168.1.?", ip("192.168.1.7")));
  EXPECT_FALSE(from_allows("192.168.1.?", ip("192.168.1.17")));
  EXPECT_FALSE(from_allows("127.0.0.0/8,!127.0.0.3", ip("127.0.0.3")));
  EXPECT_TRUE(from_allows("127.0.0.0/8,!127.0.0.3", ip("127.0.0.2")));
  EXPECT_FALSE(from_allows("!127.0.0.3", ip("127.0.0.2"))); // negation alone allows nothing
  EXPECT_TRUE(from_allows("::1", ip("::1")));
  EXPECT_TRUE(from_allows("2001:db8::/32", ip("2001:db8:1::5")));
  EXPECT_FALSE(from_allows("2001:db8::/32", ip("2001:db9::5")));
  EXPECT_FALSE(from_allows("2001:db8::/32", ip("10.0.0.1")));
  EXPECT_TRUE(from_allows("10.0.0.0/8", ip("::ffff:10.9.8.7"))); // dual-stack socket
  EXPECT_FALSE(from_allows("10.0.0.0/33", ip("10.0.0.1")));
  EXPECT_FALSE(from_allows("10.0.0.0/", ip("10.0.0.1")));
  EXPECT_TRUE(from_allows("0.0.0.0/0", ip("203.0.113.9")));
}

TEST(AuthorizedKeys, CheckAppliesTheMatchingLine) {
  std::vector<std::string> lines = {
      "ssh-ed25519 " + kOther + " other",
      "from=\"127.0.0.2\" ssh-ed25519 " + kBlob + " limited",
  };
  EXPECT_TRUE(check_authorized_keys(lines, "ssh-ed25519", kBlob, ip("127.0.0.2"), kNow).allowed);
  auto d = check_authorized_keys(lines, "ssh-ed25519", kBlob, ip("127.0.0.1"), kNow);
  EXPECT_FALSE(d.allowed);
  EXPECT_NE(d.reason.find("from="), std::string::npos);
  EXPECT_FALSE(check_authorized_keys(lines, "ssh-rsa", kBlob, ip("127.0.0.2"), kNow).allowed);
  EXPECT_TRUE(check_authorized_keys(lines, "ssh-ed25519", kOther, ip("127.0.0.9"), kNow).allowed);
}

TEST(AuthorizedKeys, ExpiryTime) {
  std::vector<std::string> past = {"expiry-time=\"20260101Z\" ssh-ed25519 " + kBlob};
  std::vector<std::string> future = {"expiry-time=\"203001011200Z\" ssh-ed25519 " + kBlob};
  EXPECT_FALSE(check_authorized_keys(past, "ssh-ed25519", kBlob, ip("127.0.0.1"), kNow).allowed);
  EXPECT_TRUE(check_authorized_keys(future, "ssh-ed25519", kBlob, ip("127.0.0.1"), kNow).allowed);
}

// Found by the authorized_keys fuzzer: a year outside system_clock's range
// (1677 to 2262) overflowed while converting.
TEST(AuthorizedKeys, ExpiryTimeBeyondTheClock) {
  for (const char* far : {"99991231Z", "22630101", "22620411234717Z"}) {
    std::vector<std::string> lines = {std::string("expiry-time=\"") + far + "\" ssh-ed25519 " +
                                      kBlob};
    EXPECT_TRUE(check_authorized_keys(lines, "ssh-ed25519", kBlob, ip("127.0.0.1"), kNow).allowed)
        << far;
  }
  for (const char* past : {"10150615Z", "00010101", "16770101Z"}) {
    std::vector<std::string> lines = {std::string("expiry-time=\"") + past + "\" ssh-ed25519 " +
                                      kBlob};
    EXPECT_FALSE(check_authorized_keys(lines, "ssh-ed25519", kBlob, ip("127.0.0.1"), kNow).allowed)
        << past;
  }
}

TEST(AuthorizedKeys, RefusedLineDoesNotHideAnAllowedOne) {
  std::vector<std::string> lines = {
      "command=\"/bin/sh\" ssh-ed25519 " + kBlob,
      "ssh-ed25519 " + kBlob,
  };
  EXPECT_TRUE(check_authorized_keys(lines, "ssh-ed25519", kBlob, ip("127.0.0.1"), kNow).allowed);
  lines.pop_back();
  auto d = check_authorized_keys(lines, "ssh-ed25519", kBlob, ip("127.0.0.1"), kNow);
  EXPECT_FALSE(d.allowed);
  EXPECT_FALSE(d.reason.empty());
}

} // namespace
} // namespace berth::auth
