#include "ftp/codec.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace berth::ftp {
namespace {

using namespace std::string_literals;

/// Everything a reader yields: text, or "<too long>".
std::vector<std::string> drain(LineReader& r) {
  std::vector<std::string> out;
  while (auto l = r.next())
    out.push_back(l->too_long ? "<too long>" : l->text);
  return out;
}

std::vector<std::string> lines_of(std::string_view input, std::size_t max_line = 64) {
  LineReader r(max_line);
  r.feed(input);
  return drain(r);
}

using Lines = std::vector<std::string>;

// --- LineReader -------------------------------------------------------------

TEST(LoggableCommand, PasswordsAreMasked) {
  EXPECT_EQ(loggable_command("PASS s3cret"), "PASS ****");
  EXPECT_EQ(loggable_command("pass s3cret"), "PASS ****");
  EXPECT_EQ(loggable_command("PaSs"), "PASS ****");
  EXPECT_EQ(loggable_command("PASS\ts3cret"), "PASS ****");
  EXPECT_EQ(loggable_command("  PASS s3cret"), "PASS ****");
  EXPECT_EQ(loggable_command("\xff\xf4PASS s3cret"), "PASS ****");
  EXPECT_EQ(loggable_command("PASSs3cret"), "PASS ****");
}

TEST(LoggableCommand, OtherCommandsAreShownWithoutControlCharacters) {
  EXPECT_EQ(loggable_command("USER alice"), "USER alice");
  EXPECT_EQ(loggable_command("RETR my file.txt"), "RETR my file.txt");
  EXPECT_EQ(loggable_command("STOR a\rb\x01"
                             "c\x7f"),
            "STOR a?b?c?");
  EXPECT_EQ(loggable_command("PAS x"), "PAS x");
  EXPECT_EQ(loggable_command(""), "");
}

TEST(LineReader, CrlfAndBareLf) {
  EXPECT_EQ(lines_of("USER a\r\nPASS b\r\n"), (Lines{"USER a", "PASS b"}));
  EXPECT_EQ(lines_of("USER a\nPASS b\n"), (Lines{"USER a", "PASS b"}));
  EXPECT_EQ(lines_of("NOOP\r\n\r\n\n"), (Lines{"NOOP", "", ""}));
  // Only a CR right before the LF is a terminator.
  EXPECT_EQ(lines_of("a\rb\r\n"), (Lines{"a\rb"}));
  EXPECT_EQ(lines_of("a\r\r\n"), (Lines{"a\r"}));
}

TEST(LineReader, IncompleteLineWaits) {
  LineReader r(64);
  r.feed("NOOP\r");
  EXPECT_EQ(r.pending(), 0u);
  EXPECT_FALSE(r.next());
  r.feed("\nQU");
  EXPECT_EQ(r.pending(), 1u);
  r.feed("IT\r\n");
  EXPECT_EQ(r.pending(), 2u);
  EXPECT_EQ(drain(r), (Lines{"NOOP", "QUIT"}));
  EXPECT_EQ(r.pending(), 0u);
  EXPECT_FALSE(r.next());
}

const std::string kSession = "USER anonymous\r\n"
                             "PASS x@y\r\n"
                             "\xFF\xF4\xFF\xF2"
                             "ABOR\r\n"
                             "STOR a\xFF\xFF"
                             "b\n"
                             "\xFF\xFB\x18"
                             "CWD  spaced dir \r\n"
                             "\r\n"s;
const Lines kSessionLines = {"USER anonymous",
                             "PASS x@y",
                             "ABOR",
                             "STOR a\xFF"
                             "b",
                             "CWD  spaced dir ",
                             ""};

TEST(LineReader, WholeSession) {
  EXPECT_EQ(lines_of(kSession), kSessionLines);
}

TEST(LineReader, ReadGrindOneByteAtATime) {
  LineReader r(64);
  Lines got;
  for (char c : kSession) {
    r.feed(std::string_view(&c, 1));
    for (auto& l : drain(r))
      got.push_back(l);
  }
  EXPECT_EQ(got, kSessionLines);
}

TEST(LineReader, EverySplitPoint) {
  for (std::size_t i = 0; i <= kSession.size(); ++i) {
    for (std::size_t j = i; j <= kSession.size(); ++j) {
      LineReader r(64);
      std::string_view s = kSession;
      r.feed(s.substr(0, i));
      r.feed(s.substr(i, j - i));
      r.feed(s.substr(j));
      ASSERT_EQ(drain(r), kSessionLines) << "split at " << i << ", " << j;
    }
  }
}

TEST(LineReader, TelnetCommandsAreStripped) {
  // RFC 959 4.1.3: IAC IP, IAC Synch (DM) before ABOR.
  EXPECT_EQ(lines_of("\xFF\xF4\xFF\xF2"
                     "ABOR\r\n"),
            (Lines{"ABOR"}));
  // Option negotiation: IAC WILL/WONT/DO/DONT and one option byte.
  EXPECT_EQ(lines_of("\xFF\xFB\x01NOOP\r\n"), (Lines{"NOOP"}));
  EXPECT_EQ(lines_of("\xFF\xFC\x01NOOP\r\n"), (Lines{"NOOP"}));
  EXPECT_EQ(lines_of("\xFF\xFD\x01NOOP\r\n"), (Lines{"NOOP"}));
  EXPECT_EQ(lines_of("\xFF\xFE\x01NOOP\r\n"), (Lines{"NOOP"}));
  // The option byte is swallowed even when it looks like data or a terminator.
  EXPECT_EQ(lines_of("NO\xFF\xFB"
                     "AOP\r\n"),
            (Lines{"NOOP"}));
  EXPECT_EQ(lines_of("NO\xFF\xFD\nOP\r\n"), (Lines{"NOOP"}));
  // Two-byte commands in the middle of a line.
  EXPECT_EQ(lines_of("NO\xFF\xF1OP\r\n"), (Lines{"NOOP"}));
}

TEST(LineReader, EscapedIacIsOneFfByte) {
  EXPECT_EQ(lines_of("RETR \xFF\xFF\r\n"), (Lines{"RETR \xFF"}));
  EXPECT_EQ(lines_of("\xFF\xFF\xFF\xFF\n"), (Lines{"\xFF\xFF"}));
  // IAC IAC IAC WILL x: one data byte, then a negotiation.
  EXPECT_EQ(lines_of("a\xFF\xFF\xFF\xFB\x01z\n"), (Lines{"a\xFF"
                                                         "z"}));
}

TEST(LineReader, TelnetSplitAcrossFeeds) {
  LineReader r(64);
  r.feed("NO\xFF");
  r.feed("\xFB");
  r.feed("\x18");
  r.feed("OP\xFF");
  r.feed("\xFF");
  r.feed("\r");
  r.feed("\n");
  EXPECT_EQ(drain(r), (Lines{"NOOP\xFF"}));
}

TEST(LineReader, LineOfExactlyMaxIsAccepted) {
  const std::string max(16, 'x');
  EXPECT_EQ(lines_of(max + "\r\n", 16), (Lines{max}));
  EXPECT_EQ(lines_of(max + "\n", 16), (Lines{max}));
}

TEST(LineReader, TooLongReportedOnceThenNextLineFine) {
  const std::string longer(17, 'x');
  EXPECT_EQ(lines_of(longer + "\r\nNOOP\r\n", 16), (Lines{"<too long>", "NOOP"}));
  const std::string huge(100000, 'y');
  EXPECT_EQ(lines_of("USER a\r\n" + huge + "\r\nPASS b\r\n", 16),
            (Lines{"USER a", "<too long>", "PASS b"}));
}

TEST(LineReader, TooLongWithBareLf) {
  // max_line bounds the line itself, whatever its terminator.
  const std::string longer(17, 'x');
  EXPECT_EQ(lines_of(longer + "\nNOOP\n", 16), (Lines{"<too long>", "NOOP"}));
}

TEST(LineReader, TooLongAcrossManyFeeds) {
  LineReader r(32);
  r.feed("NOOP\r\n");
  for (int i = 0; i < 1000; ++i) {
    r.feed("0123456789");
    EXPECT_LE(r.pending(), 1u);
  }
  r.feed("\r");
  r.feed("\nQUIT\r\n");
  auto first = r.next();
  ASSERT_TRUE(first);
  EXPECT_FALSE(first->too_long);
  EXPECT_EQ(first->text, "NOOP");
  auto second = r.next();
  ASSERT_TRUE(second);
  EXPECT_TRUE(second->too_long);
  EXPECT_TRUE(second->text.empty());
  auto third = r.next();
  ASSERT_TRUE(third);
  EXPECT_FALSE(third->too_long);
  EXPECT_EQ(third->text, "QUIT");
  EXPECT_FALSE(r.next());
}

TEST(LineReader, TooLongReadGrind) {
  LineReader r(8);
  std::string input(50, 'z');
  input += "\r\nok\r\n";
  Lines got;
  for (char c : input) {
    r.feed(std::string_view(&c, 1));
    for (auto& l : drain(r))
      got.push_back(l);
  }
  EXPECT_EQ(got, (Lines{"<too long>", "ok"}));
}

// --- parse_command ----------------------------------------------------------

TEST(ParseCommand, UpperCasesVerbKeepsArgument) {
  Command c = parse_command("stor My File.TXT");
  EXPECT_EQ(c.verb, "STOR");
  EXPECT_EQ(c.arg, "My File.TXT");
  EXPECT_TRUE(c.has_arg);

  Command x = parse_command("xMkD Dir");
  EXPECT_EQ(x.verb, "XMKD");
  EXPECT_EQ(x.arg, "Dir");
}

TEST(ParseCommand, ArgumentIsVerbatim) {
  Command c = parse_command("CWD  two spaces  ");
  EXPECT_EQ(c.verb, "CWD");
  EXPECT_EQ(c.arg, " two spaces  ");
  EXPECT_TRUE(c.has_arg);

  Command t = parse_command("RETR a\tb;c|d\xFF");
  EXPECT_EQ(t.arg, "a\tb;c|d\xFF");
}

TEST(ParseCommand, NoArgument) {
  Command c = parse_command("noop");
  EXPECT_EQ(c.verb, "NOOP");
  EXPECT_EQ(c.arg, "");
  EXPECT_FALSE(c.has_arg);

  Command trailing = parse_command("PWD ");
  EXPECT_EQ(trailing.verb, "PWD");
  EXPECT_FALSE(trailing.has_arg);

  Command empty = parse_command("");
  EXPECT_EQ(empty.verb, "");
  EXPECT_FALSE(empty.has_arg);
}

TEST(ParseCommand, OnlyAsciiLettersChangeCase) {
  Command c = parse_command("a1b-\xE9z x");
  EXPECT_EQ(c.verb, "A1B-\xE9Z");
  EXPECT_EQ(c.arg, "x");
}

// --- PORT / EPRT / PASV / EPSV ------------------------------------------------

TEST(ParsePortArg, Good) {
  auto a = parse_port_arg("127,0,0,1,4,1");
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->ip, "127.0.0.1");
  EXPECT_EQ(a->port, 1025);
  EXPECT_FALSE(a->v6);

