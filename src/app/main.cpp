#include "app/commands.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  CLI::App app{"berth: a multi-protocol secure file transfer server"};
  app.set_version_flag("--version", std::string("berth ") + BERTH_VERSION);
  app.require_subcommand(1);

  std::optional<std::string> config;
  auto* serve = app.add_subcommand(
      "serve", "Serve FTP, FTPS and SFTP. Without --config: the embedded default (FTP with "
               "explicit TLS on port 2121, implicit FTPS on 2990, SFTP on 2222, state in "
               "./berth-data, a generated user `demo`).");
  serve->add_option("-c,--config", config, "Configuration file (TOML)");

  std::string check_file;
  auto* check = app.add_subcommand("check-config", "Validate a configuration file and exit");
  check->add_option("file", check_file, "Configuration file (TOML)")->required();

  auto* hash = app.add_subcommand(
      "hash-password", "Read a password from standard input and print its argon2id hash");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (*serve)
    return berth::app::run_serve(config);
  if (*check)
    return berth::app::run_check_config(check_file);
  if (*hash)
    return berth::app::run_hash_password();
  return 0;
}
