#include "vfs/location.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace berth::vfs {
namespace {

using ::testing::HasSubstr;

TEST(Location, PathsAreLocal) {
  auto l = Location::parse("/srv/ftp/alice");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->kind(), Location::Kind::local);
  EXPECT_EQ(l->path(), "/srv/ftp/alice");
  EXPECT_EQ(l->to_string(), "/srv/ftp/alice");
  auto rel = Location::parse("homes/bob");
  ASSERT_TRUE(rel);
  EXPECT_EQ(rel->kind(), Location::Kind::local);
}

TEST(Location, S3Forms) {
  auto l = Location::parse("s3://bucket-1/users/alice/");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->kind(), Location::Kind::s3);
  EXPECT_EQ(l->profile(), "");
  EXPECT_EQ(l->bucket(), "bucket-1");
  EXPECT_EQ(l->prefix(), "users/alice");
  EXPECT_EQ(l->to_string(), "s3://bucket-1/users/alice");

  auto p = Location::parse("s3://backup_2@my.bucket");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->profile(), "backup_2");
  EXPECT_EQ(p->bucket(), "my.bucket");
  EXPECT_EQ(p->prefix(), "");
  EXPECT_EQ(p->to_string(), "s3://backup_2@my.bucket");
  EXPECT_EQ(Location::parse(p->to_string()).value(), *p);
}

TEST(Location, BadLocationsSayWhy) {
  auto refused = [](std::string_view text) {
    std::string why;
    auto l = Location::parse(text, &why);
    EXPECT_FALSE(l) << text;
    return why;
  };
  EXPECT_THAT(refused(""), HasSubstr("empty"));
  EXPECT_THAT(refused("s3://"), HasSubstr("not a valid bucket name"));
  EXPECT_THAT(refused("s3://ab/x"), HasSubstr("not a valid bucket name"));
  EXPECT_THAT(refused("s3://Upper/x"), HasSubstr("not a valid bucket name"));
  EXPECT_THAT(refused("s3://a..b/x"), HasSubstr("not a valid bucket name"));
  EXPECT_THAT(refused("s3://-abc/x"), HasSubstr("not a valid bucket name"));
  EXPECT_THAT(refused("s3://bucket/a//b"), HasSubstr("empty"));
  EXPECT_THAT(refused("s3://bucket/a/../b"), HasSubstr("\"..\""));
  EXPECT_THAT(refused("s3://bucket/./b"), HasSubstr("\".\""));
  EXPECT_THAT(refused("s3://bucket/a\tb"), HasSubstr("control character"));
  EXPECT_THAT(refused("s3://bad profile@bucket/x"), HasSubstr("profile name"));
  EXPECT_THAT(refused("s3://@bucket/x"), HasSubstr("profile name"));
  EXPECT_THAT(refused("gs://bucket/x"), HasSubstr("unknown storage"));
  EXPECT_THAT(refused(std::string_view("/a\0b", 4)), HasSubstr("NUL"));
}

} // namespace
} // namespace berth::vfs
