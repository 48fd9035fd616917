#include "ftp/reply.hpp"

#include "core/errc.hpp"
#include "vfs/errc.hpp"

#include <gtest/gtest.h>

#include <string>
#include <system_error>

namespace berth::ftp {
namespace {

/// The number of CRLF-terminated lines in a wire reply.
std::size_t line_count(const std::string& wire) {
  std::size_t n = 0;
  for (std::size_t i = wire.find("\r\n"); i != std::string::npos; i = wire.find("\r\n", i + 2))
    ++n;
  return n;
}

TEST(Encode, SingleLine) {
  EXPECT_EQ(encode(Reply::of(200, "Command okay.")), "200 Command okay.\r\n");
  EXPECT_EQ(encode(Reply::of(220, "")), "220 \r\n");
  EXPECT_FALSE(Reply::of(200, "x").is_multi());
}

TEST(Encode, MultiLine) {
  Reply r = Reply::multi(211, "Features:", {" MDTM", " SIZE", " UTF8"}, "End");
  EXPECT_TRUE(r.is_multi());
  EXPECT_EQ(encode(r), "211-Features:\r\n"
                       " MDTM\r\n"
                       " SIZE\r\n"
                       " UTF8\r\n"
                       "211 End\r\n");
}

TEST(Encode, MultiLineWithOnlyLastLine) {
  Reply r = Reply::multi(230, "Welcome", {}, "Logged in.");
  EXPECT_TRUE(r.is_multi());
  EXPECT_EQ(encode(r), "230-Welcome\r\n230 Logged in.\r\n");
}

TEST(Encode, CrLfInTextCannotInjectReplies) {
  EXPECT_EQ(encode(Reply::of(550, "a\r\n230 Logged in")), "550 a  230 Logged in\r\n");
  EXPECT_EQ(encode(Reply::of(550, "a\nb\rc")), "550 a b c\r\n");

  Reply r = Reply::multi(213, "x\r\n213 fake", {"mid\r\n213 end", "ok\n"}, "last\r\n200 y");
  std::string wire = encode(r);
  EXPECT_EQ(line_count(wire), 4u) << wire;
  EXPECT_EQ(wire, "213-x  213 fake\r\n"
                  "mid  213 end\r\n"
                  "ok \r\n"
                  "213 last  200 y\r\n");
}

TEST(Encode, MiddleLineLookingLikeLastGetsSpace) {
  Reply r =
      Reply::multi(211, "Status", {"123 x", "211 End", "1234 y", "12 z", "abc d", "211-ok"}, "End");
  EXPECT_EQ(encode(r), "211-Status\r\n"
                       " 123 x\r\n"
                       " 211 End\r\n"
                       "1234 y\r\n"
                       "12 z\r\n"
                       "abc d\r\n"
                       "211-ok\r\n"
                       "211 End\r\n");
}

TEST(Encode, MiddleLineBreakAfterCodeCannotEndReply) {
  // The line-break cleaning must not turn a middle line into "211 ...".
  Reply r = Reply::multi(211, "Status", {"211\r\nfake end", "123\nx"}, "End");
  EXPECT_EQ(encode(r), "211-Status\r\n"
                       " 211  fake end\r\n"
                       " 123 x\r\n"
                       "211 End\r\n");
}

TEST(Encode, NoLineButTheLastStartsWithCodeAndSpace) {
  // Whatever the texts, exactly one line starts "CODE " (RFC 959 4.2).
  const std::string texts[] = {"211 x", "211 ", "\r\n211 y", "211\r\n211 z", "ok"};
  for (const auto& a : texts) {
    for (const auto& b : texts) {
      std::string wire = encode(Reply::multi(211, a, {b, a}, b));
      std::size_t last_like = 0;
      std::size_t start = 0;
      while (start < wire.size()) {
        auto end = wire.find("\r\n", start);
        ASSERT_NE(end, std::string::npos);
        if (wire.compare(start, 4, "211 ") == 0)
          ++last_like;
        start = end + 2;
      }
      EXPECT_EQ(last_like, 1u) << wire;
    }
  }
}

// STAT of a large directory sends its reply in parts as the listing is read
// (issue 19): the parts put together are the reply encode() makes.
TEST(Encode, PartsOfAMultiLineReplyMakeTheWhole) {
  const std::vector<std::string> lines = {" one", "213 looks last", "a\r\n213 x"};
  EXPECT_EQ(encode_first(213, "Status of /d:") + encode_middle(lines) +
                encode_last(213, "End of status"),
            encode(Reply::multi(213, "Status of /d:", lines, "End of status")));
  EXPECT_EQ(encode_first(213, "x\r\n500 y"), "213-x  500 y\r\n");
  EXPECT_EQ(encode_middle({}), "");
}

TEST(ReplyFor, EachVfsError) {
  struct Case {
    vfs::Errc e;
    int code;
  };
  for (auto c : {Case{vfs::Errc::not_found, 550}, Case{vfs::Errc::exists, 550},
                 Case{vfs::Errc::not_directory, 550}, Case{vfs::Errc::is_directory, 550},
                 Case{vfs::Errc::not_empty, 550}, Case{vfs::Errc::permission_denied, 550},
                 Case{vfs::Errc::invalid_name, 553}, Case{vfs::Errc::no_space, 452},
                 Case{vfs::Errc::io_error, 451}, Case{vfs::Errc::quota_exceeded, 552},
                 Case{vfs::Errc::too_many_open_files, 450}, Case{vfs::Errc::unsupported, 504},
                 Case{vfs::Errc::unavailable, 451}}) {
    Reply r = reply_for(make_error_code(c.e));
    EXPECT_EQ(r.code, c.code) << make_error_code(c.e).message();
    EXPECT_FALSE(r.text.empty());
    EXPECT_FALSE(r.is_multi());
  }
  EXPECT_EQ(reply_for(make_error_code(vfs::Errc::not_found)).text, "No such file or directory.");
  EXPECT_EQ(reply_for(make_error_code(vfs::Errc::exists)).text, "File exists.");
  EXPECT_EQ(reply_for(make_error_code(vfs::Errc::not_empty)).text, "Directory not empty.");
  EXPECT_EQ(reply_for(make_error_code(vfs::Errc::permission_denied)).text, "Permission denied.");
  EXPECT_EQ(reply_for(make_error_code(vfs::Errc::quota_exceeded)).text, "Quota exceeded.");
  EXPECT_EQ(reply_for(make_error_code(vfs::Errc::unsupported)).text,
            "Not supported by this storage.");
  EXPECT_EQ(reply_for(make_error_code(vfs::Errc::unavailable)).text,
            "Storage unavailable; try again later.");
}

TEST(ReplyFor, OtherErrorsAreLocalErrors) {
  for (std::error_code ec :
       {std::make_error_code(std::errc::no_such_file_or_directory),
        std::make_error_code(std::errc::io_error), make_error_code(core::Errc::timed_out),
        std::error_code(5, std::system_category())}) {
    Reply r = reply_for(ec);
    EXPECT_EQ(r.code, 451) << ec.message();
    EXPECT_EQ(r.text, "Local error in processing.");
  }
}

} // namespace
} // namespace berth::ftp
