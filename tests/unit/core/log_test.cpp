#include "core/log.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <algorithm>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace berth::core {
namespace {

std::string json(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

TEST(JsonLog, PlainTextIsQuoted) {
  EXPECT_EQ(json(""), "\"\"");
  EXPECT_EQ(json("ftp: 127.0.0.1 logged in as alice"), "\"ftp: 127.0.0.1 logged in as alice\"");
}

TEST(JsonLog, QuotesBackslashesAndControlsAreEscaped) {
  EXPECT_EQ(json("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(json("line\nnext\r\tend"), "\"line\\nnext\\r\\tend\"");
  EXPECT_EQ(json(std::string_view("\0\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001f\\u007f\"");
}

TEST(JsonLog, Utf8IsKeptAndBrokenUtf8Replaced) {
  EXPECT_EQ(json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  EXPECT_EQ(json("a\xffz"), "\"a\\ufffdz\"");                              // never a UTF-8 byte
  EXPECT_EQ(json("a\xc3"), "\"a\\ufffd\"");                                // truncated sequence
  EXPECT_EQ(json("\xc0\xaf"), "\"\\ufffd\\ufffd\"");                       // overlong '/'
  EXPECT_EQ(json("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");            // a surrogate
  EXPECT_EQ(json("\xf4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); // past U+10FFFF
}

TEST(JsonLog, LineHasTimeLevelMessageThenFields) {
  using namespace std::chrono;
  const system_clock::time_point t =
      system_clock::time_point(seconds(1795505400)) + milliseconds(7); // 2026-11-24T07:30:00Z
  const std::vector<LogField> fields{{"event", "transfer"}, {"bytes", std::uint64_t{1048576}},
                                     {"code", -1},          {"duration_s", 0.25},
                                     {"ok", true},          {"path", "/a \"b\""}};
  EXPECT_EQ(format_json_line(t, "info", "ftp: done", fields),
            "{\"time\":\"2026-11-24T07:30:00.007Z\",\"level\":\"info\",\"msg\":\"ftp: done\","
            "\"event\":\"transfer\",\"bytes\":1048576,\"code\":-1,\"duration_s\":0.25,"
            "\"ok\":true,\"path\":\"/a \\\"b\\\"\"}");
}

TEST(JsonLog, NonFiniteNumbersAreNull) {
  const std::vector<LogField> fields{{"x", std::numeric_limits<double>::infinity()}};
  auto line = format_json_line(std::chrono::system_clock::time_point(), "warning", "m", fields);
  EXPECT_EQ(line, "{\"time\":\"1970-01-01T00:00:00.000Z\",\"level\":\"warning\",\"msg\":\"m\","
                  "\"x\":null}");
}

// Issue 17 item 17: a client's bytes in a message (a user name, libssh's error
// text quoting a client's algorithm list) can not begin a forged line.
TEST(TextLog, ControlCharactersOfEveryMessageAreEscaped) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger logger("test", sink);
  logger.set_formatter(make_text_formatter());
  logger.info("sftp: key exchange failed: no match for {}",
              "x\n2026-11-24T07:30:00.000 info sftp: 10.0.0.1 logged in as root\r\x1b[2J");
  logger.info("plain line");
  const std::string text = out.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << text;
  EXPECT_NE(text.find("no match for x\\x0a2026-11-24T07:30:00.000 info sftp: 10.0.0.1 logged in "
                      "as root\\x0d\\x1b[2J\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(" info plain line\n"), std::string::npos) << text;
}

} // namespace
} // namespace berth::core
