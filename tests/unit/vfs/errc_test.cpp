#include "vfs/errc.hpp"

#include <gtest/gtest.h>

#include <cerrno>

namespace berth::vfs {
namespace {

TEST(VfsErrc, FromErrno) {
  EXPECT_EQ(from_errno(ENOENT), Errc::not_found);
  EXPECT_EQ(from_errno(EXDEV), Errc::not_found);
  EXPECT_EQ(from_errno(ELOOP), Errc::not_found);
  EXPECT_EQ(from_errno(EEXIST), Errc::exists);
  EXPECT_EQ(from_errno(ENOTDIR), Errc::not_directory);
  EXPECT_EQ(from_errno(EISDIR), Errc::is_directory);
  EXPECT_EQ(from_errno(ENOTEMPTY), Errc::not_empty);
  EXPECT_EQ(from_errno(EACCES), Errc::permission_denied);
  EXPECT_EQ(from_errno(EPERM), Errc::permission_denied);
  EXPECT_EQ(from_errno(EROFS), Errc::permission_denied);
  EXPECT_EQ(from_errno(ENAMETOOLONG), Errc::invalid_name);
  EXPECT_EQ(from_errno(ENOSPC), Errc::no_space);
  EXPECT_EQ(from_errno(EDQUOT), Errc::no_space);
  EXPECT_EQ(from_errno(EIO), Errc::io_error);
  EXPECT_STREQ(vfs_category().name(), "berth.vfs");
  EXPECT_EQ(make_error_code(Errc::not_found).message(), "No such file or directory");
  EXPECT_EQ(make_error_code(Errc::quota_exceeded).message(), "Quota exceeded");
  EXPECT_NE(make_error_code(Errc::quota_exceeded), make_error_code(Errc::no_space));
}

} // namespace
} // namespace berth::vfs
