#pragma once
// The HTTP endpoint of the metrics: GET /metrics (Prometheus text format) and
// GET /healthz, served by cpp-httplib on threads of its own (it blocks), apart
// from the event loops.

#include "core/host_port.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace berth::server {

class MetricsEndpoint {
public:
  /// Binds `address` (port 0: any free port); serves from start() on:
  /// - GET /metrics: `render()`, "text/plain; version=0.0.4";
  /// - GET /healthz: 200 "ok" while `healthy()`, else 503 "unavailable".
  /// Both are called on the endpoint's threads and must be thread-safe.
  /// Throws std::runtime_error with one line when the address can not be bound.
  MetricsEndpoint(const core::HostPort& address, std::function<std::string()> render,
                  std::function<bool()> healthy);
  /// Stops serving (requests in progress finish) and joins the threads.
  ~MetricsEndpoint();
  /// Starts the threads that serve (once bound: after dropping root, so that
  /// they have the identity and capabilities the drop left).
  void start();
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  /// The port bound.
  std::uint16_t port() const { return port_; }

private:
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  std::uint16_t port_ = 0;
  std::atomic<bool> ended_{false};
};

} // namespace berth::server
