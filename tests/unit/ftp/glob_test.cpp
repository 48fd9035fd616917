#include "ftp/glob.hpp"

#include <gtest/gtest.h>

#include <string>

namespace berth::ftp {
namespace {

struct Case {
  const char* pattern;
  const char* name;
  bool match;
};

TEST(Glob, Matches) {
  const Case cases[] = {
      {"*", "a.txt", true},
      {"*.txt", "a.txt", true},
      {"*.txt", "a.txt.gz", false},
      {"*.txt", ".txt", false}, // hidden
      {"a?.txt", "ab.txt", true},
      {"a?.txt", "a.txt", false},
      {"a?.txt", "abc.txt", false},
      {"[ab]*", "apple", true},
      {"[ab]*", "banana", true},
      {"[ab]*", "cherry", false},
      {"[a-c]x", "bx", true},
      {"[a-c]x", "dx", false},
      {"[!a]x", "bx", true},
      {"[!a]x", "ax", false},
      {"[^a]x", "ax", false},
      {"[]]", "]", true},
      {"[!]]", "]", false},
      {"[a-]", "-", true},
      {"x[", "x[", true}, // not a class: matched as itself (see valid_pattern)
      {"**a", "bba", true},
      {"*a*b*c", "xaybzc", true},
      {"*a*b*c", "xaybz", false},
      {"", "", true},
      {"", "a", false},
      {"a", "", false},
      {"*", "", true},
      {"exact", "exact", true},
      {"ex*ct", "exct", true},
  };
  for (const auto& c : cases)
    EXPECT_EQ(glob_match(c.pattern, c.name, false), c.match) << c.pattern << " vs " << c.name;
}

TEST(Glob, DotfilesOnlyWhenAskedOrSpelled) {
  EXPECT_FALSE(glob_match("*", ".profile", false));
  EXPECT_TRUE(glob_match("*", ".profile", true));
  EXPECT_TRUE(glob_match(".*", ".profile", false));
  EXPECT_FALSE(glob_match("?profile", ".profile", false));
  EXPECT_FALSE(glob_match("[.]profile", ".profile", false));
}

TEST(Glob, WildcardsAndValidity) {
  EXPECT_TRUE(has_wildcard("*.txt"));
  EXPECT_TRUE(has_wildcard("a?"));
  EXPECT_TRUE(has_wildcard("[ab]"));
  EXPECT_FALSE(has_wildcard("plain.txt"));
  EXPECT_TRUE(valid_pattern("[ab]*"));
  EXPECT_TRUE(valid_pattern("[]]"));
  EXPECT_TRUE(valid_pattern("[a-z]"));
  EXPECT_FALSE(valid_pattern("[ab"));
  EXPECT_FALSE(valid_pattern("a["));
  EXPECT_FALSE(valid_pattern("[z-a]"));
  EXPECT_FALSE(valid_pattern("[!]"));
}

TEST(Glob, ManyStarsStayLinear) {
  // A backtracking matcher takes exponential time here.
  std::string pattern;
  for (int i = 0; i < 100; ++i)
    pattern += "*a";
  pattern += "b";
  const std::string name(255, 'a');
  EXPECT_FALSE(glob_match(pattern, name, false));
}

} // namespace
} // namespace berth::ftp
