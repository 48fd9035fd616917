#include "core/config.hpp"

#include "core/cidr.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <grp.h>
#include <pwd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <set>
#include <system_error>

namespace berth::core {
namespace {

// DESIGN.md rule 7: a configuration error is one line. Keys, values, file
// names and toml++'s descriptions (which quote the offending character) can
// hold any byte, so control characters are escaped.
[[noreturn]] void throw_error(std::string_view message) {
  std::string line;
  for (char c : message) {
    auto u = static_cast<unsigned char>(c);
    if (c == '\n')
      line += "\\n";
    else if (c == '\r')
      line += "\\r";
    else if (c == '\t')
      line += "\\t";
    else if (u < 0x20 || u == 0x7f)
      line += fmt::format("\\x{:02x}", u);
    else
      line += c;
  }
  throw ConfigError(line);
}

class Reader {
public:
  explicit Reader(std::filesystem::path file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const toml::node* node, std::string_view key,
                         std::string_view reason) const {
    throw_error(fmt::format("{}: {}: {}", where(node), key, reason));
  }

  /// "file:line" of `node`, as fail() names it.
  std::string where(const toml::node* node) const {
    std::string out = file_.string();
    if (node != nullptr && node->source().begin.line > 0)
      out += fmt::format(":{}", node->source().begin.line);
    return out;
  }

  void only_keys(const toml::table& table, std::string_view prefix,
                 std::initializer_list<std::string_view> known) const {
    for (auto&& [k, v] : table) {
      bool ok = false;
      for (auto name : known)
        ok = ok || name == k.str();
      if (!ok)
        fail(&v, join(prefix, k.str()), "unknown key");
    }
  }

  static std::string join(std::string_view prefix, std::string_view key) {
    return prefix.empty() ? std::string(key) : fmt::format("{}.{}", prefix, key);
  }

  std::optional<std::string> string(const toml::table& t, std::string_view prefix,
                                    std::string_view key) const {
    const toml::node* n = t.get(key);
    if (n == nullptr)
      return std::nullopt;
    if (!n->is_string())
      fail(n, join(prefix, key), "must be a string");
    return n->as_string()->get();
  }

  /// A string that must be one of `options` (name, value); the error lists them.
  template <class T>
  std::optional<T> choice(const toml::table& t, std::string_view prefix, std::string_view key,
                          std::initializer_list<std::pair<std::string_view, T>> options) const {
    auto v = string(t, prefix, key);
    if (!v)
      return std::nullopt;
    std::string want;
    std::size_t i = 0;
    for (const auto& [name, value] : options) {
      if (name == *v)
        return value;
      want += fmt::format("{}\"{}\"", i == 0 ? "" : i + 1 == options.size() ? " or " : ", ", name);
      ++i;
    }
    fail(t.get(key), join(prefix, key), fmt::format("bad value \"{}\" (want {})", *v, want));
  }

  std::optional<std::int64_t> integer(const toml::table& t, std::string_view prefix,
                                      std::string_view key, std::int64_t min,
                                      std::int64_t max) const {
    const toml::node* n = t.get(key);
    if (n == nullptr)
      return std::nullopt;
    if (!n->is_integer())
      fail(n, join(prefix, key), "must be an integer");
    std::int64_t v = n->as_integer()->get();
    if (v < min || v > max)
      fail(n, join(prefix, key), fmt::format("must be between {} and {}", min, max));
    return v;
  }

  /// A byte count: an integer of bytes, or a string with a unit ("8MiB",
  /// "1GiB", "512KiB"), between `min` and `max` bytes.
  std::optional<std::uint64_t> bytes(const toml::table& t, std::string_view prefix,
                                     std::string_view key, std::uint64_t min,
                                     std::uint64_t max) const {
    const toml::node* n = t.get(key);
    if (n == nullptr)
      return std::nullopt;
    std::uint64_t v = 0;
    if (n->is_integer() && n->as_integer()->get() >= 0) {
      v = static_cast<std::uint64_t>(n->as_integer()->get());
    } else if (n->is_string()) {
      const std::string& text = n->as_string()->get();
      std::uint64_t number = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
      const std::string_view unit(end, text.data() + text.size());
      const std::uint64_t scale = unit == "KiB"   ? 1ull << 10
                                  : unit == "MiB" ? 1ull << 20
                                  : unit == "GiB" ? 1ull << 30
                                  : unit.empty()  ? 1
                                                  : 0;
      if (ec != std::errc{} || end == text.data() || scale == 0 || number > max / scale)
        fail(n, join(prefix, key),
             fmt::format("bad size \"{}\" (bytes, or a number with "
                         "KiB, MiB or GiB)",
                         text));
      v = number * scale;
    } else {
      fail(n, join(prefix, key), "must be a size in bytes, or a string such as \"8MiB\"");
    }
    if (v < min || v > max)
      fail(n, join(prefix, key), fmt::format("must be between {} and {} bytes", min, max));
    return v;
  }

  std::optional<bool> boolean(const toml::table& t, std::string_view prefix,
                              std::string_view key) const {
    const toml::node* n = t.get(key);
    if (n == nullptr)
      return std::nullopt;
    if (!n->is_boolean())
      fail(n, join(prefix, key), "must be true or false");
    return n->as_boolean()->get();
  }

