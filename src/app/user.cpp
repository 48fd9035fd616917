#include "app/commands.hpp"

#include "app/cli_support.hpp"
#include "app/json.hpp"
#include "app/recount.hpp"
#include "auth/authorized_keys.hpp"
#include "auth/password.hpp"
#include "core/cidr.hpp"
#include "core/run_blocking.hpp"
#include "server/wiring.hpp"
#include "vfs/location.hpp"
#include "vfs/storage_backends.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>

namespace berth::app {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxNameLength = 64;
constexpr std::size_t kGeneratedPasswordLength = 20;
// SQLite integers are signed: nothing above this is stored.
constexpr std::uint64_t kMaxStored = std::numeric_limits<std::int64_t>::max();

// What the command line said. One struct for every `user` subcommand; only
// the one that ran has filled it.
struct UserArgs {
  std::string config;
  std::string name;
  std::string home;
  bool password_stdin = false;
  bool generate_password = false;
  std::string password_hash;
  std::vector<std::string> keys;
  std::string key_file;
  std::string permissions;
  std::string quota_bytes;
  std::string quota_files;
  std::string max_sessions;
  std::string upload_rate;
  std::string download_rate;
  std::string allow_from;
  bool disabled = false;
  bool enabled = false;
  bool clear_keys = false;
  bool json = false;
};

// Ends the command: exit code and one line for stderr (none when the store
// has logged the cause already). Caught in run_user_command.
struct CliError {
  int code;
  std::string message;
};

[[noreturn]] void usage(std::string message) {
  throw CliError{kExitUsage, std::move(message)};
}

[[noreturn]] void refuse(std::string message) {
  throw CliError{kExitFailed, std::move(message)};
}

[[noreturn]] void store_failed(std::error_code ec, const std::string& name) {
  if (ec == store::Errc::no_such_user)
    refuse(fmt::format("no user {}", json::quote(name)));
  if (ec == store::Errc::exists)
    refuse(fmt::format("user {} exists already", json::quote(name)));
  if (ec == store::Errc::database)
    refuse(""); // logged by the store
  refuse(ec.message());
}

template <class T> T checked(core::Result<T> r, const std::string& name) {
  if (!r)
    store_failed(r.error(), name);
  return std::move(*r);
}

void checked(const core::Result<void>& r, const std::string& name) {
  if (!r)
    store_failed(r.error(), name);
}

std::string_view trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && space(s.back()))
    s.remove_suffix(1);
  return s;
}

// Names as the configuration's [[user]] tables allow them, and short enough
// for logs and listings.
void check_name(const std::string& name) {
  const bool bad_char = std::any_of(name.begin(), name.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c <= 0x20 || c == 0x7F || c == '/' || c == ':';
  });
  if (name.empty() || name.size() > kMaxNameLength || bad_char)
    usage(fmt::format("invalid user name {}: 1 to {} characters, no spaces, '/' or ':'",
                      json::quote(name), kMaxNameLength));
}

// SECURITY: users of the configuration file are read-only; a database user
// of the same name would be shadowed or shadow it, depending on the order.
void refuse_config_user(const core::Config& cfg, const std::string& name) {
  for (const auto& u : cfg.users)
    if (u.name == name)
      refuse(fmt::format("user {} is defined in the configuration file (read-only)",
                         json::quote(name)));
}

std::uint64_t parse_number(std::string_view option, const std::string& text, std::uint64_t max) {
  std::uint64_t v = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc{} || p != end || v > max)
    usage(fmt::format("{}: {} is not a whole number from 0 to {}", option, json::quote(text), max));
  return v;
}

core::Task<core::Result<void>> check_location(vfs::Backends& storage, vfs::Location location,
                                              std::string* why) {
  co_return co_await storage.check(location, *why);
}

// --home: a storage location its backend accepts (an existing directory, a
// bucket that answers with the [s3] profile's credentials).
fs::path parse_home(const std::string& text, const core::Config& cfg) {
  std::string why;
  auto location = vfs::Location::parse(text, &why);
  if (!location)
    usage(fmt::format("--home: {}", why));
  if (location->kind() == vfs::Location::Kind::local) {
    std::error_code ec;
    fs::path p = fs::absolute(text, ec).lexically_normal();
    if (ec)
      usage(fmt::format("--home: {}: {}", json::quote(text), ec.message()));
    if (!p.has_filename() && p.has_parent_path() && p != p.root_path())
      p = p.parent_path(); // "/srv/alice/" -> "/srv/alice"
    location = vfs::Location::local(p);
  }
  vfs::StorageBackends storage(nullptr, server::storage_settings(cfg));
  if (!core::run_blocking(check_location(storage, *location, &why)))
    usage(fmt::format("--home: {}", why));
  return location->to_string();
}