  auto max = parse_port_arg("255,255,255,255,255,255");
  ASSERT_TRUE(max);
  EXPECT_EQ(max->ip, "255.255.255.255");
  EXPECT_EQ(max->port, 65535);

  auto zeros = parse_port_arg("010,0,0,001,0,21");
  ASSERT_TRUE(zeros);
  EXPECT_EQ(zeros->ip, "10.0.0.1");
  EXPECT_EQ(zeros->port, 21);
}

TEST(ParsePortArg, Bad) {
  for (const char* arg : {
           "",
           "256,0,0,1,4,1", // octet out of range
           "1,2,3,4,256,0", // port byte out of range
           "1,2,3,4,0,256",
           "1,2,3,4,5",     // too few
           "1,2,3,4,5,6,7", // too many
           "1,2,3,4,5,",    // empty field
           ",1,2,3,4,5",
           "1,,3,4,5,6",
           "a,b,c,d,e,f", // junk
           "1,2,3,4,5,6x",
           " 1,2,3,4,5,6",
           "1,2,3,4,5,6 ",
           "-1,2,3,4,5,6",
           "+1,2,3,4,5,6",
           "1.2.3.4,5,6",
           "1;2;3;4;5;6",
           "1,2,3,4,5,99999999999",
           "1,2,3,4,5,0x10",
       }) {
    auto a = parse_port_arg(arg);
    EXPECT_FALSE(a) << '"' << arg << '"';
    if (!a) {
      EXPECT_EQ(a.error(), std::errc::invalid_argument) << arg;
    }
  }
}

