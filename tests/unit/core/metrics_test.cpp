#include "core/metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

namespace berth::core {
namespace {

TEST(Metrics, EmptyRegistryRendersNothing) {
  MetricsRegistry r;
  EXPECT_EQ(r.render(), "");
}

TEST(Metrics, RendersFamiliesInRegistrationOrderWithHelpAndType) {
  MetricsRegistry r;
  Gauge& open_ftp = r.gauge("berth_sessions_open", "Sessions open now.", {{"protocol", "ftp"}});
  Gauge& open_sftp = r.gauge("berth_sessions_open", "ignored", {{"protocol", "sftp"}});
  Counter& logins = r.counter("berth_logins_total", "Login attempts by outcome.",
                              {{"protocol", "ftp"}, {"result", "ok"}});
  Counter& plain = r.counter("berth_things_total", "Things.");
  r.gauge_callback("berth_bans_active", "Bans now.", {}, [] { return 3.0; });
  open_ftp.add(2);
  open_sftp.add();
  open_sftp.sub();
  logins.inc();
  logins.inc(4);
  plain.inc();
  EXPECT_EQ(r.render(), "# HELP berth_sessions_open Sessions open now.\n"
                        "# TYPE berth_sessions_open gauge\n"
                        "berth_sessions_open{protocol=\"ftp\"} 2\n"
                        "berth_sessions_open{protocol=\"sftp\"} 0\n"
                        "# HELP berth_logins_total Login attempts by outcome.\n"
                        "# TYPE berth_logins_total counter\n"
                        "berth_logins_total{protocol=\"ftp\",result=\"ok\"} 5\n"
                        "# HELP berth_things_total Things.\n"
                        "# TYPE berth_things_total counter\n"
                        "berth_things_total 1\n"
                        "# HELP berth_bans_active Bans now.\n"
                        "# TYPE berth_bans_active gauge\n"
                        "berth_bans_active 3\n");
}

TEST(Metrics, EscapesLabelValuesAndHelp) {
  MetricsRegistry r;
  r.counter("x_total", "a \\ b\nc \"q\"", {{"path", "a\"b\\c\nd"}}).inc();
  EXPECT_EQ(r.render(), "# HELP x_total a \\\\ b\\nc \"q\"\n"
                        "# TYPE x_total counter\n"
                        "x_total{path=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(Metrics, HistogramBucketsAreCumulativeAndInclusive) {
  MetricsRegistry r;
  Histogram& h = r.histogram("d_seconds", "Durations.", {0.01, 0.25, 1, 300});
  h.observe(0.25); // on a bound: that bucket (le is "less or equal")
  h.observe(0.125);
  h.observe(0.5);
  h.observe(2);
  h.observe(1000); // past the last bound: only +Inf
  EXPECT_EQ(r.render(), "# HELP d_seconds Durations.\n"
                        "# TYPE d_seconds histogram\n"
                        "d_seconds_bucket{le=\"0.01\"} 0\n"
                        "d_seconds_bucket{le=\"0.25\"} 2\n"
                        "d_seconds_bucket{le=\"1\"} 3\n"
                        "d_seconds_bucket{le=\"300\"} 4\n"
                        "d_seconds_bucket{le=\"+Inf\"} 5\n"
                        "d_seconds_sum 1002.875\n"
                        "d_seconds_count 5\n");
}

TEST(Metrics, HistogramWithLabelsPutsLeLast) {
  MetricsRegistry r;
  r.histogram("d", "D.", {1}, {{"protocol", "sftp"}}).observe(0.5);
  EXPECT_EQ(r.render(), "# HELP d D.\n"
                        "# TYPE d histogram\n"
                        "d_bucket{protocol=\"sftp\",le=\"1\"} 1\n"
                        "d_bucket{protocol=\"sftp\",le=\"+Inf\"} 1\n"
                        "d_sum{protocol=\"sftp\"} 0.5\n"
                        "d_count{protocol=\"sftp\"} 1\n");
}

TEST(Metrics, HistogramSnapshot) {
  Histogram h({1, 2});
  for (double v : {0.5, 1.5, 1.5, 9.0})
    h.observe(v);
  auto s = h.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{1, 3}));
  EXPECT_EQ(s.count, 4u);
  EXPECT_DOUBLE_EQ(s.sum, 12.5);
}

TEST(Metrics, ValuesFormatAsTheExpositionFormatWantsThem) {
  EXPECT_EQ(format_metric_value(0), "0");
  EXPECT_EQ(format_metric_value(0.05), "0.05");
  EXPECT_EQ(format_metric_value(300), "300");
  EXPECT_EQ(format_metric_value(-2.5), "-2.5");
  EXPECT_EQ(format_metric_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_metric_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_metric_value(std::nan("")), "NaN");
}

TEST(Metrics, CountersAreThreadSafe) {
  MetricsRegistry r;
  Counter& c = r.counter("c_total", "C.");
  Histogram& h = r.histogram("h", "H.", {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        h.observe(0.5);
      }
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(c.value(), 40000u);
  EXPECT_EQ(h.snapshot().count, 40000u);
  EXPECT_DOUBLE_EQ(h.snapshot().sum, 20000.0);
}

} // namespace
} // namespace berth::core
