#include "core/metrics.hpp"

#include "core/check.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace berth::core {
namespace {

// Label values: backslash, double quote and line feed are escaped; HELP text:
// backslash and line feed (exposition format 0.0.4).
std::string escape(std::string_view s, bool quote) {
  std::string out;
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '"' && quote)
      out += "\\\"";
    else
      out += c;
  }
  return out;
}

std::string label_text(const Labels& labels, std::string_view extra_name = {},
                       std::string_view extra_value = {}) {
  if (labels.empty() && extra_name.empty())
    return {};
  std::string out = "{";
  bool first = true;
  auto add = [&](std::string_view name, std::string_view value) {
    if (!first)
      out += ',';
    first = false;
    out += name;
    out += "=\"";
    out += escape(value, true);
    out += '"';
  };
  for (const auto& [name, value] : labels)
    add(name, value);
  if (!extra_name.empty())
    add(extra_name, extra_value);
  out += '}';
  return out;
}

} // namespace

std::string format_metric_value(double v) {
  if (std::isnan(v))
    return "NaN";
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    BERTH_CHECK(std::isfinite(bounds_[i]));
    BERTH_CHECK(i == 0 || bounds_[i - 1] < bounds_[i]);
  }
}

void Histogram::observe(double v) noexcept {
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  auto i = static_cast<std::size_t>(it - bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(total);
  }
  total += counts_[bounds_.size()].load(std::memory_order_relaxed);
  s.count = total;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

MetricsRegistry::Series& MetricsRegistry::add(std::string_view name, std::string_view help,
                                              Type type, Labels labels) {
  // Caller holds mutex_.
  Family* family = nullptr;
  for (auto& f : families_)
    if (f->name == name)
      family = f.get();
  if (family == nullptr) {
    families_.push_back(
        std::make_unique<Family>(Family{std::string(name), std::string(help), type, {}}));
    family = families_.back().get();
  }
  BERTH_CHECK(family->type == type);
  family->series.push_back(Series{std::move(labels), nullptr, nullptr, nullptr, nullptr});
  return family->series.back();
}

Counter& MetricsRegistry::counter(std::string_view name, std::string_view help, Labels labels) {
  std::lock_guard lock(mutex_);
  Series& s = add(name, help, Type::counter, std::move(labels));
  s.counter = std::make_unique<Counter>();
  return *s.counter;
}

Gauge& MetricsRegistry::gauge(std::string_view name, std::string_view help, Labels labels) {
  std::lock_guard lock(mutex_);
  Series& s = add(name, help, Type::gauge, std::move(labels));
  s.gauge = std::make_unique<Gauge>();
  return *s.gauge;
}

void MetricsRegistry::gauge_callback(std::string_view name, std::string_view help, Labels labels,
                                     std::function<double()> read) {
  std::lock_guard lock(mutex_);
  Series& s = add(name, help, Type::gauge, std::move(labels));
  s.read = std::move(read);
}

Histogram& MetricsRegistry::histogram(std::string_view name, std::string_view help,
                                      std::vector<double> bounds, Labels labels) {
  std::lock_guard lock(mutex_);
  Series& s = add(name, help, Type::histogram, std::move(labels));
  s.histogram = std::make_unique<Histogram>(std::move(bounds));
  return *s.histogram;
}

std::string MetricsRegistry::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& f : families_) {
    const char* type = f->type == Type::counter ? "counter"
                       : f->type == Type::gauge ? "gauge"
                                                : "histogram";
    out +=
        fmt::format("# HELP {} {}\n# TYPE {} {}\n", f->name, escape(f->help, false), f->name, type);
    for (const Series& s : f->series) {
      if (s.counter) {
        out += fmt::format("{}{} {}\n", f->name, label_text(s.labels), s.counter->value());
      } else if (s.gauge) {
        out += fmt::format("{}{} {}\n", f->name, label_text(s.labels), s.gauge->value());
      } else if (s.read) {
        out +=
            fmt::format("{}{} {}\n", f->name, label_text(s.labels), format_metric_value(s.read()));
      } else if (s.histogram) {
        auto snap = s.histogram->snapshot();
        const auto& bounds = s.histogram->bounds();
        for (std::size_t i = 0; i < bounds.size(); ++i)
          out += fmt::format("{}_bucket{} {}\n", f->name,
                             label_text(s.labels, "le", format_metric_value(bounds[i])),
                             snap.cumulative[i]);
        out += fmt::format("{}_bucket{} {}\n", f->name, label_text(s.labels, "le", "+Inf"),
                           snap.count);
        out += fmt::format("{}_sum{} {}\n", f->name, label_text(s.labels),
                           format_metric_value(snap.sum));
        out += fmt::format("{}_count{} {}\n", f->name, label_text(s.labels), snap.count);
      }
    }
  }
  return out;
}

} // namespace berth::core