TEST(ParseModeZOpts, LevelOneToNine) {
  EXPECT_EQ(parse_mode_z_opts("Z LEVEL 1").value(), 1);
  EXPECT_EQ(parse_mode_z_opts("z level 9").value(), 9);
  EXPECT_EQ(parse_mode_z_opts("Z  LEVEL  5").value(), 5);
  for (const char* bad : {"", "Z", "Z LEVEL", "Z LEVEL 0", "Z LEVEL 10", "Z LEVEL x", "S LEVEL 5",
                          "Z LEVEL 5 6", "Z LEVELS 5", "Z ENGINE zlib", "Z LEVEL -1"})
    EXPECT_FALSE(parse_mode_z_opts(bad)) << bad;
}

TEST(ParseEprtArg, Ipv4AndIpv6) {
  auto v4 = parse_eprt_arg("|1|132.235.1.2|6275|");
  ASSERT_TRUE(v4) << v4.error().message();
  EXPECT_EQ(v4->ip, "132.235.1.2");
  EXPECT_EQ(v4->port, 6275);
  EXPECT_FALSE(v4->v6);

  auto v6 = parse_eprt_arg("|2|1080::8:800:200C:417A|5282|");
  ASSERT_TRUE(v6) << v6.error().message();
  EXPECT_EQ(v6->ip, "1080::8:800:200C:417A");
  EXPECT_EQ(v6->port, 5282);
  EXPECT_TRUE(v6->v6);

  auto lo = parse_eprt_arg("|2|::1|65535|");
  ASSERT_TRUE(lo);
  EXPECT_EQ(lo->ip, "::1");
  EXPECT_EQ(lo->port, 65535);
}