  std::optional<std::vector<std::string>> strings(const toml::table& t, std::string_view prefix,
                                                  std::string_view key,
                                                  std::string_view what) const {
    const toml::node* n = t.get(key);
    if (n == nullptr)
      return std::nullopt;
    const toml::array* a = n->as_array();
    if (a == nullptr)
      fail(n, join(prefix, key), fmt::format("must be an array of {}", what));
    std::vector<std::string> out;
    for (const toml::node& e : *a) {
      if (!e.is_string())
        fail(&e, join(prefix, key), fmt::format("must be an array of {}", what));
      out.push_back(e.as_string()->get());
    }
    return out;
  }

  /// An array of CIDR blocks or addresses.
  std::optional<std::vector<std::string>> cidrs(const toml::table& t, std::string_view prefix,
                                                std::string_view key) const {
    auto list = strings(t, prefix, key, "\"ADDRESS/BITS\" blocks");
    if (list)
      for (const auto& b : *list)
        if (!valid_cidr(b))
          fail(t.get(key), join(prefix, key),
               fmt::format("bad address block \"{}\" (want e.g. \"10.0.0.0/8\" or \"::1\")", b));
    return list;
  }

  /// An array of permission names, or one comma-separated string.
  std::optional<Permissions> permissions(const toml::table& t, std::string_view prefix,
                                         std::string_view key) const {
    const toml::node* n = t.get(key);
    if (n == nullptr)
      return std::nullopt;
    std::string text;
    if (n->is_string()) {
      text = n->as_string()->get();
    } else {
      auto list = strings(t, prefix, key, "permission names");
      for (const auto& w : *list)
        text += (text.empty() ? "" : ",") + w;
    }
    std::string bad;
    auto p = Permissions::parse(text, &bad);
    if (!p)
      fail(n, join(prefix, key),
           fmt::format("unknown permission \"{}\" (want list, download, upload, overwrite, "
                       "delete, rename, mkdir, rmdir, chmod, symlink, all or none)",
                       bad));
    return *p;
  }

  /// A rate in KiB/s, returned in bytes/s.
  std::optional<std::uint64_t> rate(const toml::table& t, std::string_view prefix,
                                    std::string_view key) const {
    auto v = integer(t, prefix, key, 0, std::int64_t{1} << 32);
    if (!v)
      return std::nullopt;
    return static_cast<std::uint64_t>(*v) * 1024;
  }

  const toml::table* table(const toml::table& t, std::string_view key) const {
    const toml::node* n = t.get(key);
    if (n == nullptr)
      return nullptr;
    if (!n->is_table())
      fail(n, key, "must be a table");
    return n->as_table();
  }

  const std::filesystem::path& file() const { return file_; }

private:
  std::filesystem::path file_;
};

// A numeric id ("65534"), or nullopt for a name.
std::optional<std::uint32_t> numeric_id(std::string_view text) {
  std::uint32_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size())
    return std::nullopt;
  return id;
}

// The passwd entry of a name or numeric id: name, uid, primary gid.
std::optional<RunAs> find_user(const std::string& user) {
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  auto id = numeric_id(user);
  int rc = id ? ::getpwuid_r(*id, &pw, buf.data(), buf.size(), &found)
              : ::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0 || found == nullptr)
    return std::nullopt;
  RunAs a;
  a.user = pw.pw_name;
  a.uid = pw.pw_uid;
  a.gid = pw.pw_gid;
  return a;
}

std::optional<std::uint32_t> find_group(const std::string& group) {
  struct group gr {};
  struct group* found = nullptr;
  std::vector<char> buf(16384);
  auto id = numeric_id(group);
  int rc = id ? ::getgrgid_r(*id, &gr, buf.data(), buf.size(), &found)
              : ::getgrnam_r(group.c_str(), &gr, buf.data(), buf.size(), &found);
  if (rc != 0 || found == nullptr)
    return std::nullopt;
  return gr.gr_gid;
}

void read_run_as(const Reader& r, const toml::table& t, ServerConfig& s) {
  auto user = r.string(t, "server", "user");
  auto group = r.string(t, "server", "group");
  if (!user) {
    if (group)
      r.fail(t.get("group"), "server.group", "given without server.user");
    return;
  }
  auto a = find_user(*user);
  if (!a)
    r.fail(t.get("user"), "server.user", fmt::format("unknown user \"{}\"", *user));
  if (group) {
    auto gid = find_group(*group);
    if (!gid)
      r.fail(t.get("group"), "server.group", fmt::format("unknown group \"{}\"", *group));
    a->group = *group;
    a->gid = *gid;
  }
  s.run_as = std::move(a);
}

void read_server(const Reader& r, const toml::table& t, ServerConfig& s) {
  r.only_keys(t, "server",
              {"state_dir", "threads", "user", "group", "shutdown_timeout", "upload_mode"});
  read_run_as(r, t, s);
  if (auto v =
          r.choice<UploadMode>(t, "server", "upload_mode",
                               {{"atomic", UploadMode::atomic}, {"direct", UploadMode::direct}}))
    s.upload_mode = *v;
  if (auto v = r.integer(t, "server", "shutdown_timeout", 0, 86400))
    s.shutdown_timeout = std::chrono::seconds(*v);
  if (auto v = r.string(t, "server", "state_dir")) {
    if (v->empty())
      r.fail(t.get("state_dir"), "server.state_dir", "must not be empty");
    s.state_dir = *v;
  }
  if (auto v = r.integer(t, "server", "threads", 0, 256))
    s.threads = static_cast<unsigned>(*v);
}

