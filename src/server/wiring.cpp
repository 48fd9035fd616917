#include "server/wiring.hpp"

#include "auth/password.hpp"
#include "core/cidr.hpp"
#include "core/log.hpp"
#include "core/run_blocking.hpp"
#include "store/static/static_store.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <sys/resource.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace berth::server {
namespace {

namespace fs = std::filesystem;

void make_private_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir))
    throw std::runtime_error(
        fmt::format("{}: can not create directory: {}", dir.string(), ec.message()));
}

// The embedded default's user: `demo` with a random password shown once and
// stored as an argon2id hash in the state folder; reused by later starts.
store::UserRecord default_user(const fs::path& state_dir) {
  const fs::path hash_file = state_dir / "demo.password-hash";
  const fs::path home = fs::absolute(state_dir / "home" / "demo");
  make_private_dir(home);
  store::UserRecord u;
  u.name = "demo";
  u.home = home;
  u.read_only = true;
  std::ifstream in(hash_file);
  if (in && std::getline(in, u.password_hash) && u.password_hash.starts_with("$argon2id$"))
    return u;
  std::string password = auth::random_password(16);
  u.password_hash = auth::hash_password(password);
  {
    std::ofstream out(hash_file, std::ios::trunc);
    out << u.password_hash << "\n";
    if (!out)
      throw std::runtime_error(fmt::format("{}: can not write", hash_file.string()));
  }
  ::chmod(hash_file.c_str(), 0600);
  fmt::print("created user demo with password {}\n", password);
  std::fflush(stdout);
  return u;
}

std::shared_ptr<net::TlsHolder> make_tls(const core::Config& cfg) {
  net::TlsSettings settings;
  settings.certificate = cfg.tls.certificate;
  settings.private_key = cfg.tls.private_key.empty() ? cfg.tls.certificate : cfg.tls.private_key;
  settings.generated_dir = cfg.server.state_dir / "tls";
  settings.tls13_only = cfg.tls.tls13_only;
  settings.session_cache_size = cfg.tls.session_cache_size;
  settings.hosts = net::tls_hosts(cfg.ftp.hosts);
  // Subject alternative names of a generated certificate: this host's name and
  // every concrete listen address.
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0 && host[0] != '\0')
    settings.names.push_back(host);
  settings.names.push_back("localhost");
  std::set<std::string> seen(settings.names.begin(), settings.names.end());
  std::vector<std::string> addrs{"127.0.0.1", "::1"};
  for (const auto* list : {&cfg.ftp.listen, &cfg.ftps.listen})
    for (const auto& hp : *list)
      if (hp.host != "0.0.0.0" && hp.host != "::")
        addrs.push_back(hp.host);
  for (const auto& a : addrs)
    if (seen.insert(a).second)
      settings.names.push_back(a);
  auto ctx = net::TlsContext::create(settings);
  fmt::print("tls certificate{} SHA-256 fingerprint {}\n", ctx->generated() ? " (generated)" : "",
             ctx->fingerprint());
  std::fflush(stdout);
  return std::make_shared<net::TlsHolder>(std::move(settings), std::move(ctx));
}

// The metrics and the transfer log, opened now so that a bad path stops the
// start with one line.
std::shared_ptr<core::Telemetry> make_telemetry(const core::Config& cfg,
                                                const auth::Defender* defender) {
  std::unique_ptr<core::XferlogFile> xferlog;
  if (!cfg.log.transfer_log.empty()) {
    auto file = core::XferlogFile::open(cfg.log.transfer_log);
    if (!file)
      throw std::runtime_error(fmt::format("log.transfer_log: {}: can not open: {}",
                                           cfg.log.transfer_log.string(), file.error().message()));
    xferlog = std::move(*file);
  }
  auto telemetry = std::make_shared<core::Telemetry>(std::move(xferlog));
  // Read when scraped; the endpoint stops before the defender goes.
  telemetry->metrics().gauge_callback(
      "berth_bans_active", "Client addresses the defender bans now.", {},
      [defender] { return static_cast<double>(defender->active_bans()); });
  return telemetry;
}

} // namespace

auth::DefenderConfig defender_settings(const core::Config& cfg) {
  const core::DefenderConfig& c = cfg.defender;
  auth::DefenderConfig d;
  d.ipv6_prefix = cfg.limits.ipv6_prefix;
  d.enabled = c.enabled;
  d.max_failures = c.max_failures;
  d.window = c.window;
  d.ban_time = c.ban_time;
  d.max_ban_time = c.max_ban_time;
  d.allow = core::CidrList::parse(c.allow).value_or(core::CidrList()); // checked by the config
  return d;
}