TEST(ParseEprtArg, OtherDelimiters) {
  for (const char* arg : {"!1!10.0.0.1!21!", "#1#10.0.0.1#21#", "~2~::1~21~"}) {
    auto a = parse_eprt_arg(arg);
    ASSERT_TRUE(a) << arg;
    EXPECT_EQ(a->port, 21);
  }
}

TEST(ParseEprtArg, Bad) {
  for (const char* arg : {
           "",
           "|1|",
           "|1|1.2.3.4|21",  // no closing delimiter
           "1|1.2.3.4|21|",  // no opening delimiter
           "|1|1.2.3.4|21!", // mismatched delimiters
           " 1 1.2.3.4 21 ", // space is not a delimiter
           "\x7F"
           "1\x7F"
           "1.2.3.4\x7F"
           "21\x7F",           // DEL is not a delimiter
           "|1|1.2.3.4|",      // missing port
           "|1|1.2.3.4||",     // empty port
           "|1|1.2.3.4|21|x|", // extra field
           "|1||21|",          // empty address
           "|1|::1|21|",       // family mismatch
           "|2|1.2.3.4|21|",
           "|1|1.2.3.256|21|",
           "|1|localhost|21|",
           "|1|1.2.3.4|0|", // port 0
           "|1|1.2.3.4|65536|",
           "|1|1.2.3.4|-21|",
           "|1|1.2.3.4|21x|",
           "|1|1.2.3.4|999999|",
       }) {
    auto a = parse_eprt_arg(arg);
    EXPECT_FALSE(a) << '"' << arg << '"';
    if (!a) {
      EXPECT_EQ(a.error(), std::errc::invalid_argument) << arg;
    }
  }
}

// Found by the address fuzzer: inet_pton stopped at the NUL and the address
// was accepted with the bytes after it.
TEST(ParseEprtArg, NulInsideTheAddress) {
  for (const std::string& arg : {"|1|1.2.3.4\0junk|5282|"s, "|2|20::1\0\0\0|65535|"s}) {
    auto a = parse_eprt_arg(arg);
    ASSERT_FALSE(a) << arg.size();
    EXPECT_EQ(a.error(), std::errc::invalid_argument);
  }
}

TEST(ParseEprtArg, UnsupportedProtocol) {
  for (const char* arg :
       {"|3|1.2.3.4|21|", "|0|1.2.3.4|21|", "|12|1.2.3.4|21|", "|x|1.2.3.4|21|"}) {
    auto a = parse_eprt_arg(arg);
    ASSERT_FALSE(a) << arg;
    EXPECT_EQ(a.error(), std::errc::protocol_not_supported) << arg;
  }
}

TEST(FormatPasv, CommasAndPortBytes) {
  EXPECT_EQ(format_pasv("192.168.1.2", 1025), "Entering Passive Mode (192,168,1,2,4,1).");
  EXPECT_EQ(format_pasv("10.0.0.1", 65535), "Entering Passive Mode (10,0,0,1,255,255).");
  EXPECT_EQ(format_pasv("127.0.0.1", 21), "Entering Passive Mode (127,0,0,1,0,21).");
}

TEST(FormatPasv, RoundTripsThroughPortParser) {
  const std::uint16_t ports[] = {1, 255, 256, 1025, 50000, 65535};
  for (std::uint16_t port : ports) {
    std::string reply = format_pasv("203.0.113.9", port);
    auto open = reply.find('(');
    auto close = reply.find(')');
    ASSERT_NE(open, std::string::npos);
    ASSERT_NE(close, std::string::npos);
    auto a = parse_port_arg(std::string_view(reply).substr(open + 1, close - open - 1));
    ASSERT_TRUE(a) << reply;
    EXPECT_EQ(a->ip, "203.0.113.9");
    EXPECT_EQ(a->port, port);
  }
}

TEST(FormatEpsv, Format) {
  EXPECT_EQ(format_epsv(6446), "Entering Extended Passive Mode (|||6446|)");
  EXPECT_EQ(format_epsv(65535), "Entering Extended Passive Mode (|||65535|)");
}

} // namespace
} // namespace berth::ftp
