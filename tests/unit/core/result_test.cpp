#include "core/result.hpp"

#include "core/errc.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <system_error>

namespace berth::core {
namespace {

Result<int> half(int n) {
  if (n % 2 != 0)
    return unexpected(std::make_error_code(std::errc::invalid_argument));
  return n / 2;
}

TEST(Result, HoldsValue) {
  Result<int> r = half(8);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(r.value(), 4);
  EXPECT_EQ(*r, 4);
  EXPECT_FALSE(r.error());
}

TEST(Result, HoldsError) {
  Result<int> r = half(3);
  EXPECT_FALSE(r.has_value());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.error(), std::errc::invalid_argument);
}

TEST(Result, UnexpectedFromLayerEnum) {
  Result<std::string> r = unexpected(Errc::timed_out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::timed_out);
  EXPECT_EQ(&r.error().category(), &core_category());
  EXPECT_EQ(r.error().message(), "timed out");
}

TEST(Result, UnexpectedFromErrorCode) {
  std::error_code ec = std::make_error_code(std::errc::connection_reset);
  Result<int> r = unexpected(ec);
  EXPECT_EQ(r.error(), ec);
}

TEST(Result, ArrowAndMutation) {
  Result<std::string> r = std::string("abc");
  EXPECT_EQ(r->size(), 3u);
  r->push_back('d');
  EXPECT_EQ(*r, "abcd");
  const Result<std::string>& cr = r;
  EXPECT_EQ(cr->front(), 'a');
  EXPECT_EQ(cr.value(), "abcd");
}

TEST(Result, MoveOnlyValue) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  ASSERT_TRUE(r);
  std::unique_ptr<int> p = std::move(r).value();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 7);

  Result<std::unique_ptr<int>> r2 = std::make_unique<int>(9);
  std::unique_ptr<int> q = *std::move(r2);
  EXPECT_EQ(*q, 9);
}

TEST(Result, Void) {
  Result<void> ok;
  EXPECT_TRUE(ok.has_value());
  EXPECT_TRUE(static_cast<bool>(ok));
  EXPECT_FALSE(ok.error());
  ok.value(); // does not abort

  Result<void> bad = unexpected(Errc::closed);
  EXPECT_FALSE(bad);
  EXPECT_EQ(bad.error(), Errc::closed);
}

TEST(CoreErrc, Messages) {
  EXPECT_EQ(make_error_code(Errc::closed).message(), "connection closed");
  EXPECT_EQ(make_error_code(Errc::too_long).message(), "input too long");
  EXPECT_STREQ(core_category().name(), "berth.core");
}

using ResultDeathTest = ::testing::Test;

TEST_F(ResultDeathTest, ValueOfErrorAborts) {
  Result<int> r = half(1);
  EXPECT_DEATH((void)r.value(), "");
  Result<void> v = unexpected(Errc::closed);
  EXPECT_DEATH(v.value(), "");
}

} // namespace
} // namespace berth::core