std::vector<HostPort> read_listen(const Reader& r, const toml::node& n, std::string_view key) {
  const toml::array* a = n.as_array();
  if (a == nullptr)
    r.fail(&n, key, "must be an array of \"ADDRESS:PORT\" strings");
  std::vector<HostPort> out;
  for (const toml::node& e : *a) {
    if (!e.is_string())
      r.fail(&e, key, "must be an array of \"ADDRESS:PORT\" strings");
    auto hp = parse_host_port(e.as_string()->get());
    if (!hp)
      r.fail(
          &e, key,
          fmt::format("bad address \"{}\" (want IPv4:PORT or [IPv6]:PORT)", e.as_string()->get()));
    out.push_back(*hp);
  }
  return out;
}

void read_proxy(const Reader& r, const toml::table& t, std::string_view section, ProxyConfig& p) {
  if (auto v = r.boolean(t, section, "proxy_protocol"))
    p.enabled = *v;
  if (auto v = r.cidrs(t, section, "proxy_from"))
    p.from = *v;
  if (p.enabled && p.from.empty())
    r.fail(t.get("proxy_protocol"), Reader::join(section, "proxy_from"),
           "must list the load balancers' addresses when proxy_protocol = true");
}

void read_ftps(const Reader& r, const toml::table& t, FtpsConfig& f) {
  r.only_keys(t, "ftps", {"listen", "active_data_port", "proxy_protocol", "proxy_from"});
  read_proxy(r, t, "ftps", f.proxy);
  if (const toml::node* n = t.get("listen"))
    f.listen = read_listen(r, *n, "ftps.listen");
  if (auto v = r.integer(t, "ftps", "active_data_port", 0, 65535))
    f.active_data_port = static_cast<std::uint16_t>(*v);
}

void read_tls(const Reader& r, const toml::table& t, TlsConfig& c) {
  r.only_keys(t, "tls",
              {"certificate", "private_key", "require_session_reuse", "min_version",
               "handshake_timeout", "require_close_notify", "session_cache_size"});
  auto file = [&](std::string_view key) -> std::filesystem::path {
    auto v = r.string(t, "tls", key);
    if (!v)
      return {};
    std::error_code ec;
    if (!std::filesystem::is_regular_file(*v, ec))
      r.fail(t.get(key), Reader::join("tls", key), fmt::format("\"{}\": no such file", *v));
    return *v;
  };
  c.certificate = file("certificate");
  c.private_key = file("private_key");
  if (c.certificate.empty() && !c.private_key.empty())
    r.fail(t.get("private_key"), "tls.private_key", "given without tls.certificate");
  if (const toml::node* n = t.get("require_session_reuse")) {
    if (!n->is_boolean())
      r.fail(n, "tls.require_session_reuse", "must be true or false");
    c.require_session_reuse = n->as_boolean()->get();
  }
  if (auto v = r.choice<bool>(t, "tls", "min_version", {{"1.2", false}, {"1.3", true}}))
    c.tls13_only = *v;
  if (auto v = r.integer(t, "tls", "handshake_timeout", 1, 3600))
    c.handshake_timeout = std::chrono::seconds(*v);
  if (auto v = r.boolean(t, "tls", "require_close_notify"))
    c.require_close_notify = *v;
  if (auto v = r.integer(t, "tls", "session_cache_size", 1, 10000000))
    c.session_cache_size = static_cast<long>(*v);
}

void read_sftp(const Reader& r, const toml::table& t, SftpConfig& s) {
  r.only_keys(t, "sftp",
              {"listen", "host_keys", "proxy_protocol", "proxy_from", "max_channels_per_connection",
               "trusted_user_ca_keys", "revoked_keys"});
  // sshd's TrustedUserCAKeys and RevokedKeys: must exist at start; read again
  // at every login, so that a new revocation takes effect without a reload.
  for (auto [key, out] : {std::pair{"trusted_user_ca_keys", &s.trusted_user_ca_keys},
                          std::pair{"revoked_keys", &s.revoked_keys}}) {
    auto v = r.string(t, "sftp", key);
    if (!v)
      continue;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(*v, ec))
      r.fail(t.get(key), Reader::join("sftp", key), fmt::format("\"{}\": no such file", *v));
    *out = *v;
  }
  read_proxy(r, t, "sftp", s.proxy);
  if (auto v = r.integer(t, "sftp", "max_channels_per_connection", 1, 1000))
    s.max_channels_per_connection = static_cast<std::uint32_t>(*v);
  if (const toml::node* n = t.get("listen"))
    s.listen = read_listen(r, *n, "sftp.listen");
  if (const toml::node* n = t.get("host_keys")) {
    const toml::array* a = n->as_array();
    if (a == nullptr)
      r.fail(n, "sftp.host_keys", "must be an array of file names");
    for (const toml::node& e : *a) {
      if (!e.is_string())
        r.fail(&e, "sftp.host_keys", "must be an array of file names");
      std::error_code ec;
      if (!std::filesystem::is_regular_file(e.as_string()->get(), ec))
        r.fail(&e, "sftp.host_keys", fmt::format("\"{}\": no such file", e.as_string()->get()));
      s.host_keys.emplace_back(e.as_string()->get());
    }
  }
}

