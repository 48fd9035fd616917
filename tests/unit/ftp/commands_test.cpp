#include "ftp/commands.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <string_view>

namespace berth::ftp {
namespace {

using A = ArgRule;

struct Expected {
  ArgRule arg;
  bool needs_login;
};

// What every verb promises a client: its argument rule and whether it needs a
// login. Changing the table means changing this on purpose.
const std::map<std::string_view, Expected> kExpected = {
    {"ABOR", {A::none, false}},
    {"ALLO", {A::required, true}},
    {"APPE", {A::required, true}},
    {"CDUP", {A::none, true}},
    {"CWD", {A::optional, true}},
    {"DELE", {A::required, true}},
    {"EPRT", {A::required, true}},
    {"EPSV", {A::optional, true}},
    {"FEAT", {A::none, false}},
    {"HASH", {A::required, true}},
    {"HELP", {A::optional, false}},
    {"HOST", {A::required, false}},
    {"LIST", {A::optional, true}},
    {"MDTM", {A::required, true}},
    {"MFF", {A::required, true}},
    {"MFMT", {A::required, true}},
    {"MKD", {A::required, true}},
    {"MLSD", {A::optional, true}},
    {"MLST", {A::optional, true}},
    {"MODE", {A::required, false}},
    {"NLST", {A::optional, true}},
    {"NOOP", {A::none, false}},
    {"OPTS", {A::required, false}},
    {"PASS", {A::optional, false}},
    {"PASV", {A::none, true}},
    {"PORT", {A::required, true}},
    {"PWD", {A::none, true}},
    {"QUIT", {A::none, false}},
    {"RANG", {A::required, true}},
    {"REIN", {A::none, false}},
    {"REST", {A::required, true}},
    {"RETR", {A::required, true}},
    {"RMD", {A::required, true}},
    {"RNFR", {A::required, true}},
    {"RNTO", {A::required, true}},
    {"SIZE", {A::required, true}},
    {"STAT", {A::optional, false}},
    {"STOR", {A::required, true}},
    {"STOU", {A::optional, true}},
    {"STRU", {A::required, false}},
    {"SYST", {A::none, false}},
    {"TYPE", {A::required, false}},
    {"USER", {A::required, false}},
    {"XCUP", {A::none, true}},
    {"XCWD", {A::optional, true}},
    {"XMKD", {A::required, true}},
    {"XPWD", {A::none, true}},
    {"XRMD", {A::required, true}},
    // Extensions clients send (issue 18)
    {"AVBL", {A::optional, true}},
    {"CLNT", {A::required, false}},
    {"LANG", {A::optional, false}},
    {"SITE", {A::required, true}},
    {"XCRC", {A::required, true}},
    {"XMD5", {A::required, true}},
    {"XSHA1", {A::required, true}},
    {"XSHA256", {A::required, true}},
    {"XSHA512", {A::required, true}},
    // RFC 4217
    {"AUTH", {A::required, false}},
    {"CCC", {A::none, false}},
    {"PBSZ", {A::required, false}},
    {"PROT", {A::required, false}},
};

TEST(CommandTable, StrictlySortedByVerb) {
  auto table = command_table();
  ASSERT_FALSE(table.empty());
  for (std::size_t i = 1; i < table.size(); ++i)
    EXPECT_LT(table[i - 1].verb, table[i].verb) << "at row " << i;
}

TEST(CommandTable, FindCommandFindsEveryRow) {
  for (const auto& row : command_table()) {
    const CommandSpec* found = find_command(row.verb);
    ASSERT_NE(found, nullptr) << row.verb;
    EXPECT_EQ(found, &row) << row.verb;
    // Also from a string that does not share the table's storage.
    EXPECT_EQ(find_command(std::string(row.verb)), &row) << row.verb;
  }
}

TEST(CommandTable, FindCommandRejectsUnknownVerbs) {
  for (std::string_view verb : {"", "A", "AAAA", "ZZZZ", "FOO", "STO", "STORE", "STOR ", " STOR",
                                "stor", "Retr", "XPW", "XPWDX", "XSHA", "ACCT"}) {
    EXPECT_EQ(find_command(verb), nullptr) << '"' << verb << '"';
  }
}

TEST(CommandTable, RowsAreWellFormed) {
  for (const auto& row : command_table()) {
    SCOPED_TRACE(std::string(row.verb));
    EXPECT_GE(row.verb.size(), 3u);
    // RFC 959 verbs have 3 or 4 letters; the hash extensions add digits (XSHA256).
    EXPECT_LE(row.verb.size(), 7u);
    auto digits =
        std::find_if(row.verb.begin(), row.verb.end(), [](char c) { return c >= '0' && c <= '9'; });
    EXPECT_LE(digits - row.verb.begin(), 4);
    EXPECT_TRUE(std::all_of(row.verb.begin(), digits, [](char c) { return c >= 'A' && c <= 'Z'; }));
    EXPECT_TRUE(std::all_of(digits, row.verb.end(), [](char c) { return c >= '0' && c <= '9'; }));
    EXPECT_NE(row.handler, nullptr);
    EXPECT_FALSE(row.help.empty());
    // HELP shows the verb's own syntax.
    EXPECT_EQ(row.help.substr(0, row.verb.size()), row.verb);
    EXPECT_TRUE(row.help.size() == row.verb.size() || row.help[row.verb.size()] == ' ');
    // A verb that takes no argument documents none.
    if (row.arg == ArgRule::none) {
      EXPECT_EQ(row.help, row.verb);
    }
    EXPECT_EQ(row.feat.find('\r'), std::string_view::npos);
    EXPECT_EQ(row.feat.find('\n'), std::string_view::npos);
  }
}

TEST(CommandTable, MatchesExpectedRules) {
  std::set<std::string_view> seen;
  for (const auto& row : command_table()) {
    SCOPED_TRACE(std::string(row.verb));
    seen.insert(row.verb);
    auto it = kExpected.find(row.verb);
    ASSERT_NE(it, kExpected.end()) << "verb not in the expected list";
    EXPECT_EQ(row.arg, it->second.arg);
    EXPECT_EQ(row.needs_login, it->second.needs_login);
  }
  for (const auto& [verb, e] : kExpected)
    EXPECT_TRUE(seen.count(verb)) << verb << " is missing from the table";
}

TEST(CommandTable, FileAccessNeedsLogin) {
  // Every verb that can touch files or open a data connection needs a login.
  for (std::string_view verb :
       {"APPE", "CDUP", "CWD",  "DELE", "EPRT", "EPSV",  "HASH",    "LIST",   "MDTM", "MFF",
        "MFMT", "MKD",  "MLSD", "MLST", "NLST", "PASV",  "PORT",    "PWD",    "REST", "RETR",
        "RMD",  "RNFR", "RNTO", "SIZE", "STOR", "STOU",  "XCUP",    "XCWD",   "XMKD", "XPWD",
        "XRMD", "SITE", "AVBL", "XCRC", "XMD5", "XSHA1", "XSHA256", "XSHA512"}) {
    const CommandSpec* row = find_command(verb);
    ASSERT_NE(row, nullptr) << verb;
    EXPECT_TRUE(row->needs_login) << verb;
  }
}

TEST(CommandTable, AliasesShareHandlers) {
  const std::pair<std::string_view, std::string_view> aliases[] = {
      {"XPWD", "PWD"}, {"XCWD", "CWD"}, {"XCUP", "CDUP"}, {"XMKD", "MKD"}, {"XRMD", "RMD"}};
  for (auto [alias, verb] : aliases) {
    SCOPED_TRACE(std::string(alias));
    const CommandSpec* a = find_command(alias);
    const CommandSpec* v = find_command(verb);
    ASSERT_NE(a, nullptr);
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(a->handler, v->handler);
    EXPECT_EQ(a->arg, v->arg);
    EXPECT_EQ(a->needs_login, v->needs_login);
    EXPECT_TRUE(a->feat.empty()); // FEAT lists a feature once
  }
}

TEST(CommandTable, OnlyAliasesShareHandlers) {
  std::map<Handler, std::vector<std::string_view>> by_handler;
  for (const auto& row : command_table())
    by_handler[row.handler].push_back(row.verb);
  for (const auto& [handler, verbs] : by_handler) {
    if (verbs.size() > 1) {
      EXPECT_EQ(verbs.size(), 2u);
      EXPECT_THAT(verbs, ::testing::AnyOf(::testing::ElementsAre("CDUP", "XCUP"),
                                          ::testing::ElementsAre("CWD", "XCWD"),
                                          ::testing::ElementsAre("MKD", "XMKD"),
                                          ::testing::ElementsAre("PWD", "XPWD"),
                                          ::testing::ElementsAre("RMD", "XRMD")));
    }
  }
}

TEST(CommandTable, FeatLines) {
  std::set<std::string_view> feats;
  for (const auto& row : command_table())
    if (!row.feat.empty())
      feats.insert(row.feat);
  EXPECT_THAT(feats,
              ::testing::IsSupersetOf({std::string_view("EPRT"), std::string_view("EPSV"),
                                       std::string_view("MDTM"), std::string_view("SIZE"),
                                       std::string_view("REST STREAM"), std::string_view("UTF8")}));
}

} // namespace
} // namespace berth::ftp

namespace berth::ftp {
namespace {

// tls = "required" (RFC 4217): login needs a TLS control connection, and every
// verb that opens a data connection needs PROT P.
TEST(CommandTable, TlsRulesCoverLoginAndEveryDataVerb) {
  const std::set<std::string_view> control{"USER", "PASS"};
  const std::set<std::string_view> data{"RETR", "STOR", "STOU", "APPE", "LIST", "NLST", "MLSD"};
  for (const auto& row : command_table()) {
    TlsRule want = control.count(row.verb) != 0 ? TlsRule::control
                   : data.count(row.verb) != 0  ? TlsRule::data
                                                : TlsRule::none;
    EXPECT_EQ(row.tls, want) << row.verb;
  }
}

} // namespace
} // namespace berth::ftp
