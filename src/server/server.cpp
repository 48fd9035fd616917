#include "server/server.hpp"

#include "core/cidr.hpp"
#include "core/log.hpp"
#include "ftp/session.hpp"
#include "net/listener.hpp"
#include "net/proxy_reader.hpp"
#include "server/metrics_endpoint.hpp"
#include "server/wiring.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <functional>
#include <list>
#include <thread>

namespace berth::server {
namespace {

constexpr auto kTuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr int kBacklog = 1024;
constexpr std::chrono::milliseconds kProxyHeaderTimeout{10000};

using Contexts = std::vector<std::unique_ptr<asio::io_context>>;

// Accepts on context 0 and hands each connection to the next loop in turn; a
// session stays on that loop for its whole life (no locks, no strands).
using Spawn = std::function<core::Task<void>(net::Socket, net::Endpoint)>;

core::Task<void> accept_loop(net::Acceptor& acceptor, Contexts& loops, Spawn spawn) {
  std::size_t next = 0;
  asio::steady_timer pause(acceptor.get_executor());
  for (;;) {
    auto& loop = *loops[next++ % loops.size()];
    auto [ec, sock] = co_await acceptor.async_accept(loop, kTuple);
    if (ec == asio::error::operation_aborted || !acceptor.is_open())
      co_return;
    if (ec) {
      // EMFILE and friends: log and retry after a pause instead of spinning.
      spdlog::error("accept: {}", ec.message());
      pause.expires_after(std::chrono::milliseconds(100));
      co_await pause.async_wait(kTuple);
      continue;
    }
    std::error_code peer_ec;
    net::Endpoint peer = sock.remote_endpoint(peer_ec);
    if (peer_ec)
      continue; // gone already
    asio::co_spawn(loop, spawn(std::move(sock), peer), [](std::exception_ptr e) {
      if (!e)
        return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("session ended by an unexpected error: {}", ex.what());
      }
    });
  }
}

// A listener behind a load balancer: only `from` peers may connect, each
// starting with a PROXY header whose source is the client (HAProxy's
// accept-proxy). Limits, bans, logs and FTP's data-connection checks then see
// that client.
core::Task<void> accept_proxied(net::Socket sock, net::Endpoint peer,
                                std::shared_ptr<const core::CidrList> from, Spawn spawn) {
  // SECURITY: a header from anyone else would let them pose as any address.
  if (!from->contains(peer.address())) {
    spdlog::warn("proxy: {} refused: not in proxy_from", peer.address().to_string());
    co_return;
  }
  auto header = co_await net::read_proxy_header(sock, kProxyHeaderTimeout);
  if (!header) {
    spdlog::warn("proxy: {} sent no valid PROXY header: {}", peer.address().to_string(),
                 header.error().message());
    co_return;
  }
  net::Endpoint client = header->local || !header->source ? peer : *header->source;
  auto session = spawn(std::move(sock), client);
  co_await std::move(session);
}

} // namespace

