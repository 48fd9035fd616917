#include "core/telemetry.hpp"

#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include <fstream>
#include <sstream>

namespace berth::core {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TransferRecord record(Protocol p, bool upload) {
  TransferRecord r;
  r.protocol = p;
  r.client = "192.0.2.1";
  r.user = "alice";
  r.path = "/big file.bin";
  r.upload = upload;
  return r;
}

TEST(Telemetry, RegistersEveryFamilyAndLabelSetAtZero) {
  Telemetry t;
  auto text = t.metrics().render();
  for (const char* line : {
           "berth_sessions_open{protocol=\"ftp\"} 0",
           "berth_sessions_open{protocol=\"sftp\"} 0",
           "berth_sessions_total{protocol=\"ftps\"} 0",
           "berth_logins_total{protocol=\"sftp\",result=\"failed\"} 0",
           "berth_bytes_total{protocol=\"ftp\",direction=\"out\"} 0",
           "berth_transfers_total{protocol=\"ftps\",direction=\"in\",result=\"aborted\"} 0",
           "berth_transfer_duration_seconds_bucket{le=\"0.01\"} 0",
           "berth_transfer_duration_seconds_bucket{le=\"300\"} 0",
           "berth_tls_handshake_failures_total{protocol=\"ftps\"} 0",
           "berth_passive_ports_in_use 0",
       })
    EXPECT_TRUE(has_line(text, line)) << line << "\n" << text;
  EXPECT_EQ(text.find("berth_tls_handshake_failures_total{protocol=\"sftp\"}"), std::string::npos);
}

TEST(Telemetry, SessionCountFollowsTheSessionAndItsProtocol) {
  auto t = std::make_shared<Telemetry>();
  {
    SessionCount c(t, Protocol::ftp);
    EXPECT_TRUE(has_line(t->metrics().render(), "berth_sessions_open{protocol=\"ftp\"} 1"));
    c.move_to(Protocol::ftps); // AUTH TLS
    SessionCount moved = std::move(c);
    auto text = t->metrics().render();
    EXPECT_TRUE(has_line(text, "berth_sessions_open{protocol=\"ftp\"} 0"));
    EXPECT_TRUE(has_line(text, "berth_sessions_open{protocol=\"ftps\"} 1"));
  }
  auto text = t->metrics().render();
  EXPECT_TRUE(has_line(text, "berth_sessions_open{protocol=\"ftps\"} 0"));
  EXPECT_TRUE(has_line(text, "berth_sessions_total{protocol=\"ftp\"} 1"));
  EXPECT_TRUE(has_line(text, "berth_sessions_total{protocol=\"ftps\"} 0"));
}

TEST(Telemetry, FinishedTransferIsCountedAndLogged) {
  test::TempDir dir;
  auto file = XferlogFile::open(dir.path() / "xferlog");
  ASSERT_TRUE(file);
  auto t = std::make_shared<Telemetry>(std::move(*file));
  {
    TransferTracker tr(t, record(Protocol::ftps, true));
    tr.add_bytes(1000);
    tr.add_bytes(24);
    tr.finish(TransferResult::ok);
    tr.finish(TransferResult::failed); // once only
  }
  auto text = t->metrics().render();
  EXPECT_TRUE(has_line(text, "berth_bytes_total{protocol=\"ftps\",direction=\"in\"} 1024"));
  EXPECT_TRUE(
      has_line(text, "berth_transfers_total{protocol=\"ftps\",direction=\"in\",result=\"ok\"} 1"));
  EXPECT_TRUE(has_line(
      text, "berth_transfers_total{protocol=\"ftps\",direction=\"in\",result=\"failed\"} 0"));
  EXPECT_TRUE(has_line(text, "berth_transfer_duration_seconds_count 1"));
  auto log = slurp(dir.path() / "xferlog");
  EXPECT_NE(log.find(" 1 192.0.2.1 1024 /big_file.bin b _ i r alice ftps 0 * c\n"),
            std::string::npos)
      << log;
}

TEST(Telemetry, UnfinishedTransferIsReportedAbortedAndDiscardedOneNot) {
  test::TempDir dir;
  auto file = XferlogFile::open(dir.path() / "xferlog");
  ASSERT_TRUE(file);
  auto t = std::make_shared<Telemetry>(std::move(*file));
  {
    TransferTracker tr(t, record(Protocol::sftp, false));
    tr.add_bytes(5);
    TransferTracker discarded(t, record(Protocol::sftp, true));
    discarded.discard();
    TransferTracker moved_from(t, record(Protocol::ftp, true));
    TransferTracker target = std::move(moved_from); // reported once, by `target`
  }
  auto text = t->metrics().render();
  EXPECT_TRUE(has_line(
      text, "berth_transfers_total{protocol=\"sftp\",direction=\"out\",result=\"aborted\"} 1"));
  EXPECT_TRUE(has_line(
      text, "berth_transfers_total{protocol=\"sftp\",direction=\"in\",result=\"aborted\"} 0"));
  EXPECT_TRUE(has_line(
      text, "berth_transfers_total{protocol=\"ftp\",direction=\"in\",result=\"aborted\"} 1"));
  auto log = slurp(dir.path() / "xferlog");
  EXPECT_NE(log.find(" 5 /big_file.bin b _ o r alice sftp 0 * i\n"), std::string::npos) << log;
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 2);
}

TEST(Telemetry, WithoutTelemetryNothingHappens) {
  TransferTracker tr(nullptr, record(Protocol::ftp, true));
  tr.finish(TransferResult::ok);
  SessionCount c(nullptr, Protocol::sftp);
  c.move_to(Protocol::ftp);
  EXPECT_EQ(c.protocol(), Protocol::ftp);
}

TEST(Telemetry, LoginsAndHandshakeFailures) {
  Telemetry t;
  t.login(Protocol::sftp, true);
  t.login(Protocol::sftp, false);
  t.login(Protocol::sftp, false);
  t.tls_handshake_failed(Protocol::ftp);
  t.tls_handshake_failed(Protocol::sftp); // not a TLS protocol: ignored
  t.passive_ports().add();
  auto text = t.metrics().render();
  EXPECT_TRUE(has_line(text, "berth_logins_total{protocol=\"sftp\",result=\"ok\"} 1"));
  EXPECT_TRUE(has_line(text, "berth_logins_total{protocol=\"sftp\",result=\"failed\"} 2"));
  EXPECT_TRUE(has_line(text, "berth_tls_handshake_failures_total{protocol=\"ftp\"} 1"));
  EXPECT_TRUE(has_line(text, "berth_passive_ports_in_use 1"));
}

} // namespace
} // namespace berth::core
