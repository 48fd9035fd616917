#include "server/wiring.hpp"

#include "auth/password.hpp"
#include "core/log.hpp"
#include "store/static/static_store.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <sys/stat.h>

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
  store::UserRecord u{"demo", {}, {}, home, {}};
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

} // namespace

Wired wire(const core::Config& cfg) {
  make_private_dir(cfg.server.state_dir);
  ::chmod(cfg.server.state_dir.c_str(), 0700);
  std::vector<store::UserRecord> users;
  for (const auto& u : cfg.users)
    users.push_back(
        store::UserRecord{u.name, u.password, u.password_hash, u.home, u.authorized_keys});
  if (cfg.source.empty())
    users.push_back(default_user(cfg.server.state_dir));
  if (users.empty())
    spdlog::warn("no users are configured: nobody can log in (add [[user]] tables)");

  Wired w;
  w.users = std::make_shared<store::StaticStore>(std::move(users));
  w.authenticator = std::make_unique<auth::Authenticator>(w.users, 2);
  auto deps = std::make_shared<ftp::SessionDeps>();
  deps->config = cfg.ftp;
  deps->authenticator = w.authenticator.get();
  w.ftp = std::move(deps);
  if (!cfg.sftp.listen.empty()) {
    sftp::ssh::init_libssh();
    auto s = std::make_shared<sftp::ssh::SshDeps>();
    s->host_keys = sftp::ssh::HostKeys::load(cfg.sftp.host_keys, cfg.server.state_dir / "ssh");
    for (const auto& fp : s->host_keys.fingerprints)
      fmt::print("ssh host key {}\n", fp);
    std::fflush(stdout);
    s->authenticator = w.authenticator.get();
    s->users = w.users;
    s->login_timeout = cfg.ftp.login_timeout;
    s->idle_timeout = cfg.ftp.idle_timeout;
    w.sftp = std::move(s);
  }
  return w;
}

} // namespace berth::server