// One authorized_keys line, checked as sshd would read it.
std::string parse_key(std::string_view line, std::string_view where) {
  line = trim(line);
  if (line.find_first_of("\r\n") != std::string_view::npos)
    usage(fmt::format("{}: a key must be one line", where));
  auto key = auth::parse_authorized_key(line);
  if (!key)
    usage(fmt::format("{}: not an OpenSSH public key line: {}", where,
                      json::quote(line.substr(0, 60))));
  if (!key->refusal.empty())
    usage(fmt::format("{}: the key can not be used: {}", where, key->refusal));
  return std::string(line);
}

std::vector<std::string> read_key_file(const std::string& file) {
  std::error_code ec;
  std::ifstream in;
  // A regular file only: /dev/zero or a FIFO would never end.
  if (fs::is_regular_file(file, ec))
    in.open(file);
  if (!in.is_open())
    usage(fmt::format("--key-file: {}: can not read", json::quote(file)));
  std::vector<std::string> keys;
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    std::string_view l = trim(line);
    if (l.empty() || l.front() == '#')
      continue;
    keys.push_back(parse_key(l, fmt::format("--key-file {}:{}", file, number)));
  }
  return keys;
}

std::vector<std::string> parse_allow_from(const std::string& text) {
  std::vector<std::string> blocks;
  std::string_view rest = trim(text);
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string_view block = trim(rest.substr(0, comma));
    if (block.empty())
      usage("--allow-from: empty entry in the list");
    blocks.emplace_back(block);
    if (comma == std::string_view::npos)
      break;
    rest.remove_prefix(comma + 1);
    if (trim(rest).empty())
      usage("--allow-from: empty entry in the list");
  }
  std::string bad;
  auto list = core::CidrList::parse(blocks, &bad);
  if (!list)
    usage(fmt::format("--allow-from: {} is not an IP address or CIDR block", json::quote(bad)));
  return list->blocks();
}

