#pragma once
// Metrics: counters, gauges and histograms in a registry that renders them in
// the Prometheus text exposition format (version 0.0.4). Pure: no sockets; the
// HTTP endpoint that serves render() lives in server/.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth::core {

/// Label names and values of one series, in the order they are rendered.
using Labels = std::vector<std::pair<std::string, std::string>>;

/// A value that only goes up. Thread-safe (one relaxed atomic).
class Counter {
public:
  void inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<std::uint64_t> value_{0};
};

/// A value that goes up and down. Thread-safe (one relaxed atomic).
class Gauge {
public:
  void add(std::int64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  void sub(std::int64_t n = 1) noexcept { value_.fetch_sub(n, std::memory_order_relaxed); }
  void set(std::int64_t n) noexcept { value_.store(n, std::memory_order_relaxed); }
  std::int64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<std::int64_t> value_{0};
};

/// Observations counted in buckets by upper bound (an observation v falls in
/// the first bucket whose bound is >= v; above the last: the +Inf bucket).
/// Thread-safe: observe() touches two atomics.
class Histogram {
public:
  /// `bounds`: upper bounds, strictly increasing, finite.
  explicit Histogram(std::vector<double> bounds);

  void observe(double v) noexcept;

  /// A copy of the state: cumulative counts per bound, then +Inf (== count).
  struct Snapshot {
    std::vector<std::uint64_t> cumulative;
    std::uint64_t count = 0;
    double sum = 0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& bounds() const { return bounds_; }

private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_; // bounds_.size() + 1
  std::atomic<double> sum_{0};
};

/// Metric families by name, each with its series. Registration (at start-up)
/// and render() take a mutex; updating a series is lock-free. Series live as
/// long as the registry: the references returned stay valid.
///
/// Families render in registration order, their series in registration order:
/// `# HELP`, `# TYPE`, then one line per series (histograms: _bucket lines with
/// `le`, _sum, _count). Registering a name again adds a series to its family;
/// the type must be the same (help text of the first registration is kept).
class MetricsRegistry {
public:
  Counter& counter(std::string_view name, std::string_view help, Labels labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, Labels labels = {});
  /// A gauge read by calling `read` at render time (from the rendering thread).
  void gauge_callback(std::string_view name, std::string_view help, Labels labels,
                      std::function<double()> read);
  Histogram& histogram(std::string_view name, std::string_view help, std::vector<double> bounds,
                       Labels labels = {});

  /// The text exposition format, version 0.0.4 (Content-Type
  /// "text/plain; version=0.0.4").
  std::string render() const;

private:
  enum class Type { counter, gauge, histogram };
  struct Series {
    Labels labels;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::function<double()> read;
    std::unique_ptr<Histogram> histogram;
  };
  struct Family {
    std::string name;
    std::string help;
    Type type;
    std::vector<Series> series;
  };
  Series& add(std::string_view name, std::string_view help, Type type, Labels labels);

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Family>> families_; // guarded by mutex_
};

/// A number as the exposition format writes it: shortest round-trip decimal,
/// "+Inf", "-Inf" or "NaN".
std::string format_metric_value(double v);

} // namespace berth::core
