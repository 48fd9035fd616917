#include "app/commands.hpp"

#include "app/cli_support.hpp"

#include "core/config.hpp"
#include "net/tls_context.hpp"
#include "server/wiring.hpp"
#include "vfs/storage_backends.hpp"

#include <cstdio>

namespace berth::app {

int run_check_config(const std::string& config_file) {
  try {
    core::Config cfg = core::load_config(config_file);
    {
      // Each home as its backend sees it: a directory, a bucket that answers.
      vfs::StorageBackends storage(nullptr, server::storage_settings(cfg));
      server::check_homes(cfg, storage);
    }
    if (const std::string problem = config_files_problem(cfg); !problem.empty()) {
      std::fprintf(stderr, "berth: %s: %s\n", config_file.c_str(), problem.c_str());
      return 2;
    }
    if (!cfg.tls.certificate.empty() || !net::tls_hosts(cfg.ftp.hosts).empty()) {
      // Load the configured certificate and key as serve would: a bad file or
      // a key that does not match is caught here too.
      net::TlsSettings tls;
      tls.certificate = cfg.tls.certificate;
      tls.private_key = cfg.tls.private_key.empty() ? cfg.tls.certificate : cfg.tls.private_key;
      tls.hosts = net::tls_hosts(cfg.ftp.hosts);
      if (tls.certificate.empty()) { // the server's own is generated at start: check a host's
        tls.certificate = tls.hosts.front().certificate;
        tls.private_key =
            tls.hosts.front().private_key.empty() ? tls.certificate : tls.hosts.front().private_key;
      }
      try {
        (void)net::TlsContext::create(tls);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "berth: %s: %s\n", config_file.c_str(), e.what());
        return 2;
      }
    }
    std::printf("%s: ok (%zu user(s), %zu FTP listener(s))\n", config_file.c_str(),
                cfg.users.size(), cfg.ftp.listen.size());
    return 0;
  } catch (const core::ConfigError& e) {
    std::fprintf(stderr, "berth: %s\n", e.what());
    return 2;
  }
}

} // namespace berth::app
