#include "server/metrics_endpoint.hpp"

#include <fmt/format.h>
#include <httplib.h>

#include <chrono>
#include <stdexcept>

namespace berth::server {
namespace {

// A scrape is one small request now and then: two workers are plenty (the
// library's default is one per core, at least eight).
constexpr std::size_t kWorkers = 2;

} // namespace

MetricsEndpoint::MetricsEndpoint(const core::HostPort& address, std::function<std::string()> render,
                                 std::function<bool()> healthy)
    : http_(std::make_unique<httplib::Server>()) {
  http_->new_task_queue = [] { return new httplib::ThreadPool(kWorkers); };
  // Short timeouts: an idle or slow client must not hold a worker, nor delay
  // the exit (stop() waits for the workers).
  http_->set_keep_alive_max_count(100);
  http_->set_keep_alive_timeout(1);
  http_->set_read_timeout(1, 0);
  http_->set_write_timeout(5, 0);
  http_->set_payload_max_length(4096);
  http_->Get("/metrics",
             [render = std::move(render)](const httplib::Request&, httplib::Response& res) {
               res.set_content(render(), "text/plain; version=0.0.4; charset=utf-8");
             });
  http_->Get("/healthz",
             [healthy = std::move(healthy)](const httplib::Request&, httplib::Response& res) {
               const bool up = healthy();
               res.status = up ? 200 : 503;
               res.set_content(up ? "ok\n" : "unavailable\n", "text/plain; charset=utf-8");
             });

  int port = address.port;
  bool bound = false;
  if (address.port == 0) {
    port = http_->bind_to_any_port(address.host);
    bound = port > 0;
  } else {
    bound = http_->bind_to_port(address.host, address.port);
  }
  if (!bound)
    throw std::runtime_error(fmt::format("metrics.listen: can not listen on {}",
                                         core::format_host_port(address.host, address.port)));
  port_ = static_cast<std::uint16_t>(port);
}

void MetricsEndpoint::start() {
  if (thread_.joinable())
    return;
  thread_ = std::thread([this] {
    http_->listen_after_bind();
    ended_ = true;
  });
  // stop() does nothing until the server runs: wait for it, so that the
  // destructor can always stop it.
  while (!http_->is_running() && !ended_)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

MetricsEndpoint::~MetricsEndpoint() {
  http_->stop();
  if (thread_.joinable())
    thread_.join();
}

} // namespace berth::server
