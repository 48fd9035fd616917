#include "vfs/open_files.hpp"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

namespace berth::vfs {
namespace {

TEST(OpenFiles, EachUserHasAShareOfTheServersBudget) {
  OpenFiles budget(5, 3);
  std::vector<OpenFiles::Slot> alice;
  for (int i = 0; i < 3; ++i) {
    alice.push_back(budget.take("alice"));
    ASSERT_TRUE(alice.back());
  }
  EXPECT_FALSE(budget.take("alice")) << "alice's share is used up";
  auto b1 = budget.take("bob");
  auto b2 = budget.take("bob");
  ASSERT_TRUE(b1);
  ASSERT_TRUE(b2);
  EXPECT_FALSE(budget.take("carol")) << "the server's budget is used up";
  EXPECT_EQ(budget.open(), 5u);
  EXPECT_EQ(budget.open_by("alice"), 3u);
  alice.pop_back(); // a file closes: its place is free again
  EXPECT_EQ(budget.open_by("alice"), 2u);
  auto c = budget.take("carol");
  EXPECT_TRUE(c);
  OpenFiles::Slot moved = std::move(c);
  EXPECT_TRUE(moved);
  EXPECT_EQ(budget.open(), 5u);
  moved = OpenFiles::Slot();
  EXPECT_EQ(budget.open(), 4u);
  EXPECT_EQ(budget.open_by("carol"), 0u);
}

TEST(OpenFiles, ZeroMeansNoLimitAndNewLimitsKeepOpenFiles) {
  OpenFiles budget(0, 0);
  std::vector<OpenFiles::Slot> held;
  for (int i = 0; i < 100; ++i)
    held.push_back(budget.take("alice"));
  EXPECT_TRUE(held.back());
  budget.set_limits(10, 5);
  EXPECT_FALSE(budget.take("alice"));
  EXPECT_FALSE(budget.take("bob"));
  held.clear();
  EXPECT_TRUE(budget.take("bob"));
}

TEST(OpenFiles, LimitsComeFromTheDescriptorLimitWithAReserve) {
  // A quarter (at least 64) of the descriptors stays for connections and logins.
  auto l = open_file_limits(1024, 0, 0);
  EXPECT_EQ(l.total, 768u);
  EXPECT_EQ(l.per_user, 192u);
  l = open_file_limits(256, 0, 0);
  EXPECT_EQ(l.total, 192u);
  EXPECT_EQ(l.per_user, 48u);
  l = open_file_limits(64, 0, 0);
  EXPECT_EQ(l.total, 1u);
  // Configured: within what the descriptors allow.
  l = open_file_limits(1024, 100, 10);
  EXPECT_EQ(l.total, 100u);
  EXPECT_EQ(l.per_user, 10u);
  l = open_file_limits(1024, 5000, 5000);
  EXPECT_EQ(l.total, 768u);
  EXPECT_EQ(l.per_user, 768u);
}

} // namespace
} // namespace berth::vfs