// [[ftp.host]]: virtual hosts (RFC 7151). Their users are checked against
// [[user]] once those are read (check_host_users).
std::vector<FtpHostConfig> read_hosts(const Reader& r, const toml::node& n) {
  const toml::array* a = n.as_array();
  if (a == nullptr || !a->is_array_of_tables())
    r.fail(&n, "ftp.host", "must be an array of tables ([[ftp.host]])");
  std::vector<FtpHostConfig> hosts;
  std::set<std::string> seen;
  for (const toml::node& e : *a) {
    const toml::table& t = *e.as_table();
    r.only_keys(t, "ftp.host", {"name", "users", "certificate", "private_key", "banner"});
    FtpHostConfig h;
    auto name = r.string(t, "ftp.host", "name");
    if (!name || name->empty())
      r.fail(&e, "ftp.host.name", "missing");
    // A DNS name or an address literal, as HOST and SNI carry them.
    if (name->size() > 253 ||
        name->find_first_not_of("abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:") != std::string::npos)
      r.fail(t.get("name"), "ftp.host.name",
             fmt::format("bad host name \"{}\" (want a DNS name or an address)", *name));
    std::string folded = *name;
    for (char& c : folded)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!seen.insert(folded).second)
      r.fail(t.get("name"), "ftp.host.name", fmt::format("duplicate host \"{}\"", *name));
    h.name = *name;
    if (auto v = r.strings(t, "ftp.host", "users", "user names"))
      h.users = *v;
    for (const char* key : {"certificate", "private_key"}) {
      auto v = r.string(t, "ftp.host", key);
      std::error_code ec;
      if (v && !std::filesystem::is_regular_file(*v, ec))
        r.fail(t.get(key), Reader::join("ftp.host", key), fmt::format("\"{}\": no such file", *v));
      (std::string_view(key) == "certificate" ? h.certificate : h.private_key) = v.value_or("");
    }
    if (h.certificate.empty() && !h.private_key.empty())
      r.fail(t.get("private_key"), "ftp.host.private_key", "given without a certificate");
    h.banner = r.string(t, "ftp.host", "banner").value_or(h.name + " FTP server ready.");
    if (h.banner.empty() || h.banner.size() > 200 ||
        std::any_of(h.banner.begin(), h.banner.end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
      r.fail(t.get("banner"), "ftp.host.banner",
             "must be one line of 1 to 200 characters without control characters");
    hosts.push_back(std::move(h));
  }
  return hosts;
}

// A host's users are [[user]] names, or "anonymous" when [ftp.anonymous] is on.
void check_host_users(const Reader& r, const toml::table& root, const Config& c) {
  const toml::node* n = root.at_path("ftp.host").node();
  for (std::size_t i = 0; i < c.ftp.hosts.size(); ++i) {
    const toml::node* users = nullptr;
    if (const toml::array* a = n != nullptr ? n->as_array() : nullptr; a != nullptr)
      if (const toml::table* t = a->get(i) != nullptr ? a->get(i)->as_table() : nullptr)
        users = t->get("users");
    for (const std::string& u : c.ftp.hosts[i].users) {
      bool known = u == "anonymous" && c.anonymous.enabled;
      for (const UserConfig& user : c.users)
        known = known || user.name == u;
      if (!known)
        r.fail(users, "ftp.host.users",
               fmt::format("host \"{}\": unknown user \"{}\" (not a [[user]]{})",
                           c.ftp.hosts[i].name, u,
                           c.anonymous.enabled ? " nor \"anonymous\"" : ""));
    }
  }
}

// A home's text as a location: a path is made absolute (the working folder
// may change); a URL-like location ("s3://...") is kept as written.
std::filesystem::path home_location(const std::string& text) {
  if (text.find("://") != std::string::npos)
    return text;
  std::error_code ec;
  auto abs = std::filesystem::absolute(text, ec);
  return ec ? std::filesystem::path(text) : abs;
}

void read_anonymous(const Reader& r, const toml::table& t, AnonymousConfig& a) {
  r.only_keys(t, "ftp.anonymous", {"enabled", "home", "permissions"});
  if (auto v = r.boolean(t, "ftp.anonymous", "enabled"))
    a.enabled = *v;
  if (auto v = r.permissions(t, "ftp.anonymous", "permissions"))
    a.permissions = *v;
  if (auto home = r.string(t, "ftp.anonymous", "home")) {
    // Checked by the storage backend once the whole file is read (wiring).
    a.home = home_location(*home);
    a.home_source = r.where(t.get("home"));
  }
  if (a.enabled && a.home.empty())
    r.fail(t.get("enabled"), "ftp.anonymous.home", "missing (anonymous FTP needs a home)");
}

std::vector<PassiveAddressRule> read_passive_rules(const Reader& r, const toml::node& n) {
  constexpr std::string_view key = "ftp.passive_address_rules";
  const toml::array* a = n.as_array();
  if (a == nullptr || (!a->empty() && !a->is_array_of_tables()))
    r.fail(&n, key, "must be an array of { from = \"CIDR\", address = \"...\" } tables");
  std::vector<PassiveAddressRule> rules;
  for (const toml::node& e : *a) {
    const toml::table& t = *e.as_table();
    r.only_keys(t, key, {"from", "address"});
    PassiveAddressRule rule;
    auto from = r.string(t, key, "from");
    if (!from)
      r.fail(&e, fmt::format("{}.from", key), "missing");
    if (!valid_cidr(*from))
      r.fail(t.get("from"), fmt::format("{}.from", key),
             fmt::format("bad address block \"{}\" (want e.g. \"10.0.0.0/8\")", *from));
    auto address = r.string(t, key, "address");
    if (!address)
      r.fail(&e, fmt::format("{}.address", key), "missing");
    if (!is_ipv4_literal(*address) && !is_host_name(*address))
      r.fail(t.get("address"), fmt::format("{}.address", key),
             fmt::format("bad address \"{}\" (want an IPv4 address or a host name)", *address));
    rule.from = *from;
    rule.address = *address;
    rules.push_back(std::move(rule));
  }
  return rules;
}

void read_ftp(const Reader& r, const toml::table& t, FtpConfig& f, AnonymousConfig& anonymous) {
  r.only_keys(t, "ftp",
              {"listen", "passive_ports", "passive_address", "passive_address_rules",
               "active_data_port", "idle_timeout", "login_timeout", "data_timeout",
               "failed_login_delay_ms", "max_line", "tls", "allow_ccc", "proxy_protocol",
               "proxy_from", "anonymous", "host"});
  read_proxy(r, t, "ftp", f.proxy);
  if (const toml::table* a = r.table(t, "anonymous"))
    read_anonymous(r, *a, anonymous);
  if (const toml::node* n = t.get("listen"))
    f.listen = read_listen(r, *n, "ftp.listen");
  if (auto v = r.choice<TlsPolicy>(t, "ftp", "tls",
                                   {{"off", TlsPolicy::off},
                                    {"optional", TlsPolicy::optional},
                                    {"required", TlsPolicy::required}}))
    f.tls = *v;
  if (auto v = r.boolean(t, "ftp", "allow_ccc"))
    f.allow_ccc = *v;
  if (auto v = r.string(t, "ftp", "passive_ports")) {
    auto range = parse_port_range(*v);
    if (!range)
      r.fail(t.get("passive_ports"), "ftp.passive_ports",
             fmt::format("bad port range \"{}\" (want LOW-HIGH, 1 <= LOW <= HIGH <= 65535)", *v));
    f.passive_ports = *range;
  }
  if (auto v = r.string(t, "ftp", "passive_address")) {
    if (!is_ipv4_literal(*v) && !is_host_name(*v))
      r.fail(t.get("passive_address"), "ftp.passive_address",
             fmt::format("bad address \"{}\" (want an IPv4 address or a host name)", *v));
    f.passive_address = *v;
  }
  if (const toml::node* n = t.get("passive_address_rules"))
    f.passive_address_rules = read_passive_rules(r, *n);
  if (auto v = r.integer(t, "ftp", "active_data_port", 0, 65535))
    f.active_data_port = static_cast<std::uint16_t>(*v);
  if (auto v = r.integer(t, "ftp", "idle_timeout", 1, 86400))
    f.idle_timeout = std::chrono::seconds(*v);
  if (auto v = r.integer(t, "ftp", "login_timeout", 1, 86400))
    f.login_timeout = std::chrono::seconds(*v);
  if (auto v = r.integer(t, "ftp", "data_timeout", 1, 86400))
    f.data_timeout = std::chrono::seconds(*v);
  if (auto v = r.integer(t, "ftp", "failed_login_delay_ms", 0, 60000))
    f.failed_login_delay = std::chrono::milliseconds(*v);
  if (auto v = r.integer(t, "ftp", "max_line", 512, 65536))
    f.max_line = static_cast<std::size_t>(*v);
  if (const toml::node* n = t.get("host"))
    f.hosts = read_hosts(r, *n);
}

void read_limits(const Reader& r, const toml::table& t, LimitsConfig& l) {
  r.only_keys(t, "limits",
              {"max_connections", "max_connections_per_ip", "max_sessions_per_user",
               "max_open_files", "max_open_files_per_user", "ipv6_prefix", "max_password_checks",
               "max_password_checks_per_ip", "max_tls_handshakes_per_ip"});
  if (auto v = r.integer(t, "limits", "max_connections", 0, 10000000))
    l.max_connections = static_cast<std::uint32_t>(*v);
  if (auto v = r.integer(t, "limits", "max_connections_per_ip", 0, 10000000))
    l.max_connections_per_ip = static_cast<std::uint32_t>(*v);
  if (auto v = r.integer(t, "limits", "max_sessions_per_user", 0, 1000000))
    l.max_sessions_per_user = static_cast<std::uint32_t>(*v);
  if (auto v = r.integer(t, "limits", "max_open_files", 0, 10000000))
    l.max_open_files = static_cast<std::uint32_t>(*v);
  if (auto v = r.integer(t, "limits", "max_open_files_per_user", 0, 10000000))
    l.max_open_files_per_user = static_cast<std::uint32_t>(*v);
  if (auto v = r.integer(t, "limits", "ipv6_prefix", 1, 128))
    l.ipv6_prefix = static_cast<unsigned>(*v);
  if (auto v = r.integer(t, "limits", "max_password_checks", 0, 10000000))
    l.max_password_checks = static_cast<std::uint32_t>(*v);
  if (auto v = r.integer(t, "limits", "max_password_checks_per_ip", 0, 10000000))
    l.max_password_checks_per_ip = static_cast<std::uint32_t>(*v);
  if (auto v = r.integer(t, "limits", "max_tls_handshakes_per_ip", 0, 10000000))
    l.max_tls_handshakes_per_ip = static_cast<std::uint32_t>(*v);
}

void read_bandwidth(const Reader& r, const toml::table& t, BandwidthConfig& b) {
  r.only_keys(t, "bandwidth", {"upload_rate", "download_rate"});
  if (auto v = r.rate(t, "bandwidth", "upload_rate"))
    b.upload_rate = *v;
  if (auto v = r.rate(t, "bandwidth", "download_rate"))
    b.download_rate = *v;
}

void read_defender(const Reader& r, const toml::table& t, DefenderConfig& d) {
  r.only_keys(t, "defender",
              {"enabled", "max_failures", "window", "ban_time", "max_ban_time", "allow"});
  if (auto v = r.boolean(t, "defender", "enabled"))
    d.enabled = *v;
  if (auto v = r.integer(t, "defender", "max_failures", 1, 1000))
    d.max_failures = static_cast<std::uint32_t>(*v);
  if (auto v = r.integer(t, "defender", "window", 1, 30 * 86400))
    d.window = std::chrono::seconds(*v);
  if (auto v = r.integer(t, "defender", "ban_time", 1, 365 * 86400))
    d.ban_time = std::chrono::seconds(*v);
  if (auto v = r.integer(t, "defender", "max_ban_time", 1, 365 * 86400))
    d.max_ban_time = std::chrono::seconds(*v);
  if (d.max_ban_time < d.ban_time)
    r.fail(t.get("max_ban_time"), "defender.max_ban_time", "must not be less than ban_time");
  if (auto v = r.cidrs(t, "defender", "allow"))
    d.allow = *v;
}

void read_users_db(const Reader& r, const toml::table& t, UsersConfig& u) {
  r.only_keys(t, "users", {"database", "hash_memory_kib", "hash_iterations", "login_cache"});
  if (auto v = r.integer(t, "users", "login_cache", 0, 86400))
    u.login_cache = std::chrono::seconds(*v);
  if (auto v = r.string(t, "users", "database")) {
    if (v->empty())
      r.fail(t.get("database"), "users.database", "must not be empty");
    u.database = *v;
  }
  if (auto v = r.integer(t, "users", "hash_memory_kib", 8 * 1024, 4 * 1024 * 1024))
    u.hash_memory_kib = static_cast<std::uint32_t>(*v);
  if (auto v = r.integer(t, "users", "hash_iterations", 1, 100))
    u.hash_iterations = static_cast<std::uint32_t>(*v);
}

void read_users(const Reader& r, const toml::node& n, std::vector<UserConfig>& users) {
  const toml::array* a = n.as_array();
  if (a == nullptr || !a->is_array_of_tables())
    r.fail(&n, "user", "must be an array of tables ([[user]])");
  std::set<std::string> seen;
  for (const toml::node& e : *a) {
    const toml::table& t = *e.as_table();
    r.only_keys(t, "user",
                {"name", "password", "password_hash", "home", "authorized_keys",
                 "authorized_keys_file", "permissions", "quota_bytes", "quota_files",
                 "max_sessions", "upload_rate", "download_rate", "allow_from", "disabled"});
    UserConfig u;
    auto name = r.string(t, "user", "name");
    if (!name || name->empty())
      r.fail(&e, "user.name", "missing");
    if (name->find_first_of(" \t\r\n/:") != std::string::npos)
      r.fail(t.get("name"), "user.name", "must not contain spaces, '/' or ':'");
    if (!seen.insert(*name).second)
      r.fail(t.get("name"), "user.name", fmt::format("duplicate user \"{}\"", *name));
    u.name = *name;
    u.password = r.string(t, "user", "password").value_or("");
    u.password_hash = r.string(t, "user", "password_hash").value_or("");
    if (const toml::node* kn = t.get("authorized_keys")) {
      const toml::array* keys = kn->as_array();
      if (keys == nullptr)
        r.fail(kn, "user.authorized_keys", "must be an array of OpenSSH public key lines");
      for (const toml::node& k : *keys) {
        if (!k.is_string())
          r.fail(&k, "user.authorized_keys", "must be an array of OpenSSH public key lines");
        u.authorized_keys.push_back(k.as_string()->get());
      }
    }
    if (auto file = r.string(t, "user", "authorized_keys_file")) {
      // A regular file, as the other files of the configuration: a directory
      // reads as empty, and /dev/zero or a FIFO would never end.
      std::error_code ec;
      std::ifstream in;
      if (std::filesystem::is_regular_file(*file, ec))
        in.open(*file);
      if (!in.is_open() || !in)
        r.fail(t.get("authorized_keys_file"), "user.authorized_keys_file",
               fmt::format("\"{}\": can not read", *file));
      for (std::string line; std::getline(in, line);)
        u.authorized_keys.push_back(line);
    }
    if (u.password.empty() && u.password_hash.empty() && !u.authorized_keys.empty()) {
      // Key-only users are fine: no password works for them.
    } else if (u.password.empty() == u.password_hash.empty())
      r.fail(&e, "user.password",
             fmt::format("user \"{}\" needs exactly one of password and password_hash", u.name));
    // argon2id, or a crypt(3) hash carried over from another server (the
    // methods auth/password verifies).
    auto hash_is = [&](std::string_view prefix) { return u.password_hash.rfind(prefix, 0) == 0; };
    if (!u.password_hash.empty() && !hash_is("$argon2id$") && !hash_is("$6$") && !hash_is("$5$") &&
        !hash_is("$y$") && !hash_is("$2b$"))
      r.fail(t.get("password_hash"), "user.password_hash",
             "must be an argon2id hash (\"$argon2id$...\", see `berth hash-password`) or a "
             "crypt(3) hash ($6$, $5$, $y$, $2b$)");
    auto home = r.string(t, "user", "home");
    if (!home || home->empty())
      r.fail(&e, "user.home", fmt::format("user \"{}\" has no home", u.name));
    // A storage location: checked by its backend once the whole file is
    // read (server/wiring), as [s3] may come after the users.
    u.home = home_location(*home);
    u.home_source = r.where(t.get("home"));
    if (auto v = r.permissions(t, "user", "permissions"))
      u.permissions = *v;
    constexpr std::int64_t kMax = std::int64_t{1} << 62;
    if (auto v = r.integer(t, "user", "quota_bytes", 0, kMax))
      u.quota_bytes = static_cast<std::uint64_t>(*v);
    if (auto v = r.integer(t, "user", "quota_files", 0, kMax))
      u.quota_files = static_cast<std::uint64_t>(*v);
    if (auto v = r.integer(t, "user", "max_sessions", 0, 1000000))
      u.max_sessions = static_cast<std::uint32_t>(*v);
    if (auto v = r.rate(t, "user", "upload_rate"))
      u.upload_rate = *v;
    if (auto v = r.rate(t, "user", "download_rate"))
      u.download_rate = *v;
    if (auto v = r.cidrs(t, "user", "allow_from"))
      u.allow_from = *v;
    if (auto v = r.boolean(t, "user", "disabled"))
      u.disabled = *v;
    users.push_back(std::move(u));
  }
}

void read_log(const Reader& r, const toml::table& t, LogConfig& l) {
  r.only_keys(t, "log", {"format", "transfer_log"});
  if (auto v = r.choice<LogFormat>(t, "log", "format",
                                   {{"text", LogFormat::text}, {"json", LogFormat::json}}))
    l.format = *v;
  if (auto v = r.string(t, "log", "transfer_log")) {
    if (v->empty())
      r.fail(t.get("transfer_log"), "log.transfer_log", "must not be empty");
    l.transfer_log = *v;
  }
}

// One S3 endpoint's keys, in [s3] or [s3.profiles.NAME] (`section`).
void read_s3_profile(const Reader& r, const toml::table& t, const std::string& section,
                     S3Profile& p) {
  if (auto v = r.string(t, section, "endpoint")) {
    const bool http = v->starts_with("http://") || v->starts_with("https://");
    const std::size_t host = v->find("://") + 3;
    if (!http || v->size() == host || v->find('/', host) != std::string::npos)
      r.fail(t.get("endpoint"), Reader::join(section, "endpoint"),
             fmt::format("\"{}\" must be http://host[:port] or https://host[:port], no path", *v));
    p.endpoint = *v;
  }
  if (auto v = r.string(t, section, "region")) {
    if (v->empty())
      r.fail(t.get("region"), Reader::join(section, "region"), "must not be empty");
    p.region = *v;
  }
  if (auto v = r.string(t, section, "access_key"))
    p.access_key = *v;
  if (auto v = r.string(t, section, "secret_key"))
    p.secret_key = *v;
  if (auto v = r.boolean(t, section, "path_style"))
    p.path_style = *v;
  if (auto v = r.string(t, section, "ca_file")) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(*v, ec))
      r.fail(t.get("ca_file"), Reader::join(section, "ca_file"),
             fmt::format("\"{}\": no such file", *v));
    p.ca_file = *v;
  }
  // S3 refuses parts below 5 MiB (but the last) and above 5 GiB.
  if (auto v = r.bytes(t, section, "part_size", 5ull << 20, 5ull << 30))
    p.part_size = *v;
  if (auto v = r.integer(t, section, "upload_concurrency", 1, 64))
    p.upload_concurrency = static_cast<std::uint32_t>(*v);
  if (auto v = r.integer(t, section, "request_timeout", 1, 3600))
    p.request_timeout = std::chrono::seconds(*v);
}