// A password line from standard input; not echoed when that is a terminal.
std::string read_password() {
  const bool tty = ::isatty(STDIN_FILENO) == 1;
  termios saved{};
  if (tty && ::tcgetattr(STDIN_FILENO, &saved) == 0) {
    std::fputs("password: ", stderr);
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  std::string password;
  const bool got = static_cast<bool>(std::getline(std::cin, password));
  if (tty) {
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    std::fputc('\n', stderr);
  }
  if (!password.empty() && password.back() == '\r')
    password.pop_back();
  if (!got || password.empty())
    usage("no password on standard input");
  return password;
}

// The changes the options ask for, checked before anything is read or written.
struct Changes {
  std::optional<fs::path> home;
  bool clear_keys = false;
  std::vector<std::string> keys; // added, unless present already
  std::optional<core::Permissions> permissions;
  std::optional<std::uint64_t> quota_bytes;
  std::optional<std::uint64_t> quota_files;
  std::optional<std::uint32_t> max_sessions;
  std::optional<std::uint64_t> upload_rate;   // bytes per second
  std::optional<std::uint64_t> download_rate; // bytes per second
  std::optional<std::vector<std::string>> allow_from;
  std::optional<bool> disabled;
  std::optional<std::string> password_hash; // --password-hash
  bool password_stdin = false;
  bool generate_password = false;

  bool sets_password() const { return password_hash || password_stdin || generate_password; }
  bool empty() const {
    return !home && !clear_keys && keys.empty() && !permissions && !quota_bytes && !quota_files &&
           !max_sessions && !upload_rate && !download_rate && !allow_from && !disabled &&
           !sets_password();
  }
};

Changes parse_changes(const UserArgs& a, const CLI::App& cmd, const core::Config& cfg) {
  const auto given = [&](const char* option) {
    const CLI::Option* o = cmd.get_option_no_throw(option);
    return o != nullptr && o->count() > 0;
  };
  Changes c;
  if (given("--home"))
    c.home = parse_home(a.home, cfg);
  if (given("--key"))
    for (const auto& k : a.keys)
      c.keys.push_back(parse_key(k, "--key"));
  if (given("--key-file"))
    for (auto& k : read_key_file(a.key_file))
      c.keys.push_back(std::move(k));
  c.clear_keys = a.clear_keys;
  if (given("--permissions")) {
    std::string bad;
    auto p = core::Permissions::parse(a.permissions, &bad);
    if (!p)
      usage(fmt::format("--permissions: unknown permission {} (list, download, upload, overwrite, "
                        "delete, rename, mkdir, rmdir, chmod, symlink, all, none)",
                        json::quote(bad)));
    c.permissions = *p;
  }
  if (given("--quota-bytes"))
    c.quota_bytes = parse_number("--quota-bytes", a.quota_bytes, kMaxStored);
  if (given("--quota-files"))
    c.quota_files = parse_number("--quota-files", a.quota_files, kMaxStored);
  if (given("--max-sessions"))
    c.max_sessions = static_cast<std::uint32_t>(
        parse_number("--max-sessions", a.max_sessions, std::numeric_limits<std::uint32_t>::max()));
  if (given("--upload-rate"))
    c.upload_rate = parse_number("--upload-rate", a.upload_rate, kMaxStored / 1024) * 1024;
  if (given("--download-rate"))
    c.download_rate = parse_number("--download-rate", a.download_rate, kMaxStored / 1024) * 1024;
  if (given("--allow-from"))
    c.allow_from = parse_allow_from(a.allow_from);
  if (a.disabled)
    c.disabled = true;
  if (a.enabled)
    c.disabled = false;
  if (given("--password-hash")) {
    if (!auth::is_supported_hash(a.password_hash))
      usage("--password-hash: not a supported hash (argon2id, or crypt(3) $6$, $5$, $y$, $2b$)");
    c.password_hash = a.password_hash;
  }
  c.password_stdin = a.password_stdin;
  c.generate_password = a.generate_password;
  return c;
}

// Applies `c` to `u`. A new password is read or generated here, after every
// check; a generated one is returned, to be shown once the store has it.
std::string apply(const Changes& c, const core::Config& cfg, store::UserRecord& u) {
  if (c.home)
    u.home = *c.home;
  if (c.clear_keys)
    u.authorized_keys.clear();
  for (const auto& k : c.keys)
    if (std::find(u.authorized_keys.begin(), u.authorized_keys.end(), k) == u.authorized_keys.end())
      u.authorized_keys.push_back(k);
  if (c.permissions)
    u.permissions = *c.permissions;
  if (c.quota_bytes)
    u.quota_bytes = *c.quota_bytes;
  if (c.quota_files)
    u.quota_files = *c.quota_files;
  if (c.max_sessions)
    u.max_sessions = *c.max_sessions;
  if (c.upload_rate)
    u.upload_rate = *c.upload_rate;
  if (c.download_rate)
    u.download_rate = *c.download_rate;
  if (c.allow_from)
    u.allow_from = *c.allow_from;
  if (c.disabled)
    u.disabled = *c.disabled;
  const auth::HashCost cost{cfg.users_db.hash_memory_kib, cfg.users_db.hash_iterations};
  std::string generated;
  if (c.password_hash) {
    u.password_hash = *c.password_hash;
  } else if (c.generate_password) {
    generated = auth::random_password(kGeneratedPasswordLength);
    u.password_hash = auth::hash_password(generated, cost);
  } else if (c.password_stdin) {
    u.password_hash = auth::hash_password(read_password(), cost);
  }
  return generated;
}

void print_generated(const std::string& password) {
  if (!password.empty())
    std::printf("password: %s\n", password.c_str());
}

core::Config config_of(const UserArgs& a) {
  auto cfg = load_cli_config(a.config);
  if (!cfg)
    throw CliError{kExitUsage, ""}; // printed
  return std::move(*cfg);
}

std::unique_ptr<store::SqliteStore> store_of(const core::Config& cfg) {
  auto store = open_cli_store(cfg);
  if (!store)
    throw CliError{kExitFailed, ""}; // logged
  return store;
}

std::string rate_text(std::uint64_t bytes_per_second) {
  // Rounded up: a limit below 1 KiB/s must not read as "no limit".
  return bytes_per_second == 0 ? "unlimited"
                               : fmt::format("{} KiB/s", (bytes_per_second + 1023) / 1024);
}

std::string limit_text(std::uint64_t v, std::string_view unit) {
  return v == 0 ? std::string("unlimited") : fmt::format("{}{}", v, unit);
}

std::string user_json(const store::UserRecord& u) {
  json::Object o;
  o.string("name", u.name)
      .string("home", u.home.string())
      .boolean("password", !u.password_hash.empty())
      .strings("authorized_keys", u.authorized_keys)
      .string("permissions", u.permissions.to_string())
      .number("quota_bytes", u.quota_bytes)
      .number("quota_files", u.quota_files)
      .number("max_sessions", u.max_sessions)
      .number("upload_rate_kib_per_s", (u.upload_rate + 1023) / 1024)
      .number("download_rate_kib_per_s", (u.download_rate + 1023) / 1024)
      .strings("allow_from", u.allow_from)
      .boolean("disabled", u.disabled)
      .number("revision", u.revision);
  return o.str();
}

void print_user(const store::UserRecord& u) {
  std::printf("name:            %s\n", u.name.c_str());
  std::printf("home:            %s\n", u.home.c_str());
  std::printf("password:        %s\n", u.password_hash.empty() ? "none" : "set");
  std::printf("authorized keys: %zu\n", u.authorized_keys.size());
  for (const auto& k : u.authorized_keys)
    std::printf("  %s\n", k.c_str());
  std::printf("permissions:     %s\n", u.permissions.to_string().c_str());
  std::printf("quota bytes:     %s\n", limit_text(u.quota_bytes, " bytes").c_str());
  std::printf("quota files:     %s\n", limit_text(u.quota_files, " files").c_str());
  std::printf("max sessions:    %s\n", u.max_sessions == 0
                                           ? "server default ([limits] max_sessions_per_user)"
                                           : limit_text(u.max_sessions, "").c_str());
  std::printf("upload rate:     %s\n", rate_text(u.upload_rate).c_str());
  std::printf("download rate:   %s\n", rate_text(u.download_rate).c_str());
  std::string from;
  for (const auto& b : u.allow_from)
    from += (from.empty() ? "" : ", ") + b;
  std::printf("allow from:      %s\n", from.empty() ? "anywhere" : from.c_str());
  std::printf("status:          %s\n", u.disabled ? "disabled" : "enabled");
  std::printf("revision:        %llu\n", static_cast<unsigned long long>(u.revision));
}

void print_user_table(const std::vector<store::UserRecord>& users) {
  if (users.empty()) {
    std::printf("no users\n");
    return;
  }
  std::size_t width = 4;
  for (const auto& u : users)
    width = std::max(width, u.name.size());
  const auto w = static_cast<int>(width);
  std::printf("%-*s  %-8s  %-8s  %4s  %-30s  %s\n", w, "NAME", "STATUS", "PASSWORD", "KEYS",
              "PERMISSIONS", "HOME");
  for (const auto& u : users)
    std::printf("%-*s  %-8s  %-8s  %4zu  %-30s  %s\n", w, u.name.c_str(),
                u.disabled ? "disabled" : "enabled", u.password_hash.empty() ? "no" : "yes",
                u.authorized_keys.size(), u.permissions.to_string().c_str(), u.home.c_str());
}

int run_add(const UserArgs& a, const CLI::App& cmd) {
  check_name(a.name);
  const core::Config cfg = config_of(a);
  refuse_config_user(cfg, a.name);
  const Changes c = parse_changes(a, cmd, cfg);
  if (!c.sets_password() && c.keys.empty())
    usage("a user needs a password (--password-stdin, --generate-password, --password-hash) or "
          "a key (--key, --key-file)");
  auto store = store_of(cfg);
  // Checked before a password is read, not only when the insert fails.
  if (auto existing = store->get_user(a.name); existing)
    store_failed(store::Errc::exists, a.name);
  store::UserRecord u;
  u.name = a.name;
  const std::string generated = apply(c, cfg, u);
  checked(store->add_user(u), a.name);
  std::printf("added user %s\n", a.name.c_str());
  print_generated(generated);
  return kExitOk;
}

int run_set(const UserArgs& a, const CLI::App& cmd) {
  check_name(a.name);
  const core::Config cfg = config_of(a);
  refuse_config_user(cfg, a.name);
  const Changes c = parse_changes(a, cmd, cfg);
  if (c.empty())
    usage("nothing to change (see `berth user set --help`)");
  auto store = store_of(cfg);
  store::UserRecord u = checked(store->get_user(a.name), a.name);
  const std::string generated = apply(c, cfg, u);
  checked(store->update_user(u), a.name);
  std::printf("updated user %s\n", a.name.c_str());
  print_generated(generated);
  return kExitOk;
}

int run_passwd(const UserArgs& a, const CLI::App& cmd) {
  check_name(a.name);
  const core::Config cfg = config_of(a);
  refuse_config_user(cfg, a.name);
  Changes c = parse_changes(a, cmd, cfg);
  if (!c.generate_password)
    c.password_stdin = true; // the default
  auto store = store_of(cfg);
  store::UserRecord u = checked(store->get_user(a.name), a.name);
  const std::string generated = apply(c, cfg, u);
  checked(store->update_user(u), a.name);
  std::printf("changed the password of %s\n", a.name.c_str());
  print_generated(generated);
  return kExitOk;
}

int run_del(const UserArgs& a) {
  check_name(a.name);
  const core::Config cfg = config_of(a);
  refuse_config_user(cfg, a.name);
  auto store = store_of(cfg);
  checked(store->remove_user(a.name), a.name);
  std::printf("removed user %s\n", a.name.c_str());
  return kExitOk;
}

int run_list(const UserArgs& a) {
  const core::Config cfg = config_of(a);
  auto store = store_of(cfg);
  const auto users = checked(store->list_users(), "");
  if (a.json) {
    std::vector<std::string> items;
    for (const auto& u : users)
      items.push_back(user_json(u));
    std::printf("%s\n", json::array(items).c_str());
  } else {
    print_user_table(users);
  }
  return kExitOk;
}

int run_show(const UserArgs& a) {
  check_name(a.name);
  const core::Config cfg = config_of(a);
  refuse_config_user(cfg, a.name);
  auto store = store_of(cfg);
  const auto u = checked(store->get_user(a.name), a.name);
  if (a.json)
    std::printf("%s\n", user_json(u).c_str());
  else
    print_user(u);
  return kExitOk;
}

// Configuration users too: their usage is counted like anybody's.
int run_recount(const UserArgs& a) {
  check_name(a.name);
  const core::Config cfg = config_of(a);
  const auto usage = recount_usage(cfg, a.name);
  if (!usage) {
    if (usage.error().category() == store::store_category())
      store_failed(usage.error(), a.name);
    refuse(fmt::format("can not count the home of {}: {}", json::quote(a.name),
                       usage.error().message()));
  }
  const auto bytes = static_cast<std::uint64_t>(usage->bytes);
  const auto files = static_cast<std::uint64_t>(usage->files);
  if (a.json) {
    json::Object o;
    o.string("name", a.name).number("bytes", bytes).number("files", files);
    std::printf("%s\n", o.str().c_str());
  } else {
    std::printf("recounted %s: %llu bytes in %llu %s\n", a.name.c_str(),
                static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(files),
                files == 1 ? "file" : "files");
  }
  return kExitOk;
}

void add_config_option(CLI::App* cmd, UserArgs& a) {
  cmd->add_option("-c,--config", a.config,
                  "Configuration file (TOML); without it, the embedded default's database "
                  "(./berth-data/users.db)");
}

void add_password_options(CLI::App* cmd, UserArgs& a, bool with_hash) {
  auto* in = cmd->add_flag("--password-stdin", a.password_stdin,
                           "Read the password from standard input (one line)");
  auto* gen = cmd->add_flag("--generate-password", a.generate_password,
                            "Generate a random password and print it once");
  in->excludes(gen);
  if (with_hash) {
    auto* hash = cmd->add_option(
        "--password-hash", a.password_hash,
        "Import a hash: argon2id, or crypt(3) $6$, $5$, $y$, $2b$ (as in /etc/shadow)");
    hash->excludes(in);
    hash->excludes(gen);
  }
}

// The options of `add` and `set`: each sets one field.
void add_rule_options(CLI::App* cmd, UserArgs& a, bool for_set) {
  auto* home = cmd->add_option("--home", a.home,
                               "Home: an existing directory, or s3://[PROFILE@]bucket/prefix");
  if (!for_set)
    home->required();
  add_password_options(cmd, a, true);
  cmd->add_option("--key", a.keys,
                  "An OpenSSH public key line (SFTP login); repeat for more. `set` adds keys")
      ->allow_extra_args(false);
  cmd->add_option("--key-file", a.key_file, "A file of OpenSSH public key lines (authorized_keys)");
  if (for_set)
    cmd->add_flag("--clear-keys", a.clear_keys, "Remove every key (before adding --key ones)");
  cmd->add_option("--permissions", a.permissions,
                  "list,download,upload,overwrite,delete,rename,mkdir,rmdir,chmod,symlink, or all, "
                  "none (default: all)");
  cmd->add_option("--quota-bytes", a.quota_bytes, "Most bytes stored; 0: no limit");
  cmd->add_option("--quota-files", a.quota_files, "Most files stored; 0: no limit");
  cmd->add_option("--max-sessions", a.max_sessions, "Most concurrent sessions; 0: no limit");
  cmd->add_option("--upload-rate", a.upload_rate, "Upload limit in KiB/s (all sessions); 0: none");
  cmd->add_option("--download-rate", a.download_rate,
                  "Download limit in KiB/s (all sessions); 0: none");
  cmd->add_option(
      "--allow-from", a.allow_from,
      "Addresses or CIDR blocks logins may come from, comma-separated; empty: anywhere");
  auto* disabled = cmd->add_flag("--disabled", a.disabled, "Nobody may log in as this user");
  if (for_set)
    cmd->add_flag("--enabled", a.enabled, "Allow logins again")->excludes(disabled);
}

} // namespace

