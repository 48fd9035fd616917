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
  serve->add_option("-c,--config", config,
                    "Configuration file (TOML; `man berth` and README.md list every key). "
                    "Absent: the embedded default.");
  serve->footer(
      "Signals: SIGHUP re-reads the configuration, users, TLS certificate and SSH host keys\n"
      "(running sessions keep theirs; a bad configuration is logged and the old one kept);\n"
      "SIGTERM/SIGINT stop accepting, let running transfers finish for [server]\n"
      "shutdown_timeout seconds, then exit 0.\n"
      "Environment: BERTH_LOG_LEVEL=trace|debug|info|warn|error (the log goes to stderr).\n"
      "Started as root with [server] user set, berth drops to that user after binding.\n"
      "Exit status: 0 after a clean stop, 2 for a bad configuration or a start-up failure.");

  std::string check_file;
  auto* check = app.add_subcommand("check-config", "Validate a configuration file and exit");
  check->add_option("file", check_file, "Configuration file (TOML)")->required();

  auto* hash = app.add_subcommand(
      "hash-password", "Read a password from standard input and print its argon2id hash");

  auto user = berth::app::add_user_commands(app);
  auto ban = berth::app::add_ban_commands(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) // --help, --version
      return app.exit(e);
    // Bad usage: one line and exit code 2, as a bad configuration (CLI11's
    // own codes are 100 and up).
    std::fprintf(stderr, "berth: %s (see --help)\n", e.what());
    return 2;
  }
  if (*serve)
    return berth::app::run_serve(config);
  if (*check)
    return berth::app::run_check_config(check_file);
  if (*hash)
    return berth::app::run_hash_password();
  if (*user.command)
    return user.run();
  if (*ban.command)
    return ban.run();
  return 0;
}