// Credentials missing from the file come from the environment, as the AWS
// tools take them.
void s3_credentials_from_environment(S3Profile& p) {
  auto env = [](const char* name) -> std::string {
    const char* v = std::getenv(name); // NOLINT(concurrency-mt-unsafe): at start or reload
    return v != nullptr ? v : "";
  };
  if (p.access_key.empty() && p.secret_key.empty()) {
    p.access_key = env("AWS_ACCESS_KEY_ID");
    p.secret_key = env("AWS_SECRET_ACCESS_KEY");
    p.session_token = env("AWS_SESSION_TOKEN");
  }
}

void read_s3(const Reader& r, const toml::table& t, S3Config& s) {
  static constexpr std::array<std::string_view, 9> kProfileKeys = {
      "endpoint", "region",    "access_key",         "secret_key",     "path_style",
      "ca_file",  "part_size", "upload_concurrency", "request_timeout"};
  std::vector<std::string_view> known(kProfileKeys.begin(), kProfileKeys.end());
  for (std::string_view k :
       {"memory_budget", "spool_dir", "spool_limit", "max_rename_objects", "profiles"})
    known.push_back(k);
  for (auto&& [k, v] : t)
    if (std::find(known.begin(), known.end(), k.str()) == known.end())
      r.fail(&v, Reader::join("s3", k.str()), "unknown key");
  read_s3_profile(r, t, "s3", s.defaults);
  if (auto v = r.bytes(t, "s3", "memory_budget", 5ull << 20, 1ull << 40))
    s.memory_budget = *v;
  if (auto v = r.string(t, "s3", "spool_dir"))
    s.spool_dir = *v;
  if (auto v = r.bytes(t, "s3", "spool_limit", 0, 1ull << 50))
    s.spool_limit = *v;
  if (auto v = r.integer(t, "s3", "max_rename_objects", 1, 1000000))
    s.max_rename_objects = static_cast<std::uint32_t>(*v);
  if (const toml::node* n = t.get("profiles")) {
    const toml::table* profiles = n->as_table();
    if (profiles == nullptr)
      r.fail(n, "s3.profiles", "must be a table of [s3.profiles.NAME] tables");
    for (auto&& [name, node] : *profiles) {
      const std::string section = fmt::format("s3.profiles.{}", name.str());
      const toml::table* pt = node.as_table();
      if (pt == nullptr)
        r.fail(&node, section, "must be a table");
      for (auto&& [k, v] : *pt)
        if (std::find(kProfileKeys.begin(), kProfileKeys.end(), k.str()) == kProfileKeys.end())
          r.fail(&v, Reader::join(section, k.str()), "unknown key");
      S3Profile p = s.defaults; // a profile changes what it names
      read_s3_profile(r, *pt, section, p);
      s.profiles.emplace_back(std::string(name.str()), std::move(p));
    }
  }
  s3_credentials_from_environment(s.defaults);
  for (auto& [name, p] : s.profiles)
    s3_credentials_from_environment(p);
  std::uint64_t largest_part = s.defaults.part_size;
  for (const auto& [name, p] : s.profiles)
    largest_part = std::max(largest_part, p.part_size);
  if (s.memory_budget < largest_part)
    r.fail(t.get("memory_budget"), "s3.memory_budget",
           fmt::format("must hold at least one part ({} bytes)", largest_part));
}

