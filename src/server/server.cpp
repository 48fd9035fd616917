#include "server/server.hpp"

#include "core/cidr.hpp"
#include "core/log.hpp"
#include "ftp/session.hpp"
#include "net/listener.hpp"
#include "net/proxy_reader.hpp"
#include "server/metrics_endpoint.hpp"
#include "server/privileges.hpp"
#include "server/wiring.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <unistd.h>

#include <atomic>

#include <csignal>
#include <cstdio>
#include <functional>
#include <mutex>
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

// Runs until the acceptor is closed (it owns a share of it: a reload may
// drop the listener while an accept is pending). Each session holds a place
// in the drain's count until it ends.
core::Task<void> accept_loop(std::shared_ptr<net::Acceptor> acceptor, Contexts& loops, Spawn spawn,
                             core::Drain* drain) {
  std::size_t next = 0;
  asio::steady_timer pause(acceptor->get_executor());
  for (;;) {
    auto& loop = *loops[next++ % loops.size()];
    auto [ec, sock] = co_await acceptor->async_accept(loop, kTuple);
    if (ec == asio::error::operation_aborted || !acceptor->is_open())
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
    asio::co_spawn(loop, spawn(std::move(sock), peer),
                   [hold = drain->hold()](std::exception_ptr e) {
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

core::Task<void> nothing() {
  co_return;
}

enum class Kind { ftp, ftps, sftp };

const char* name_of(Kind k) {
  switch (k) {
  case Kind::ftp:
    return "ftp";
  case Kind::ftps:
    return "ftps";
  case Kind::sftp:
    return "sftp";
  }
  return "?";
}

const std::vector<core::HostPort>& addresses_of(const core::Config& cfg, Kind k) {
  switch (k) {
  case Kind::ftp:
    return cfg.ftp.listen;
  case Kind::ftps:
    return cfg.ftps.listen;
  case Kind::sftp:
    return cfg.sftp.listen;
  }
  return cfg.ftp.listen;
}

constexpr Kind kKinds[] = {Kind::ftp, Kind::sftp, Kind::ftps};

/// A bound listener and the configured address it serves ("127.0.0.1:0"
/// stays the same listener across reloads, whatever port it got).
struct Listener {
  Kind kind;
  std::string configured;
  std::shared_ptr<net::Acceptor> acceptor;
};

/// What a reload built off the loops: a new generation, or the reason there is none.
struct Reloaded {
  std::shared_ptr<const Generation> generation;
  std::string error;                     ///< One line; empty on success.
  std::vector<std::string> restart_only; ///< Changed keys that need a restart.
};

class Server {
public:
  Server(const core::Config& cfg, IdentityPlan plan);
  int run();

private:
  friend core::Task<void> reload(Server* s);

  std::shared_ptr<const Generation> current() const {
    std::lock_guard lock(current_mu_);
    return wired_.current;
  }
  Spawn spawn_for(Kind kind);
  std::string open_listener(Kind kind, const core::HostPort& hp);
  void rebind(const core::Config& cfg);
  Reloaded build_reload() const;
  void apply_reload(Reloaded r);
  void wait_hangup();
  void wait_stop();
  void on_stop(int sig);
  void finish();

  const core::Config start_config_;
  const IdentityPlan plan_;
  // Declared first, destroyed last: sessions (in the loops' queues until the
  // loops are destroyed) may hold the last share of a generation, whose
  // Authenticator points into the lasting objects.
  Wired wired_;
  Contexts loops_;
  mutable std::mutex current_mu_; // guards wired_.current: read by accepts on every loop
  std::vector<Listener> listeners_;
  std::unique_ptr<asio::signal_set> hangup_;
  std::unique_ptr<asio::signal_set> stop_;
  std::unique_ptr<asio::steady_timer> shutdown_timer_;
  bool reloading_ = false;
  bool reload_again_ = false;
  /// GET /metrics and /healthz ([metrics] listen); healthy from "berth ready"
  /// until the listeners close. Stopped before the lasting objects go.
  std::atomic<bool> listening_{false};
  std::unique_ptr<MetricsEndpoint> metrics_;
};

Server::Server(const core::Config& cfg, IdentityPlan plan)
    : start_config_(cfg), plan_(plan), wired_(wire(cfg)) {
  unsigned n = cfg.server.threads != 0 ? cfg.server.threads
                                       : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i)
    loops_.push_back(std::make_unique<asio::io_context>(1));
}

Spawn Server::spawn_for(Kind kind) {
  // The generation is picked when the connection is handed to its session:
  // after a reload, new connections get the new one.
  Spawn direct = [this, kind](net::Socket s, net::Endpoint peer) -> core::Task<void> {
    auto g = current();
    if (kind == Kind::sftp) {
      std::shared_ptr<const sftp::ssh::SshDeps> deps = g->sftp;
      if (!deps)
        return nothing(); // SFTP was switched off by a reload: the socket closes
      return sftp::ssh::run_ssh_session(std::move(s), std::move(deps), peer);
    }
    std::shared_ptr<const ftp::SessionDeps> deps = kind == Kind::ftp ? g->ftp : g->ftps;
    return ftp::run_session(std::move(s), std::move(deps), peer);
  };
  return [this, kind, direct](net::Socket s, net::Endpoint peer) -> core::Task<void> {
    auto g = current();
    std::shared_ptr<const core::CidrList> from = kind == Kind::ftp    ? g->ftp_proxy_from
                                                 : kind == Kind::ftps ? g->ftps_proxy_from
                                                                      : g->sftp_proxy_from;
    if (from)
      return accept_proxied(std::move(s), peer, std::move(from), direct);
    return direct(std::move(s), peer);
  };
}

// Binds one listener and starts accepting; returns the error line, or empty.
std::string Server::open_listener(Kind kind, const core::HostPort& hp) {
  const std::string configured = core::format_host_port(hp.host, hp.port);
  net::Endpoint ep(asio::ip::make_address(hp.host), hp.port);
  auto a = net::bind_listener(*loops_[0], ep, kBacklog);
  if (!a)
    return fmt::format("{}.listen: can not listen on {}: {}", name_of(kind), configured,
                       a.error().message());
  auto bound = a->local_endpoint();
  fmt::print("{} listening on {}\n", name_of(kind),
             core::format_host_port(bound.address().to_string(), bound.port()));
  std::fflush(stdout);
  auto acceptor = std::make_shared<net::Acceptor>(std::move(*a));
  listeners_.push_back(Listener{kind, configured, acceptor});
  // A named Spawn moved in: GCC 12 mishandles prvalues passed by value into coroutines.
  Spawn spawn = spawn_for(kind);
  asio::co_spawn(*loops_[0], accept_loop(acceptor, loops_, std::move(spawn), wired_.drain.get()),
                 asio::detached);
  return {};
}

// A reload's listeners: per kind, addresses no longer configured close and
// new ones are bound; if one of the new ones can not be bound, the old ones
// of that kind stay open (one error line each).
void Server::rebind(const core::Config& cfg) {
  for (Kind kind : kKinds) {
    std::vector<std::string> wanted;
    for (const auto& hp : addresses_of(cfg, kind))
      wanted.push_back(core::format_host_port(hp.host, hp.port));
    bool failed = false;
    for (const auto& hp : addresses_of(cfg, kind)) {
      const std::string configured = core::format_host_port(hp.host, hp.port);
      bool open = false;
      for (const auto& l : listeners_)
        open = open || (l.kind == kind && l.configured == configured);
      if (open)
        continue;
      std::string error = open_listener(kind, hp);
      if (!error.empty()) {
        spdlog::error("SIGHUP: {}; the old {} listeners stay", error, name_of(kind));
        failed = true;
      }
    }
    if (failed)
      continue;
    std::erase_if(listeners_, [&](Listener& l) {
      if (l.kind != kind || std::find(wanted.begin(), wanted.end(), l.configured) != wanted.end())
        return false;
      spdlog::info("SIGHUP: {} stops listening on {}", name_of(kind), l.configured);
      std::error_code ignored;
      l.acceptor->close(ignored);
      return true;
    });
  }
}

// Off the loops (file reads, maybe key generation): the configuration file
// again, and a generation from it.
Reloaded Server::build_reload() const {
  Reloaded r;
  auto old = current();
  const core::Config& before = old->config;
  core::Config cfg;
  if (before.source.empty()) {
    cfg = before; // the embedded default: certificate and host keys only
  } else {
    try {
      cfg = core::load_config(before.source);
    } catch (const core::ConfigError& e) {
      r.error = e.what(); // the line `berth check-config` prints
      return r;
    }
  }
  // What was set up once at start stays; the keys are named in one warning.
  auto keep = [&](bool changed, const char* key, auto& field, const auto& value) {
    if (changed)
      r.restart_only.push_back(key);
    field = value;
  };
  auto same_identity = [](const std::optional<core::RunAs>& a,
                          const std::optional<core::RunAs>& b) {
    return a.has_value() == b.has_value() && (!a || (a->uid == b->uid && a->gid == b->gid));
  };
  keep(cfg.server.state_dir != before.server.state_dir, "server.state_dir", cfg.server.state_dir,
       before.server.state_dir);
  keep(cfg.server.threads != before.server.threads, "server.threads", cfg.server.threads,
       before.server.threads);
  keep(!same_identity(cfg.server.run_as, before.server.run_as), "server.user/group",
       cfg.server.run_as, before.server.run_as);
  keep(cfg.users_db.database != before.users_db.database, "users.database", cfg.users_db.database,
       before.users_db.database);
  try {
    r.generation = rewire(cfg, wired_);
  } catch (const std::exception& e) {
    // As check-config says it of a certificate that does not load.
    r.error = cfg.source.empty() ? std::string(e.what())
                                 : fmt::format("{}: {}", cfg.source.string(), e.what());
  }
  return r;
}

void Server::apply_reload(Reloaded r) {
  if (wired_.drain->draining())
    return;
  if (!r.generation) {
    spdlog::error("SIGHUP: keeping the running configuration: {}", r.error);
    return;
  }
  if (!r.restart_only.empty()) {
    std::string keys;
    for (const auto& k : r.restart_only)
      keys += (keys.empty() ? "" : ", ") + k;
    spdlog::warn("SIGHUP: {} changed: takes effect at the next start", keys);
  }
  const core::Config& cfg = r.generation->config;
  wired_.defender->reconfigure(defender_settings(cfg));
  {
    std::lock_guard lock(current_mu_);
    wired_.current = r.generation;
  }
  rebind(cfg);
  std::string tls;
  if (r.generation->tls)
    tls = ", TLS certificate " + r.generation->tls->current()->fingerprint();
  spdlog::info("SIGHUP: reloaded {}: {} configured user(s){}",
               cfg.source.empty() ? "certificate and host keys" : cfg.source.string(),
               cfg.users.size(), tls);
}

// Reloads one after the other; SIGHUPs that come meanwhile make one more.
// A pointer, as a spawned coroutine: the Server outlives the loops.
core::Task<void> reload(Server* s) {
  do {
    s->reload_again_ = false;
    auto build = [s] { return s->build_reload(); };
    Reloaded r = co_await s->wired_.io->run(build);
    s->apply_reload(std::move(r));
  } while (s->reload_again_ && !s->wired_.drain->draining());
  s->reloading_ = false;
}

void Server::wait_hangup() {
  hangup_->async_wait([this](const std::error_code& ec, int) {
    if (ec)
      return;
    if (reloading_) {
      reload_again_ = true;
    } else {
      reloading_ = true;
      asio::co_spawn(*loops_[0], reload(this), asio::detached);
    }
    wait_hangup();
  });
}

void Server::wait_stop() {
  stop_->async_wait([this](const std::error_code& ec, int sig) {
    if (!ec)
      on_stop(sig);
  });
}

void Server::on_stop(int sig) {
  if (wired_.drain->draining()) {
    spdlog::info("signal {}: stopping now", sig);
    finish();
    return;
  }
  const auto timeout = current()->config.server.shutdown_timeout;
  listening_ = false;
  for (auto& l : listeners_) {
    std::error_code ignored;
    l.acceptor->close(ignored);
  }
  listeners_.clear();
  hangup_->cancel();
  spdlog::info("signal {}: stopping: {} session(s) running; transfers have {} s to finish", sig,
               wired_.drain->running(), timeout.count());
  shutdown_timer_->expires_after(timeout);
  shutdown_timer_->async_wait([this](const std::error_code& ec) {
    if (ec)
      return;
    spdlog::info("shutdown_timeout reached: closing {} session(s)", wired_.drain->running());
    finish();
  });
  wired_.drain->start([this] {
    asio::post(*loops_[0], [this] {
      spdlog::info("every session ended");
      finish();
    });
  });
  wait_stop(); // a second signal stops at once
}

void Server::finish() {
  for (auto& l : loops_)
    l->stop();
}

int Server::run() {
  for (Kind kind : kKinds)
    for (const auto& hp : addresses_of(start_config_, kind))
      if (std::string error = open_listener(kind, hp); !error.empty())
        throw std::runtime_error(error);

  if (start_config_.metrics.listen) {
    // Bound before the drop, like the other listeners. [metrics] changes take
    // effect at the next start.
    auto telemetry = wired_.telemetry;
    metrics_ = std::make_unique<MetricsEndpoint>(
        *start_config_.metrics.listen, [telemetry] { return telemetry->metrics().render(); },
        [this] { return listening_.load(); });
    fmt::print("metrics listening on {}\n",
               core::format_host_port(start_config_.metrics.listen->host, metrics_->port()));
  }

  if (plan_ == IdentityPlan::keep_root)
    spdlog::warn("serving as root: set [server] user (and group) to drop root once the "
                 "listeners are bound");
  if (plan_ == IdentityPlan::drop) {
    // Root made the state folder, the user database and generated keys:
    // hand them over, so that the server and later reloads can use them.
    const core::RunAs& who = *start_config_.server.run_as;
    for (const auto& line : hand_over(generated_paths(start_config_), who))
      spdlog::warn("{}", line);
    const std::uint64_t keep = capabilities_to_keep(start_config_);
    drop_privileges(who, keep);
    spdlog::info("serving as user {} (uid {}, gid {}){}", who.user, who.uid, who.gid,
                 keep != 0 ? ", keeping CAP_NET_BIND_SERVICE for FTP data ports below 1024" : "");
  }

  // SECURITY: every thread starts after the drop; capabilities, the bounding
  // set and no_new_privs are per thread (issue 17: pools made before kept them all).
  wired_.start_workers();
  if (metrics_)
    metrics_->start();

  hangup_ = std::make_unique<asio::signal_set>(*loops_[0], SIGHUP);
  stop_ = std::make_unique<asio::signal_set>(*loops_[0], SIGINT, SIGTERM);
  shutdown_timer_ = std::make_unique<asio::steady_timer>(*loops_[0]);
  wait_hangup();
  wait_stop();

  listening_ = true;
  fmt::print("berth ready\n");
  std::fflush(stdout);
  spdlog::info("berth serving with {} event-loop thread(s)", loops_.size());

  // Started after the drop: threads inherit this one's capabilities.
  std::vector<std::thread> threads;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (auto& l : loops_)
    guards.push_back(asio::make_work_guard(*l));
  for (std::size_t i = 1; i < loops_.size(); ++i)
    threads.emplace_back([this, i] { loops_[i]->run(); });
  loops_[0]->run();
  finish();
  for (auto& t : threads)
    t.join();
  guards.clear();
  metrics_.reset(); // its gauges read the defender
  wired_.drain->forget_idle();
  // Work still on the pools completes into the stopped loops, which must
  // exist until it has; then the loops (and the sessions in them) go.
  wired_.join_workers();
  for (auto& l : listeners_) {
    std::error_code ignored;
    l.acceptor->close(ignored);
  }
  listeners_.clear();
  hangup_.reset();
  stop_.reset();
  shutdown_timer_.reset();
  loops_.clear();
  return 0;
}

} // namespace

int serve(const core::Config& cfg) {
  // sendfile(2) and write(2) on a socket the peer closed must fail with EPIPE,
  // not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  const IdentityPlan plan = plan_identity(cfg, ::geteuid(), ::getegid());
  Server server(cfg, plan);
  return server.run();
}

} // namespace berth::server
