#include "server/wiring.hpp"

#include "support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace berth::server {
namespace {

using ::testing::HasSubstr;

// The error of check_homes() for `toml`, or "" when every home is accepted.
std::string home_error(const test::TempDir& dir, const std::string& toml) {
  const auto cfg = core::load_config(dir.write("berth.toml", toml));
  vfs::StorageBackends storage(nullptr, storage_settings(cfg));
  try {
    check_homes(cfg, storage);
  } catch (const core::ConfigError& e) {
    return e.what();
  }
  return {};
}

TEST(CheckHomes, LocalHomesMustBeDirectories) {
  test::TempDir dir;
  std::filesystem::create_directory(dir.path() / "home");
  const auto file = dir.write("plain", "x");
  const std::string where = (dir.path() / "berth.toml").string() + ":4: user.home: ";
  EXPECT_EQ(home_error(dir, "[[user]]\nname = \"a\"\npassword = \"p\"\nhome = '" +
                                (dir.path() / "home").string() + "'\n"),
            "");
  EXPECT_EQ(
      home_error(dir, "[[user]]\nname = \"a\"\npassword = \"p\"\nhome = '" + file.string() + "'\n"),
      where + "\"" + file.string() + "\" is not an existing directory");
  EXPECT_THAT(home_error(dir, "[[user]]\nname = \"a\"\npassword = \"p\"\nhome = '" +
                                  (dir.path() / "nowhere").string() + "'\n"),
              HasSubstr("not an existing directory"));
}

TEST(CheckHomes, LocationsThatDoNotParseAreRefused) {
  test::TempDir dir;
  EXPECT_THAT(home_error(dir, "[[user]]\nname = \"a\"\npassword = \"p\"\nhome = 's3://B/x'\n"),
              HasSubstr(":4: user.home: \"s3://B/x\": \"B\" is not a valid bucket name"));
  EXPECT_THAT(home_error(dir, "[[user]]\nname = \"a\"\npassword = \"p\"\nhome = 'gs://b/x'\n"),
              HasSubstr("unknown storage"));
}

TEST(CheckHomes, AnonymousHome) {
  test::TempDir dir;
  EXPECT_THAT(home_error(dir, "[ftp.anonymous]\nenabled = true\nhome = '" +
                                  (dir.path() / "nowhere").string() + "'\n"),
              HasSubstr(":3: ftp.anonymous.home: "));
}

} // namespace
} // namespace berth::server