vfs::StorageSettings storage_settings(const core::Config& cfg) {
  vfs::StorageSettings s;
  s.upload_mode = cfg.server.upload_mode;
  s.s3 = cfg.s3;
  s.state_dir = cfg.server.state_dir;
  return s;
}

namespace {

core::Task<core::Result<void>> check_home(vfs::Backends& storage, vfs::Location location,
                                          std::string* why) {
  co_return co_await storage.check(location, *why);
}

// One home's check: "file:line: key: reason" when it can not serve.
// `accepted`: what was already checked; an S3 home's check asks only its
// bucket, so the users of one bucket cost one request, not one each.
void check_one_home(vfs::Backends& storage, const fs::path& home, const std::string& source,
                    std::string_view key, std::set<std::string>& accepted) {
  std::string why;
  auto location = vfs::Location::parse(home.string(), &why);
  if (location) {
    const std::string what = location->kind() == vfs::Location::Kind::s3
                                 ? location->profile() + "@" + location->bucket()
                                 : location->path().string();
    if (accepted.contains(what))
      return;
    auto ok = core::run_blocking(check_home(storage, *location, &why));
    if (ok) {
      accepted.insert(what);
      return;
    }
  }
  throw core::ConfigError(fmt::format("{}{}{}: {}", source, source.empty() ? "" : ": ", key, why));
}

} // namespace

void check_homes(const core::Config& cfg, vfs::Backends& storage) {
  std::set<std::string> accepted;
  for (const auto& u : cfg.users)
    check_one_home(storage, u.home, u.home_source, "user.home", accepted);
  if (cfg.anonymous.enabled)
    check_one_home(storage, cfg.anonymous.home, cfg.anonymous.home_source, "ftp.anonymous.home",
                   accepted);
}

std::shared_ptr<const Generation> rewire(const core::Config& cfg, const Wired& w) {
  {
    // Checked with the new settings before they replace the old ones.
    vfs::StorageBackends next(nullptr, storage_settings(cfg));
    check_homes(cfg, next);
  }
  w.storage->reconfigure(storage_settings(cfg));
  std::vector<store::UserRecord> users;
  for (const auto& u : cfg.users) {
    store::UserRecord r;
    r.name = u.name;
    r.password = u.password;
    r.password_hash = u.password_hash;
    r.home = u.home;
    r.authorized_keys = u.authorized_keys;
    r.permissions = u.permissions;
    r.quota_bytes = u.quota_bytes;
    r.quota_files = u.quota_files;
    r.max_sessions = u.max_sessions;
    r.upload_rate = u.upload_rate;
    r.download_rate = u.download_rate;
    r.allow_from = u.allow_from;
    r.disabled = u.disabled;
    r.read_only = true;
    users.push_back(std::move(r));
  }
  if (cfg.source.empty())
    users.push_back(default_user(cfg.server.state_dir));
  if (users.empty())
    spdlog::warn("no users are configured: nobody can log in (add [[user]] tables)");

  auto g = std::make_shared<Generation>();
  g->config = cfg;
  // Files first (they may fail), the Authenticator last: it sets the global
  // rates in the lasting state.
  if (cfg.ftp.tls != core::TlsPolicy::off || !cfg.ftps.listen.empty())
    g->tls = make_tls(cfg);
  auto s = std::make_shared<sftp::ssh::SshDeps>();
  if (!cfg.sftp.listen.empty()) {
    sftp::ssh::init_libssh();
    s->host_keys = sftp::ssh::HostKeys::load(cfg.sftp.host_keys, cfg.server.state_dir / "ssh");
    for (const auto& fp : s->host_keys.fingerprints)
      fmt::print("ssh host key {}\n", fp);
    std::fflush(stdout);
  }
  g->users = std::make_shared<store::StaticStore>(std::move(users), w.database);
  auth::AuthSettings settings;
  settings.policy = auth::LoginPolicy{3, cfg.ftp.failed_login_delay};
  settings.anonymous = cfg.anonymous;
  settings.login_cache_ttl = cfg.users_db.login_cache;
  settings.hash_cost = auth::HashCost{cfg.users_db.hash_memory_kib, cfg.users_db.hash_iterations};
  settings.limits = cfg.limits;
  // The budget of open files, within the descriptors this process may have.
  rlimit nofile{};
  const std::size_t max_fds =
      ::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY
          ? static_cast<std::size_t>(nofile.rlim_cur)
          : std::size_t{1} << 20;
  settings.open_files =
      vfs::open_file_limits(max_fds, cfg.limits.max_open_files, cfg.limits.max_open_files_per_user);
  spdlog::info("open files: at most {} for all users, {} per user (of {} descriptors)",
               settings.open_files.total, settings.open_files.per_user, max_fds);
  settings.bandwidth = cfg.bandwidth;
  settings.upload_mode = cfg.server.upload_mode;
  settings.storage = w.storage;
  settings.storage_state = w.database;
  settings.trusted_user_ca_keys = cfg.sftp.trusted_user_ca_keys;
  settings.revoked_keys = cfg.sftp.revoked_keys;
  g->authenticator = std::make_shared<auth::Authenticator>(g->users, w.live, std::move(settings),
                                                           w.defender.get(), w.io.get());
  auto deps = std::make_shared<ftp::SessionDeps>();
  deps->config = cfg.ftp;
  deps->tls_config = cfg.tls;
  deps->authenticator = g->authenticator;
  deps->drain = w.drain;
  deps->telemetry = w.telemetry;
  deps->passive_addresses = std::make_shared<ftp::PassiveAddresses>(cfg.ftp);
  deps->tls = cfg.ftp.tls != core::TlsPolicy::off ? g->tls : nullptr;
  auto implicit = std::make_shared<ftp::SessionDeps>(*deps);
  implicit->tls = g->tls;
  implicit->implicit_tls = true;
  implicit->config.active_data_port = cfg.ftps.active_data_port;
  auto proxy_from = [](const core::ProxyConfig& p) -> std::shared_ptr<const core::CidrList> {
    if (!p.enabled)
      return nullptr;
    return std::make_shared<const core::CidrList>(
        core::CidrList::parse(p.from).value_or(core::CidrList()));
  };
  g->ftp_proxy_from = proxy_from(cfg.ftp.proxy);
  g->ftps_proxy_from = proxy_from(cfg.ftps.proxy);
  g->sftp_proxy_from = proxy_from(cfg.sftp.proxy);
  deps->proxy_from = g->ftp_proxy_from;
  implicit->proxy_from = g->ftps_proxy_from;
  g->ftp = std::move(deps);
  g->ftps = std::move(implicit);
  if (!cfg.sftp.listen.empty()) {
    s->authenticator = g->authenticator;
    s->drain = w.drain;
    s->telemetry = w.telemetry;
    s->login_timeout = cfg.ftp.login_timeout;
    s->idle_timeout = cfg.ftp.idle_timeout;
    s->max_channels = cfg.sftp.max_channels_per_connection;
    g->sftp = std::move(s);
  }
  return g;
}

