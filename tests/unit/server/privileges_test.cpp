#include "server/privileges.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>

namespace berth::server {
namespace {

core::Config ftp_only(std::uint16_t active_data_port) {
  core::Config c;
  c.ftp.listen.push_back(core::HostPort{"127.0.0.1", 21, false});
  c.ftp.active_data_port = active_data_port;
  return c;
}

TEST(CapabilitiesToKeep, ActiveDataFromAPortBelow1024KeepsNetBindService) {
  EXPECT_EQ(capabilities_to_keep(ftp_only(20)), kNetBindService);
  EXPECT_EQ(kNetBindService, std::uint64_t{1} << 10);
  EXPECT_EQ(capabilities_to_keep(ftp_only(0)), 0u); // any port: nothing needed
  EXPECT_EQ(capabilities_to_keep(ftp_only(2020)), 0u);
  EXPECT_EQ(capabilities_to_keep(ftp_only(1023)), kNetBindService);
}

TEST(CapabilitiesToKeep, OnlyForListenersThatExist) {
  core::Config c = ftp_only(0);
  c.ftps.active_data_port = 989;
  EXPECT_EQ(capabilities_to_keep(c), 0u); // no implicit FTPS listener
  c.ftps.listen.push_back(core::HostPort{"127.0.0.1", 990, false});
  EXPECT_EQ(capabilities_to_keep(c), kNetBindService);
  core::Config sftp_only;
  sftp_only.sftp.listen.push_back(core::HostPort{"127.0.0.1", 22, false});
  EXPECT_EQ(capabilities_to_keep(sftp_only), 0u); // [ftp] active_data_port 20 is unused
}

TEST(CapabilitiesToKeep, PassivePortsBelow1024) {
  core::Config c = ftp_only(0);
  c.ftp.passive_ports = core::PortRange{1000, 1100};
  EXPECT_EQ(capabilities_to_keep(c), kNetBindService);
}

TEST(PlanIdentity, WithoutUser) {
  core::Config c = ftp_only(0);
  EXPECT_EQ(plan_identity(c, 0, 0), IdentityPlan::keep_root);
  EXPECT_EQ(plan_identity(c, 1000, 1000), IdentityPlan::keep);
}

TEST(PlanIdentity, WithUser) {
  core::Config c = ftp_only(0);
  c.source = "/etc/berth/berth.toml";
  c.server.run_as = core::RunAs{"berth", "", 998, 997};
  EXPECT_EQ(plan_identity(c, 0, 0), IdentityPlan::drop);
  EXPECT_EQ(plan_identity(c, 998, 997), IdentityPlan::keep); // started as that user already
  try {
    (void)plan_identity(c, 1000, 1000);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), ::testing::StartsWith("/etc/berth/berth.toml: server.user: "));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("\"berth\""));
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
  c.server.run_as = core::RunAs{"root", "", 0, 0};
  EXPECT_EQ(plan_identity(c, 0, 0), IdentityPlan::keep); // asked for: no warning
}

} // namespace
} // namespace berth::server