CommandGroup add_user_commands(CLI::App& app) {
  // Shared, not unique: the options point into it and the returned
  // std::function (copyable) keeps it alive.
  auto args = std::make_shared<UserArgs>();
  UserArgs& a = *args;
  auto* user = app.add_subcommand("user", "Manage the users of the user database");
  user->require_subcommand(1);

  auto* add = user->add_subcommand("add", "Add a user");
  add->add_option("name", a.name, "User name")->required();
  add_rule_options(add, a, false);
  add_config_option(add, a);

  auto* set = user->add_subcommand("set", "Change a user: only the options given");
  set->add_option("name", a.name, "User name")->required();
  add_rule_options(set, a, true);
  add_config_option(set, a);

  auto* del = user->add_subcommand("del", "Remove a user");
  del->add_option("name", a.name, "User name")->required();
  add_config_option(del, a);

  auto* passwd = user->add_subcommand(
      "passwd", "Set a user's password (read from standard input unless --generate-password)");
  passwd->add_option("name", a.name, "User name")->required();
  add_password_options(passwd, a, false);
  add_config_option(passwd, a);

  auto* list = user->add_subcommand("list", "List the users");
  list->add_flag("--json", a.json, "A JSON array");
  add_config_option(list, a);

  auto* show = user->add_subcommand("show", "Show one user");
  show->add_option("name", a.name, "User name")->required();
  show->add_flag("--json", a.json, "A JSON object");
  add_config_option(show, a);

  auto* recount = user->add_subcommand(
      "recount", "Count what a user stores in their home and keep it as their quota usage");
  recount->add_option("name", a.name, "User name")->required();
  recount->add_flag("--json", a.json, "A JSON object");
  add_config_option(recount, a);

  auto run = [args, add, set, del, passwd, list, show, recount]() -> int {
    init_cli_logging();
    std::string name = "user";
    for (const CLI::App* c : {add, set, del, passwd, list, show, recount})
      if (*c)
        name += " " + c->get_name();
    try {
      auth::init_crypto();
      if (*add)
        return run_add(*args, *add);
      if (*set)
        return run_set(*args, *set);
      if (*passwd)
        return run_passwd(*args, *passwd);
      if (*del)
        return run_del(*args);
      if (*list)
        return run_list(*args);
      if (*show)
        return run_show(*args);
      if (*recount)
        return run_recount(*args);
      return kExitUsage;
    } catch (const CliError& e) {
      if (!e.message.empty())
        print_error(name, e.message);
      return e.code;
    } catch (const std::exception& e) {
      print_error(name, e.what());
      return kExitFailed;
    }
  };
  return {user, run};
}

} // namespace berth::app
