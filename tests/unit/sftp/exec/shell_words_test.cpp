#include "sftp/exec/shell_words.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace berth::sftp::exec {
namespace {

using W = std::vector<std::string>;

W words(std::string_view line) {
  Words w = split_words(line);
  EXPECT_TRUE(w.error.empty()) << line << ": " << w.error;
  return w.words;
}

std::string_view error(std::string_view line) {
  Words w = split_words(line);
  EXPECT_TRUE(w.words.empty()) << line;
  return w.error;
}

TEST(ShellWords, SplitsAtBlanks) {
  EXPECT_EQ(words("md5sum a.txt"), (W{"md5sum", "a.txt"}));
  EXPECT_EQ(words("  md5sum\t a  b\n"), (W{"md5sum", "a", "b"}));
  EXPECT_EQ(words(""), W{});
  EXPECT_EQ(words(" \t\n"), W{});
}

TEST(ShellWords, SingleQuotesKeepEveryByte) {
  // rclone 1.61+ quotes paths so; a quote inside is '\''.
  EXPECT_EQ(words("md5sum 'a b.txt'"), (W{"md5sum", "a b.txt"}));
  EXPECT_EQ(words("md5sum 'it'\\''s'"), (W{"md5sum", "it's"}));
  EXPECT_EQ(words("md5sum 'a\\b\"$x;|'"), (W{"md5sum", "a\\b\"$x;|"}));
  EXPECT_EQ(words("md5sum 'line\nbreak'"), (W{"md5sum", "line\nbreak"}));
  EXPECT_EQ(words("echo ''"), (W{"echo", ""}));
  EXPECT_EQ(words("echo a''b"), (W{"echo", "ab"}));
}

TEST(ShellWords, BackslashesAsRcloneSendsThem) {
  // rclone 1.60 escapes every byte but [A-Za-z0-9_.,:/@-] with a backslash
  // and a newline as '\n' in quotes.
  EXPECT_EQ(words("md5sum a\\ b\\(1\\).txt"), (W{"md5sum", "a b(1).txt"}));
  EXPECT_EQ(words("md5sum x'\n'y"), (W{"md5sum", "x\ny"}));
  EXPECT_EQ(words("md5sum a\\\\b"), (W{"md5sum", "a\\b"}));
  EXPECT_EQ(words("md5sum a\\\nb"), (W{"md5sum", "ab"})); // \ newline joins
}

TEST(ShellWords, DoubleQuotes) {
  EXPECT_EQ(words("md5sum \"a b\""), (W{"md5sum", "a b"}));
  EXPECT_EQ(words("echo \"\\$x \\\" \\\\ \\a\""), (W{"echo", "$x \" \\ \\a"}));
  EXPECT_EQ(words("echo \"'\""), (W{"echo", "'"}));
}

TEST(ShellWords, NothingIsExpanded) {
  EXPECT_EQ(words("echo ${ShellType}%ShellType%"), (W{"echo", "${ShellType}%ShellType%"}));
  EXPECT_EQ(words("md5sum *.txt ~ a#b"), (W{"md5sum", "*.txt", "~", "a#b"}));
}

TEST(ShellWords, RefusesWhatOnlyAShellCouldDo) {
  for (const char* line : {"md5sum a; id", "md5sum a | sh", "md5sum a && id", "md5sum a > b",
                           "md5sum < a", "md5sum $(id)", "md5sum `id`", "(id)"})
    EXPECT_EQ(error(line), "shell syntax is not supported") << line;
  // Quoted, they are plain bytes.
  EXPECT_EQ(words("md5sum 'a; id' \"b|c\" d\\&e"), (W{"md5sum", "a; id", "b|c", "d&e"}));
}

TEST(ShellWords, RefusesBrokenQuoting) {
  EXPECT_EQ(error("md5sum 'a"), "unterminated quote");
  EXPECT_EQ(error("md5sum \"a"), "unterminated quote");
  EXPECT_EQ(error("md5sum \"a\\\""), "unterminated quote");
  EXPECT_EQ(error("md5sum a\\"), "backslash at the end of the line");
}

TEST(ShellWords, Bounds) {
  EXPECT_EQ(error(std::string(kMaxCommandLine + 1, 'a')), "command line too long");
  EXPECT_EQ(words(std::string(kMaxCommandLine, 'a')).size(), 1u);
  std::string many;
  for (std::size_t i = 0; i < kMaxWords; ++i)
    many += "a ";
  EXPECT_EQ(words(many).size(), kMaxWords);
  EXPECT_EQ(error(many + "b"), "too many words");
  EXPECT_EQ(error(many + "''"), "too many words");
}

} // namespace
} // namespace berth::sftp::exec