void read_metrics(const Reader& r, const toml::table& t, MetricsConfig& m) {
  r.only_keys(t, "metrics", {"listen"});
  if (auto v = r.string(t, "metrics", "listen")) {
    auto hp = parse_host_port(*v);
    if (!hp)
      r.fail(t.get("listen"), "metrics.listen",
             fmt::format("bad address \"{}\" (want IPv4:PORT or [IPv6]:PORT)", *v));
    m.listen = *hp;
  }
}

} // namespace

Config default_config() {
  Config c;
  c.ftp.listen.push_back(HostPort{"0.0.0.0", 2121, false});
  c.ftps.listen.push_back(HostPort{"0.0.0.0", 2990, false});
  c.sftp.listen.push_back(HostPort{"0.0.0.0", 2222, false});
  return c;
}

Config load_config(const std::filesystem::path& file) {
  Reader r(file);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec))
    throw_error(fmt::format("{}: cannot read: no such file", file.string()));
  toml::table root;
  try {
    root = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    throw_error(fmt::format("{}:{}: syntax error: {}", file.string(), e.source().begin.line,
                            e.description()));
  }
  Config c = default_config();
  c.ftps.listen.clear(); // implicit FTPS and SFTP only where a file asks for them
  c.sftp.listen.clear();
  c.source = file;
  r.only_keys(root, "",
              {"server", "ftp", "ftps", "tls", "sftp", "user", "users", "limits", "bandwidth",
               "defender", "log", "metrics", "s3"});
  if (const toml::table* t = r.table(root, "server"))
    read_server(r, *t, c.server);
  if (const toml::table* t = r.table(root, "ftp"))
    read_ftp(r, *t, c.ftp, c.anonymous);
  if (const toml::table* t = r.table(root, "ftps"))
    read_ftps(r, *t, c.ftps);
  if (const toml::table* t = r.table(root, "tls"))
    read_tls(r, *t, c.tls);
  if (const toml::table* t = r.table(root, "sftp"))
    read_sftp(r, *t, c.sftp);
  if (const toml::table* t = r.table(root, "limits"))
    read_limits(r, *t, c.limits);
  if (const toml::table* t = r.table(root, "bandwidth"))
    read_bandwidth(r, *t, c.bandwidth);
  if (const toml::table* t = r.table(root, "defender"))
    read_defender(r, *t, c.defender);
  if (const toml::table* t = r.table(root, "users"))
    read_users_db(r, *t, c.users_db);
  if (const toml::node* n = root.get("user"))
    read_users(r, *n, c.users);
  if (const toml::table* t = r.table(root, "log"))
    read_log(r, *t, c.log);
  if (const toml::table* t = r.table(root, "metrics"))
    read_metrics(r, *t, c.metrics);
  if (const toml::table* t = r.table(root, "s3"))
    read_s3(r, *t, c.s3);
  else
    s3_credentials_from_environment(c.s3.defaults);
  check_host_users(r, root, c);
  if (c.ftp.listen.empty() && c.sftp.listen.empty())
    r.fail(root.get("ftp"), "ftp.listen", "no listen address");
  return c;
}

} // namespace berth::core