int serve(const core::Config& cfg) {
  // sendfile(2) and write(2) on a socket the peer closed must fail with EPIPE,
  // not kill the process.
  std::signal(SIGPIPE, SIG_IGN);

  unsigned n = cfg.server.threads != 0 ? cfg.server.threads
                                       : std::max(1u, std::thread::hardware_concurrency());
  Contexts loops;
  for (unsigned i = 0; i < n; ++i)
    loops.push_back(std::make_unique<asio::io_context>(1));
  // Declared after the loops: destroyed first, so its worker pool is joined
  // while the loops (which its completions post to) still exist.
  Wired wired = wire(cfg);

  std::list<net::Acceptor> acceptors;
  auto listen = [&](const std::vector<core::HostPort>& addresses, std::string_view name,
                    const core::ProxyConfig& proxy, const Spawn& direct) {
    Spawn spawn = direct;
    if (proxy.enabled) {
      auto from = std::make_shared<const core::CidrList>(
          core::CidrList::parse(proxy.from).value_or(core::CidrList()));
      spawn = [from, direct](net::Socket s, net::Endpoint peer) {
        return accept_proxied(std::move(s), peer, from, direct);
      };
    }
    for (const auto& hp : addresses) {
      net::Endpoint ep(asio::ip::make_address(hp.host), hp.port);
      auto a = net::bind_listener(*loops[0], ep, kBacklog);
      if (!a)
        throw std::runtime_error(fmt::format("{}.listen: can not listen on {}: {}", name,
                                             core::format_host_port(hp.host, hp.port),
                                             a.error().message()));
      auto bound = a->local_endpoint();
      fmt::print("{} listening on {}\n", name,
                 core::format_host_port(bound.address().to_string(), bound.port()));
      acceptors.push_back(std::move(*a));
      asio::co_spawn(*loops[0], accept_loop(acceptors.back(), loops, spawn), asio::detached);
    }
  };
  auto ftp_deps = wired.ftp;
  listen(cfg.ftp.listen, "ftp", cfg.ftp.proxy, [ftp_deps](net::Socket s, net::Endpoint peer) {
    return ftp::run_session(std::move(s), ftp_deps, peer);
  });
  if (wired.sftp) {
    auto sftp_deps = wired.sftp;
    listen(cfg.sftp.listen, "sftp", cfg.sftp.proxy, [sftp_deps](net::Socket s, net::Endpoint peer) {
      return sftp::ssh::run_ssh_session(std::move(s), sftp_deps, peer);
    });
  }
  auto ftps_deps = wired.ftps;
  listen(cfg.ftps.listen, "ftps", cfg.ftps.proxy, [ftps_deps](net::Socket s, net::Endpoint peer) {
    return ftp::run_session(std::move(s), ftps_deps, peer);
  });

  // GET /metrics and /healthz ([metrics] listen); healthy from "berth ready"
  // until the listeners close. Declared after `wired`: stopped before it goes.
  std::atomic<bool> listening{false};
  std::unique_ptr<MetricsEndpoint> metrics;
  if (cfg.metrics.listen) {
    auto telemetry = wired.telemetry;
    metrics = std::make_unique<MetricsEndpoint>(
        *cfg.metrics.listen, [telemetry] { return telemetry->metrics().render(); },
        [&listening] { return listening.load(); });
    fmt::print("metrics listening on {}\n",
               core::format_host_port(cfg.metrics.listen->host, metrics->port()));
  }

  // SIGHUP: reload the certificate and key; running sessions keep theirs.
  asio::signal_set hangup(*loops[0], SIGHUP);
  std::function<void()> wait_hangup = [&] {
    hangup.async_wait([&](const std::error_code& ec, int) {
      if (ec)
        return;
      if (wired.tls) {
        try {
          wired.tls->reload();
          spdlog::info("SIGHUP: TLS certificate reloaded, fingerprint {}",
                       wired.tls->current()->fingerprint());
        } catch (const std::exception& e) {
          spdlog::error("SIGHUP: keeping the old TLS certificate: {}", e.what());
        }
      }
      wait_hangup();
    });
  };
  wait_hangup();

  asio::signal_set signals(*loops[0], SIGINT, SIGTERM);
  signals.async_wait([&](const std::error_code& ec, int sig) {
    if (ec)
      return;
    spdlog::info("signal {}: stopping", sig);
    listening = false;
    for (auto& a : acceptors) {
      std::error_code ignored;
      a.close(ignored);
    }
    hangup.cancel();
    for (auto& l : loops)
      l->stop();
  });

  listening = true;
  fmt::print("berth ready\n");
  std::fflush(stdout);
  spdlog::info("berth serving with {} event-loop thread(s)", n);

  std::vector<std::thread> threads;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (auto& l : loops)
    guards.push_back(asio::make_work_guard(*l));
  for (unsigned i = 1; i < n; ++i)
    threads.emplace_back([&loops, i] { loops[i]->run(); });
  loops[0]->run();
  for (auto& l : loops)
    l->stop();
  for (auto& t : threads)
    t.join();
  guards.clear();
  acceptors.clear();
  wired.authenticator.reset(); // join the hash workers before the loops go away
  return 0;
}

} // namespace berth::server
