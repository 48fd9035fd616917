#include "core/permissions.hpp"

#include <gtest/gtest.h>

namespace berth::core {
namespace {

TEST(PermissionsTest, ParseAndFormatRoundTrip) {
  auto p = Permissions::parse("list, download,upload");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->has(Perm::list));
  EXPECT_TRUE(p->has(Perm::download));
  EXPECT_TRUE(p->has(Perm::upload));
  EXPECT_FALSE(p->has(Perm::remove));
  EXPECT_EQ(p->to_string(), "list,download,upload");
  EXPECT_EQ(Permissions::parse(p->to_string()).value(), *p);
}

TEST(PermissionsTest, EveryNameParses) {
  for (auto perm : {Perm::list, Perm::download, Perm::upload, Perm::overwrite, Perm::remove,
                    Perm::rename, Perm::mkdir, Perm::rmdir, Perm::chmod, Perm::symlink}) {
    auto p = Permissions::parse(Permissions::name(perm));
    ASSERT_TRUE(p) << Permissions::name(perm);
    EXPECT_EQ(p->bits(), static_cast<std::uint16_t>(perm));
  }
  EXPECT_EQ(Permissions::name(Perm::remove), "delete");
}

TEST(PermissionsTest, AllNoneAndDefaults) {
  EXPECT_EQ(Permissions::parse("all").value(), Permissions::all());
  EXPECT_EQ(Permissions::parse("none").value(), Permissions::none());
  EXPECT_EQ(Permissions::parse("").value(), Permissions::none());
  EXPECT_EQ(Permissions().to_string(), "all");
  EXPECT_EQ(Permissions::none().to_string(), "none");
  EXPECT_EQ(Permissions::read_only().to_string(), "list,download");
}

TEST(PermissionsTest, UnknownWordIsNamed) {
  std::string bad;
  EXPECT_FALSE(Permissions::parse("list,dowload", &bad));
  EXPECT_EQ(bad, "dowload");
  EXPECT_FALSE(Permissions::parse("list,,upload", &bad));
  EXPECT_EQ(bad, "");
}

} // namespace
} // namespace berth::core
