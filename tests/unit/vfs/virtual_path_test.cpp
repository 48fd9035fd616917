#include "vfs/virtual_path.hpp"

#include "vfs/errc.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace berth::vfs {
namespace {

VirtualPath at(std::string_view text) {
  auto p = VirtualPath::resolve(VirtualPath(), text);
  if (!p)
    ADD_FAILURE() << "cannot resolve " << text;
  return p ? *p : VirtualPath();
}

std::string resolved(std::string_view cwd, std::string_view input) {
  auto p = VirtualPath::resolve(at(cwd), input);
  return p ? p->str() : "<error: " + p.error().message() + ">";
}

TEST(VirtualPath, DefaultIsRoot) {
  VirtualPath root;
  EXPECT_EQ(root.str(), "/");
  EXPECT_TRUE(root.is_root());
  EXPECT_EQ(root.relative(), ".");
  EXPECT_EQ(root.name(), "");
  EXPECT_EQ(root.parent(), root);
}

struct Case {
  const char* cwd;
  const char* input;
  const char* want;
};

TEST(VirtualPath, Resolve) {
  const Case cases[] = {
      // absolute inputs ignore the cwd
      {"/a/b", "/x/y", "/x/y"},
      {"/a/b", "/", "/"},
      // relative inputs start at the cwd
      {"/a/b", "c", "/a/b/c"},
      {"/a/b", "c/d", "/a/b/c/d"},
      {"/", "c", "/c"},
      {"/a/b", "", "/a/b"},
      // "." is dropped
      {"/a/b", ".", "/a/b"},
      {"/a/b", "./c/./d/.", "/a/b/c/d"},
      {"/", "/./x", "/x"},
      // ".." goes up
      {"/a/b", "..", "/a"},
      {"/a/b", "../c", "/a/c"},
      {"/a/b", "c/../../d", "/a/d"},
      {"/a/b", "/x/../y", "/y"},
      // ".." clamps at the root
      {"/", "..", "/"},
      {"/a", "../../..", "/"},
      {"/a/b", "../../../../etc/passwd", "/etc/passwd"},
      {"/", "/../../x", "/x"},
      {"/a", "..//..//../b/..", "/"},
      // empty components and trailing slashes vanish
      {"/", "//x///y//", "/x/y"},
      {"/a", "b/", "/a/b"},
      {"/a", "///", "/"},
      // only exact "." and ".." are special
      {"/a", "...", "/a/..."},
      {"/a", "..x/.y", "/a/..x/.y"},
      {"/a", "x..", "/a/x.."},
      // other bytes are plain name bytes
      {"/", "a b/ c ", "/a b/ c "},
      {"/", "back\\slash", "/back\\slash"},
      {"/", "~user", "/~user"},
  };
  for (const auto& c : cases)
    EXPECT_EQ(resolved(c.cwd, c.input), c.want) << "cwd " << c.cwd << " input " << c.input;
}

// Regression (review of #5): names of uploads in progress are the server's;
// a client making them could hide files from listings and the quota scan.
TEST(VirtualPath, RejectsReservedNames) {
  for (const char* input : {"/.berth-upload-x", ".berth-upload-", "/a/.berth-upload-1/b"}) {
    auto p = VirtualPath::resolve(VirtualPath(), input);
    ASSERT_FALSE(p) << input;
    EXPECT_EQ(p.error(), Errc::invalid_name);
  }
  EXPECT_TRUE(VirtualPath::resolve(VirtualPath(), "/.berth-upload-x/.."));
  EXPECT_TRUE(VirtualPath::resolve(VirtualPath(), "/x.berth-upload-"));
  EXPECT_TRUE(VirtualPath::resolve(VirtualPath(), "/.berth-uploads"));
}

TEST(VirtualPath, RejectsNul) {
  using namespace std::string_view_literals;
  for (auto input : {"a\0b"sv, "\0"sv, "/x/\0"sv, "../\0/.."sv}) {
    auto p = VirtualPath::resolve(VirtualPath(), input);
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error(), Errc::invalid_name);
  }
}

TEST(VirtualPath, ResultIsNormalized) {
  // Whatever the input, the result is absolute, has no empty, "." or ".."
  // component and no trailing slash.
  const char* inputs[] = {"a/./b/../c//", "../../x/./y/..", "/", "", "./", "a/b/c/../../../.."};
  for (const char* in : inputs) {
    auto p = VirtualPath::resolve(at("/w/v"), in);
    ASSERT_TRUE(p) << in;
    const std::string& s = p->str();
    ASSERT_FALSE(s.empty());
    EXPECT_EQ(s.front(), '/') << s;
    if (s.size() > 1) {
      EXPECT_NE(s.back(), '/') << s;
    }
    EXPECT_EQ(s.find("//"), std::string::npos) << s;
    EXPECT_EQ((s + "/").find("/./"), std::string::npos) << s;
    EXPECT_EQ((s + "/").find("/../"), std::string::npos) << s;
    // Resolving again changes nothing.
    EXPECT_EQ(resolved("/elsewhere", s), s);
  }
}

TEST(VirtualPath, NameParentChildRelative) {
  VirtualPath p = at("/docs/2024/report.txt");
  EXPECT_FALSE(p.is_root());
  EXPECT_EQ(p.name(), "report.txt");
  EXPECT_EQ(p.relative(), "docs/2024/report.txt");
  EXPECT_EQ(p.parent().str(), "/docs/2024");
  EXPECT_EQ(p.parent().parent().str(), "/docs");
  EXPECT_EQ(p.parent().parent().parent(), VirtualPath());
  EXPECT_EQ(p.parent().child("other.txt").str(), "/docs/2024/other.txt");

  VirtualPath top = at("/top");
  EXPECT_EQ(top.name(), "top");
  EXPECT_EQ(top.relative(), "top");
  EXPECT_TRUE(top.parent().is_root());

  EXPECT_EQ(VirtualPath().child("x").str(), "/x");
  EXPECT_EQ(VirtualPath().child("x").relative(), "x");
  EXPECT_EQ(VirtualPath().child("x").name(), "x");
}

TEST(VirtualPath, Equality) {
  EXPECT_EQ(at("/a/b"), at("/a/./b/"));
  EXPECT_EQ(at("/a/b"), VirtualPath().child("a").child("b"));
  EXPECT_NE(at("/a/b"), at("/a/c"));
  EXPECT_NE(at("/a"), VirtualPath());
}

} // namespace
} // namespace berth::vfs