Wired wire(const core::Config& cfg) {
  make_private_dir(cfg.server.state_dir);
  ::chmod(cfg.server.state_dir.c_str(), 0700);
  Wired w;
  // Threads for file I/O that may wait for a disk (reads missing the page cache,
  // writes, fsync): a few per core, as disks overlap requests.
  // None starts before start_workers(): after the privilege drop.
  const auto later = core::WorkerPool::Start::later;
  w.io = std::make_unique<core::WorkerPool>(
      std::max(4u, 2 * std::max(1u, std::thread::hardware_concurrency())), later);
  w.db = std::make_unique<core::WorkerPool>(1, later);
  auto database = store::SqliteStore::open(cfg.user_database(), w.db.get());
  if (!database)
    throw std::runtime_error(fmt::format("{}: can not open the user database: {}",
                                         cfg.user_database().string(), database.error().message()));
  w.database = std::move(*database);
  w.defender = std::make_unique<auth::Defender>(defender_settings(cfg), w.database.get());
  w.live = std::make_shared<auth::LiveState>(2, later);
  w.drain = std::make_shared<core::Drain>();
  w.telemetry = make_telemetry(cfg, w.defender.get());
  w.storage = std::make_shared<vfs::StorageBackends>(w.io.get(), storage_settings(cfg), w.database);
  w.current = rewire(cfg, w);
  return w;
}

void Wired::start_workers() {
  io->start();
  db->start();
  live->start_workers();
}

void Wired::join_workers() {
  live->join_workers();
  io->join();
  db->join();
}

std::vector<fs::path> generated_paths(const core::Config& cfg) {
  std::vector<fs::path> out;
  std::error_code ec;
  const fs::path& state = cfg.server.state_dir;
  if (fs::is_directory(fs::symlink_status(state, ec)))
    out.push_back(state);
  // Not following symlinks: a link in the state folder must not get a file
  // elsewhere handed over.
  fs::recursive_directory_iterator it(state, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const fs::path rel = it->path().lexically_relative(state);
    out.push_back(it->path());
    // home/ and each home in it, not the users' files.
    if (*rel.begin() == "home" && it.depth() >= 1)
      it.disable_recursion_pending();
  }
  const fs::path db = cfg.user_database();
  for (const char* suffix : {"", "-wal", "-shm"}) {
    fs::path p = db;
    p += suffix;
    if (fs::exists(fs::symlink_status(p, ec)) && std::find(out.begin(), out.end(), p) == out.end())
      out.push_back(p);
  }
  return out;
}

} // namespace berth::server
