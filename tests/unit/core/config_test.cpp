#include "core/config.hpp"

#include "support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pwd.h>

#include <string>

namespace berth::core {
namespace {

using ::testing::HasSubstr;

class LoadConfig : public ::testing::Test {
protected:
  void SetUp() override { std::filesystem::create_directory(home()); }

  std::filesystem::path home() const { return dir_.path() / "home"; }

  /// A TOML string literal naming the test home.
  std::string home_literal() const { return "'" + home().string() + "'"; }

  std::filesystem::path write(const std::string& toml) const {
    return dir_.write("berth.toml", toml);
  }

  /// Loads `toml` and returns the ConfigError's message (fails if none is thrown).
  std::string error_of(const std::string& toml) const {
    auto file = write(toml);
    try {
      (void)load_config(file);
    } catch (const ConfigError& e) {
      return e.what();
    }
    ADD_FAILURE() << "no ConfigError for:\n" << toml;
    return {};
  }

  /// Expects the error of `toml` to start with "FILE:LINE: KEY:".
  void expect_error(const std::string& toml, int line, const std::string& key,
                    const std::string& reason_part) const {
    std::string what = error_of(toml);
    std::string where =
        (dir_.path() / "berth.toml").string() + ":" + std::to_string(line) + ": " + key + ":";
    EXPECT_EQ(what.rfind(where, 0), 0u)
        << "want prefix \"" << where << "\", got \"" << what << "\"";
    EXPECT_THAT(what, HasSubstr(reason_part));
  }

  test::TempDir dir_;
};

TEST_F(LoadConfig, ValidFile) {
  auto file = write(R"(# a comment
[server]
state_dir = "state"
threads = 4

[ftp]
listen = ["127.0.0.1:2121", "[::1]:2121"]
passive_ports = "50000-50100"
passive_address = "192.0.2.1"
active_data_port = 0
idle_timeout = 120
login_timeout = 30
data_timeout = 45
failed_login_delay_ms = 250
max_line = 1024

[[user]]
name = "alice"
password = "secret"
home = )" + home_literal() +
                    R"(

[[user]]
name = "bob"
password_hash = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$aGFzaA"
home = )" + home_literal() +
                    "\n");
  Config c = load_config(file);
  EXPECT_EQ(c.source, file);
  EXPECT_EQ(c.server.state_dir, "state");
  EXPECT_EQ(c.server.threads, 4u);
  ASSERT_EQ(c.ftp.listen.size(), 2u);
  EXPECT_EQ(c.ftp.listen[0].host, "127.0.0.1");
  EXPECT_EQ(c.ftp.listen[0].port, 2121);
  EXPECT_FALSE(c.ftp.listen[0].v6);
  EXPECT_EQ(c.ftp.listen[1].host, "::1");
  EXPECT_TRUE(c.ftp.listen[1].v6);
  EXPECT_EQ(c.ftp.passive_ports.low, 50000);
  EXPECT_EQ(c.ftp.passive_ports.high, 50100);
  EXPECT_EQ(c.ftp.passive_address, "192.0.2.1");
  EXPECT_EQ(c.ftp.active_data_port, 0);
  EXPECT_EQ(c.ftp.idle_timeout, std::chrono::seconds(120));
  EXPECT_EQ(c.ftp.login_timeout, std::chrono::seconds(30));
  EXPECT_EQ(c.ftp.data_timeout, std::chrono::seconds(45));
  EXPECT_EQ(c.ftp.failed_login_delay, std::chrono::milliseconds(250));
  EXPECT_EQ(c.ftp.max_line, 1024u);
  ASSERT_EQ(c.users.size(), 2u);
  EXPECT_EQ(c.users[0].name, "alice");
  EXPECT_EQ(c.users[0].password, "secret");
  EXPECT_TRUE(c.users[0].password_hash.empty());
  EXPECT_TRUE(c.users[0].home.is_absolute());
  EXPECT_TRUE(std::filesystem::equivalent(c.users[0].home, home()));
  EXPECT_EQ(c.users[1].name, "bob");
  EXPECT_TRUE(c.users[1].password.empty());
  EXPECT_EQ(c.users[1].password_hash.rfind("$argon2id$", 0), 0u);
}

TEST_F(LoadConfig, OmittedKeysKeepDefaults) {
  Config c = load_config(write("[ftp]\nlisten = [\"0.0.0.0:21\"]\n"));
  Config d = default_config();
  EXPECT_EQ(c.server.state_dir, d.server.state_dir);
  EXPECT_EQ(c.server.threads, d.server.threads);
  EXPECT_EQ(c.ftp.passive_ports.low, d.ftp.passive_ports.low);
  EXPECT_EQ(c.ftp.passive_ports.high, d.ftp.passive_ports.high);
  EXPECT_EQ(c.ftp.idle_timeout, d.ftp.idle_timeout);
  EXPECT_EQ(c.ftp.max_line, d.ftp.max_line);
  ASSERT_EQ(c.ftp.listen.size(), 1u); // replaces, not appends to, the default listen
  EXPECT_EQ(c.ftp.listen[0].port, 21);
  EXPECT_TRUE(c.users.empty());
}

TEST_F(LoadConfig, EmptyFileUsesDefaultListen) {
  Config c = load_config(write(""));
  ASSERT_EQ(c.ftp.listen.size(), 1u);
  EXPECT_EQ(c.ftp.listen[0].host, "0.0.0.0");
  EXPECT_EQ(c.ftp.listen[0].port, 2121);
}

TEST(DefaultConfig, ListensOn2121) {
  Config c = default_config();
  EXPECT_TRUE(c.source.empty());
  ASSERT_EQ(c.ftp.listen.size(), 1u);
  EXPECT_EQ(format_host_port(c.ftp.listen[0].host, c.ftp.listen[0].port), "0.0.0.0:2121");
}

TEST_F(LoadConfig, MissingFile) {
  auto file = dir_.path() / "absent.toml";
  try {
    (void)load_config(file);
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr(file.string()));
  }
}

TEST_F(LoadConfig, SyntaxErrorNamesLine) {
  std::string what = error_of("[ftp]\nlisten = [\"1.2.3.4:21\"\n\n");
  EXPECT_THAT(what, HasSubstr((dir_.path() / "berth.toml").string() + ":"));
  EXPECT_THAT(what, HasSubstr("syntax error"));
}

// Found by the config fuzzer: toml++ quotes the character it stopped at, and
// keys and values may hold any character; the error must stay one line.
TEST_F(LoadConfig, ErrorsAreOneLine) {
  for (const std::string toml : {
           "[server]\nthreads =f\n",                                       // quotes "f\n"
           "[ftp]\nlisten = [\"1.2.3.4:21\"]\n\"a\\nb\\u0007\" = 1\n",     // unknown key
           "[ftp]\nlisten = [\"1.2.3.4:21\"]\ntls = \"on\\r\\n\\toff\"\n", // bad value
       }) {
    std::string what = error_of(toml);
    EXPECT_EQ(what.find_first_of("\r\n\a\t"), std::string::npos) << what;
  }
  expect_error("[ftp]\nlisten = [\"1.2.3.4:21\"]\n\"a\\nb\\u0007\" = 1\n", 3, "ftp.a\\nb\\x07",
               "unknown key");
}

TEST_F(LoadConfig, UnknownKey) {
  expect_error("[ftp]\nlisten = [\"1.2.3.4:21\"]\nlisen = 3\n", 3, "ftp.lisen", "unknown key");
  expect_error("[server]\nthreads = 1\n\nstate_dri = \"x\"\n", 4, "server.state_dri",
               "unknown key");
  expect_error("# top\ncolour = \"blue\"\n", 2, "colour", "unknown key");
  expect_error("[[user]]\nname = \"a\"\npassword = \"p\"\nhome = " + home_literal() +
                   "\nshell = \"/bin/sh\"\n",
               5, "user.shell", "unknown key");
}

TEST_F(LoadConfig, WrongType) {
  expect_error("[server]\nthreads = \"four\"\n", 2, "server.threads", "must be an integer");
  expect_error("[server]\nstate_dir = 7\n", 2, "server.state_dir", "must be a string");
  expect_error("[ftp]\nlisten = \"1.2.3.4:21\"\n", 2, "ftp.listen", "array");
  expect_error("[ftp]\nlisten = [21]\n", 2, "ftp.listen", "array");
  expect_error("[ftp]\nlisten = [\"1.2.3.4:21\"]\npassive_ports = 5000\n", 3, "ftp.passive_ports",
               "must be a string");
  expect_error("[ftp]\nlisten = [\"1.2.3.4:21\"]\nidle_timeout = 1.5\n", 3, "ftp.idle_timeout",
               "must be an integer");
}

TEST_F(LoadConfig, IntegerOutOfRange) {
  expect_error("[server]\nthreads = 257\n", 2, "server.threads", "between 0 and 256");
  expect_error("[ftp]\nlisten = [\"1.2.3.4:21\"]\nmax_line = 10\n", 3, "ftp.max_line",
               "between 512 and 65536");
  expect_error("[ftp]\nlisten = [\"1.2.3.4:21\"]\nactive_data_port = 65536\n", 3,
               "ftp.active_data_port", "between");
}

TEST_F(LoadConfig, BadListenAddress) {
  expect_error("[ftp]\nlisten = [\"1.2.3.4:21\",\n  \"localhost:21\"]\n", 3, "ftp.listen",
               "bad address \"localhost:21\"");
  expect_error("[ftp]\nlisten = [\"::1:21\"]\n", 2, "ftp.listen", "bad address");
  expect_error("[ftp]\nlisten = [\"1.2.3.4:70000\"]\n", 2, "ftp.listen", "bad address");
}

TEST_F(LoadConfig, NoListenAddress) {
  expect_error("\n[ftp]\nlisten = []\n", 2, "ftp.listen", "no listen address");
}

TEST_F(LoadConfig, BadPassivePortRange) {
  for (const char* range : {"5000-4000", "0-10", "70000-80000", "5000"}) {
    SCOPED_TRACE(range);
    expect_error(std::string("[ftp]\nlisten = [\"1.2.3.4:21\"]\n\npassive_ports = \"") + range +
                     "\"\n",
                 4, "ftp.passive_ports", std::string("bad port range \"") + range + "\"");
  }
}

TEST_F(LoadConfig, BadPassiveAddress) {
  expect_error("[ftp]\nlisten = [\"1.2.3.4:21\"]\npassive_address = \"::1\"\n", 3,
               "ftp.passive_address", "bad address");
}

TEST_F(LoadConfig, PassiveAddressHostNameAndRules) {
  auto file = write("[ftp]\nlisten = [\"1.2.3.4:21\"]\npassive_address = \"ftp.example.org\"\n"
                    "passive_address_rules = [{ from = \"10.0.0.0/8\", address = \"10.1.2.3\" },\n"
                    "  { from = \"127.0.0.2\", address = \"localhost\" }]\nallow_ccc = true\n");
  auto c = load_config(file);
  EXPECT_EQ(c.ftp.passive_address, "ftp.example.org");
  ASSERT_EQ(c.ftp.passive_address_rules.size(), 2u);
  EXPECT_EQ(c.ftp.passive_address_rules[0].from, "10.0.0.0/8");
  EXPECT_EQ(c.ftp.passive_address_rules[0].address, "10.1.2.3");
  EXPECT_EQ(c.ftp.passive_address_rules[1].address, "localhost");
  EXPECT_TRUE(c.ftp.allow_ccc);
}

TEST_F(LoadConfig, BadPassiveAddressRules) {
  const std::string head = "[ftp]\nlisten = [\"1.2.3.4:21\"]\n";
  expect_error(head +
                   "passive_address_rules = [{ from = \"10.0.0.0/33\", address = \"1.2.3.4\" }]\n",
               3, "ftp.passive_address_rules.from", "bad address block \"10.0.0.0/33\"");
  expect_error(
      head + "passive_address_rules = [{ from = \"10.0.0.0/8\", address = \"10.0.0.256\" }]\n", 3,
      "ftp.passive_address_rules.address", "bad address \"10.0.0.256\"");
  expect_error(head + "passive_address_rules = [{ from = \"10.0.0.0/8\" }]\n", 3,
               "ftp.passive_address_rules.address", "missing");
  expect_error(head +
                   "passive_address_rules = [{ from = \"10.0.0.0/8\", address = \"a\", x = 1 }]\n",
               3, "ftp.passive_address_rules.x", "unknown key");
  expect_error(head + "passive_address_rules = \"10.0.0.0/8\"\n", 3, "ftp.passive_address_rules",
               "must be an array");
  expect_error(head + "passive_address = \"bad_name!\"\n", 3, "ftp.passive_address", "bad address");
}

TEST_F(LoadConfig, BadAllowCcc) {
  expect_error("[ftp]\nlisten = [\"1.2.3.4:21\"]\nallow_ccc = \"yes\"\n", 3, "ftp.allow_ccc",
               "must be true or false");
}

TEST_F(LoadConfig, MissingHome) {
  expect_error("[[user]]\nname = \"alice\"\npassword = \"p\"\n", 1, "user.home",
               "user \"alice\" has no home");
}

TEST_F(LoadConfig, HomeIsAStorageLocation) {
  // Whether a home can serve is its backend's check (server::check_homes);
  // the configuration keeps the location: a path made absolute, a URL as written.
  auto c = load_config(write("[[user]]\nname = \"a\"\npassword = \"p\"\nhome = \"rel/dir\"\n"
                             "[[user]]\nname = \"b\"\npassword = \"p\"\n"
                             "home = \"s3://media@bucket-1/users/b\"\n"));
  ASSERT_EQ(c.users.size(), 2u);
  EXPECT_EQ(c.users[0].home, std::filesystem::absolute("rel/dir"));
  EXPECT_EQ(c.users[0].home_source, (dir_.path() / "berth.toml").string() + ":4");
  EXPECT_EQ(c.users[1].home.string(), "s3://media@bucket-1/users/b");
}

TEST_F(LoadConfig, S3Section) {
  auto c = load_config(write(R"([s3]
endpoint = "http://127.0.0.1:7480"
region = "eu-1"
access_key = "AK"
secret_key = "SK"
path_style = false
part_size = "16MiB"
upload_concurrency = 8
memory_budget = "1GiB"
max_rename_objects = 500
request_timeout = 20
[s3.profiles.backup]
endpoint = "https://s3.example.org"
part_size = 6291456
)"));
  EXPECT_EQ(c.s3.defaults.endpoint, "http://127.0.0.1:7480");
  EXPECT_EQ(c.s3.defaults.region, "eu-1");
  EXPECT_EQ(c.s3.defaults.access_key, "AK");
  EXPECT_EQ(c.s3.defaults.secret_key, "SK");
  EXPECT_FALSE(c.s3.defaults.path_style);
  EXPECT_EQ(c.s3.defaults.part_size, 16u << 20);
  EXPECT_EQ(c.s3.defaults.upload_concurrency, 8u);
  EXPECT_EQ(c.s3.defaults.request_timeout, std::chrono::seconds(20));
  EXPECT_EQ(c.s3.memory_budget, 1ull << 30);
  EXPECT_EQ(c.s3.max_rename_objects, 500u);
  const S3Profile* backup = c.s3.profile("backup");
  ASSERT_NE(backup, nullptr);
  EXPECT_EQ(backup->endpoint, "https://s3.example.org");
  EXPECT_EQ(backup->part_size, 6u << 20);
  EXPECT_EQ(backup->region, "eu-1") << "a profile keeps what it does not name";
  EXPECT_EQ(backup->access_key, "AK");
  EXPECT_EQ(c.s3.profile(""), &c.s3.defaults);
  EXPECT_EQ(c.s3.profile("other"), nullptr);
}

TEST_F(LoadConfig, S3Errors) {
  expect_error("[s3]\nendpoint = \"ftp://host\"\n", 2, "s3.endpoint", "http://host[:port]");
  expect_error("[s3]\nendpoint = \"http://host/path\"\n", 2, "s3.endpoint", "no path");
  expect_error("[s3]\npart_size = \"4MiB\"\n", 2, "s3.part_size", "must be between 5242880");
  expect_error("[s3]\npart_size = \"8 parsecs\"\n", 2, "s3.part_size", "bad size");
  expect_error("[s3]\nupload_concurrency = 0\n", 2, "s3.upload_concurrency", "between 1 and 64");
  expect_error("[s3]\nbucket = \"x\"\n", 2, "s3.bucket", "unknown key");
  expect_error("[s3]\nmemory_budget = \"6MiB\"\npart_size = \"8MiB\"\n", 2, "s3.memory_budget",
               "at least one part");
  expect_error("[s3.profiles.x]\nspool_dir = \"/tmp\"\n", 2, "s3.profiles.x.spool_dir",
               "unknown key");
}

TEST_F(LoadConfig, S3CredentialsFromTheEnvironment) {
  ::setenv("AWS_ACCESS_KEY_ID", "env-ak", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "env-sk", 1);
  ::setenv("AWS_SESSION_TOKEN", "env-token", 1);
  auto c = load_config(write("[s3]\nendpoint = \"http://h\"\n[s3.profiles.own]\n"
                             "access_key = \"a\"\nsecret_key = \"s\"\n"));
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  ::unsetenv("AWS_SESSION_TOKEN");
  EXPECT_EQ(c.s3.defaults.access_key, "env-ak");
  EXPECT_EQ(c.s3.defaults.secret_key, "env-sk");
  EXPECT_EQ(c.s3.defaults.session_token, "env-token");
  EXPECT_EQ(c.s3.profile("own")->access_key, "a") << "the file wins over the environment";
  EXPECT_TRUE(c.s3.profile("own")->session_token.empty());
}

TEST_F(LoadConfig, AuthorizedKeysFileIsRead) {
  auto keys = dir_.write("keys", "ssh-ed25519 AAAA a@b\nssh-rsa BBBB c@d\n");
  auto file =
      write("[ftp]\nlisten = [\"1.2.3.4:21\"]\n[[user]]\nname = \"k\"\nhome = " + home_literal() +
            "\nauthorized_keys_file = '" + keys.string() + "'\n");
  Config c = load_config(file);
  ASSERT_EQ(c.users.size(), 1u);
  EXPECT_EQ(c.users[0].authorized_keys,
            (std::vector<std::string>{"ssh-ed25519 AAAA a@b", "ssh-rsa BBBB c@d"}));
}

// A directory read as no keys at all, and /dev/zero never ended.
TEST_F(LoadConfig, AuthorizedKeysFileMustBeARegularFile) {
  for (const std::string& path :
       {home().string(), std::string("/dev/zero"), (dir_.path() / "nowhere").string()}) {
    expect_error("[[user]]\nname = \"k\"\nhome = " + home_literal() + "\nauthorized_keys_file = '" +
                     path + "'\n",
                 4, "user.authorized_keys_file", "can not read");
  }
}

TEST_F(LoadConfig, FtpHosts) {
  auto file = write("[ftp]\nlisten = ['127.0.0.1:0']\n"
                    "[[user]]\nname = 'alice'\npassword = 'pw'\nhome = " +
                    home_literal() +
                    "\n[[ftp.host]]\nname = 'A.example'\nusers = ['alice']\nbanner = 'Hi A.'\n"
                    "[[ftp.host]]\nname = 'b.example'\n");
  Config c = load_config(file);
  ASSERT_EQ(c.ftp.hosts.size(), 2u);
  EXPECT_EQ(c.ftp.hosts[0].name, "A.example");
  EXPECT_EQ(c.ftp.hosts[0].users, std::vector<std::string>{"alice"});
  EXPECT_EQ(c.ftp.hosts[0].banner, "Hi A.");
  EXPECT_TRUE(c.ftp.hosts[0].certificate.empty());
  EXPECT_EQ(c.ftp.hosts[1].banner, "b.example FTP server ready.");
  EXPECT_TRUE(c.ftp.hosts[1].users.empty());
}

TEST_F(LoadConfig, BadFtpHosts) {
  const std::string base = "[ftp]\nlisten = ['127.0.0.1:0']\n"
                           "[[user]]\nname = 'alice'\npassword = 'pw'\nhome = " +
                           home_literal() + "\n";
  EXPECT_THAT(error_of(base + "[[ftp.host]]\nname = 'a'\n[[ftp.host]]\nname = 'A'\n"),
              HasSubstr("ftp.host.name: duplicate host \"A\""));
  EXPECT_THAT(error_of(base + "[[ftp.host]]\nname = 'a'\nusers = ['bob']\n"),
              HasSubstr("ftp.host.users: host \"a\": unknown user \"bob\""));
  EXPECT_THAT(error_of(base + "[[ftp.host]]\nname = 'a'\nusers = ['anonymous']\n"),
              HasSubstr("unknown user \"anonymous\""));
  EXPECT_THAT(error_of(base + "[[ftp.host]]\nname = 'a'\ncertificate = '/nonexistent.pem'\n"),
              HasSubstr("ftp.host.certificate: \"/nonexistent.pem\": no such file"));
  EXPECT_THAT(error_of(base + "[[ftp.host]]\nname = 'a/b'\n"), HasSubstr("bad host name"));
  EXPECT_THAT(error_of(base + "[[ftp.host]]\nusers = []\n"), HasSubstr("ftp.host.name: missing"));
  EXPECT_THAT(error_of(base + "[[ftp.host]]\nname = 'a'\nbanner = ''\n"),
              HasSubstr("ftp.host.banner"));
  EXPECT_THAT(error_of(base + "[ftp.host]\nname = 'a'\n"), HasSubstr("must be an array of tables"));
}

TEST_F(LoadConfig, DuplicateUser) {
  expect_error("[[user]]\nname = \"alice\"\npassword = \"p\"\nhome = " + home_literal() +
                   "\n\n[[user]]\nname = \"alice\"\npassword = \"q\"\nhome = " + home_literal() +
                   "\n",
               7, "user.name", "duplicate user \"alice\"");
}

TEST_F(LoadConfig, MissingOrBadUserName) {
  expect_error("[[user]]\npassword = \"p\"\nhome = " + home_literal() + "\n", 1, "user.name",
               "missing");
  expect_error("[[user]]\nname = \"a b\"\npassword = \"p\"\nhome = " + home_literal() + "\n", 2,
               "user.name", "must not contain");
  expect_error("[[user]]\nname = \"a/b\"\npassword = \"p\"\nhome = " + home_literal() + "\n", 2,
               "user.name", "must not contain");
}

TEST_F(LoadConfig, BothPasswordAndHash) {
  expect_error("[[user]]\nname = \"alice\"\npassword = \"p\"\n"
               "password_hash = \"$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA\"\nhome = " +
                   home_literal() + "\n",
               1, "user.password", "exactly one of password and password_hash");
}

TEST_F(LoadConfig, NeitherPasswordNorHash) {
  expect_error("[[user]]\nname = \"alice\"\nhome = " + home_literal() + "\n", 1, "user.password",
               "exactly one of password and password_hash");
}

TEST_F(LoadConfig, HashMustBeArgon2id) {
  expect_error(
      "[[user]]\nname = \"alice\"\npassword_hash = \"$1$abcdef\"\nhome = " + home_literal() + "\n",
      3, "user.password_hash", "argon2id");
}

TEST_F(LoadConfig, UserMustBeArrayOfTables) {
  expect_error("user = \"alice\"\n", 1, "user", "array of tables");
}

TEST_F(LoadConfig, ServerMustBeTable) {
  expect_error("server = 3\n", 1, "server", "must be a table");
}

TEST_F(LoadConfig, UserRules) {
  auto c =
      load_config(write("[[user]]\nname = \"alice\"\npassword = \"pw\"\nhome = " + home_literal() +
                        "\npermissions = [\"list\", \"download\"]\nquota_bytes = 1000\n"
                        "quota_files = 7\nmax_sessions = 2\nupload_rate = 64\n"
                        "download_rate = 128\nallow_from = [\"10.0.0.0/8\", \"::1\"]\n"
                        "disabled = true\n"));
  ASSERT_EQ(c.users.size(), 1u);
  const auto& u = c.users[0];
  EXPECT_EQ(u.permissions, Permissions::read_only());
  EXPECT_EQ(u.quota_bytes, 1000u);
  EXPECT_EQ(u.quota_files, 7u);
  EXPECT_EQ(u.max_sessions, 2u);
  EXPECT_EQ(u.upload_rate, 64u * 1024);
  EXPECT_EQ(u.download_rate, 128u * 1024);
  EXPECT_EQ(u.allow_from, (std::vector<std::string>{"10.0.0.0/8", "::1"}));
  EXPECT_TRUE(u.disabled);
}

TEST_F(LoadConfig, UserRulesDefaultToNoLimits) {
  auto c = load_config(
      write("[[user]]\nname = \"alice\"\npassword = \"pw\"\nhome = " + home_literal() + "\n"));
  const auto& u = c.users.at(0);
  EXPECT_EQ(u.permissions, Permissions::all());
  EXPECT_EQ(u.quota_bytes, 0u);
  EXPECT_EQ(u.max_sessions, 0u);
  EXPECT_TRUE(u.allow_from.empty());
  EXPECT_FALSE(u.disabled);
}

TEST_F(LoadConfig, BadPermissionIsNamed) {
  expect_error("[[user]]\nname = \"alice\"\npassword = \"pw\"\nhome = " + home_literal() +
                   "\npermissions = [\"list\", \"uplaod\"]\n",
               5, "user.permissions", "unknown permission \"uplaod\"");
}

TEST_F(LoadConfig, BadAllowFromIsNamed) {
  expect_error("[[user]]\nname = \"alice\"\npassword = \"pw\"\nhome = " + home_literal() +
                   "\nallow_from = [\"10.0.0.1/8\"]\n",
               5, "user.allow_from", "bad address block \"10.0.0.1/8\"");
}

TEST_F(LoadConfig, GuardSections) {
  auto c = load_config(write("[limits]\nmax_connections = 100\nmax_connections_per_ip = 5\n"
                             "[bandwidth]\nupload_rate = 10\ndownload_rate = 20\n"
                             "[defender]\nmax_failures = 3\nwindow = 60\nban_time = 30\n"
                             "max_ban_time = 120\nallow = [\"192.0.2.0/24\"]\n"
                             "[users]\ndatabase = \"u.db\"\nlogin_cache = 0\n"));
  EXPECT_EQ(c.limits.max_connections, 100u);
  EXPECT_EQ(c.limits.max_connections_per_ip, 5u);
  EXPECT_EQ(c.bandwidth.upload_rate, 10u * 1024);
  EXPECT_EQ(c.bandwidth.download_rate, 20u * 1024);
  EXPECT_EQ(c.defender.max_failures, 3u);
  EXPECT_EQ(c.defender.window, std::chrono::seconds(60));
  EXPECT_EQ(c.defender.ban_time, std::chrono::seconds(30));
  EXPECT_EQ(c.defender.max_ban_time, std::chrono::seconds(120));
  EXPECT_EQ(c.defender.allow, (std::vector<std::string>{"192.0.2.0/24"}));
  EXPECT_EQ(c.user_database(), "u.db");
  EXPECT_EQ(c.users_db.login_cache, std::chrono::seconds(0));
}

// Issue 17, item 7: sessions per user have a finite default; open files a
// budget derived from RLIMIT_NOFILE unless configured.
TEST_F(LoadConfig, SessionAndOpenFileLimits) {
  auto c = load_config(write("[limits]\nmax_sessions_per_user = 10\nmax_open_files = 500\n"
                             "max_open_files_per_user = 50\n"));
  EXPECT_EQ(c.limits.max_sessions_per_user, 10u);
  EXPECT_EQ(c.limits.max_open_files, 500u);
  EXPECT_EQ(c.limits.max_open_files_per_user, 50u);
  auto d = load_config(write("[ftp]\nlisten = [\"127.0.0.1:0\"]\n"));
  EXPECT_EQ(d.limits.max_sessions_per_user, 128u);
  EXPECT_EQ(d.limits.max_open_files, 0u);
  EXPECT_EQ(d.limits.max_open_files_per_user, 0u);
  expect_error("[limits]\nmax_open_files = -1\n", 2, "limits.max_open_files", "between");
  expect_error("[limits]\nmax_open_files_per_user = \"many\"\n", 2,
               "limits.max_open_files_per_user", "must be an integer");
  expect_error("[limits]\nmax_sessions_per_user = 2000000\n", 2, "limits.max_sessions_per_user",
               "between");
}

TEST_F(LoadConfig, GuardDefaults) {
  auto c = load_config(write("[ftp]\nlisten = [\"127.0.0.1:0\"]\n"));
  EXPECT_EQ(c.limits.max_connections, 0u);
  EXPECT_TRUE(c.defender.enabled);
  EXPECT_EQ(c.defender.max_failures, 5u);
  EXPECT_EQ(c.defender.allow, (std::vector<std::string>{"127.0.0.1/32", "::1/128"}));
  EXPECT_FALSE(c.ftp.proxy.enabled);
  EXPECT_FALSE(c.anonymous.enabled);
  EXPECT_EQ(c.user_database(), c.server.state_dir / "users.db");
}

TEST_F(LoadConfig, LogAndMetrics) {
  auto c = load_config(write("[ftp]\nlisten = [\"127.0.0.1:0\"]\n"));
  EXPECT_EQ(c.log.format, LogFormat::text);
  EXPECT_TRUE(c.log.transfer_log.empty());
  EXPECT_FALSE(c.metrics.listen);
  c = load_config(write("[log]\nformat = \"json\"\ntransfer_log = \"/var/log/berth/xferlog\"\n"
                        "[metrics]\nlisten = \"[::1]:9121\"\n"));
  EXPECT_EQ(c.log.format, LogFormat::json);
  EXPECT_EQ(c.log.transfer_log, "/var/log/berth/xferlog");
  ASSERT_TRUE(c.metrics.listen);
  EXPECT_EQ(c.metrics.listen->host, "::1");
  EXPECT_EQ(c.metrics.listen->port, 9121);
  expect_error("[log]\nformat = \"xml\"\n", 2, "log.format", "want \"text\" or \"json\"");
  expect_error("[log]\ntransfer_log = \"\"\n", 2, "log.transfer_log", "must not be empty");
  expect_error("[log]\nlevel = \"debug\"\n", 2, "log.level", "unknown key");
  expect_error("[metrics]\nlisten = \"localhost:9121\"\n", 2, "metrics.listen", "bad address");
  expect_error("[metrics]\nlisten = [\"127.0.0.1:9121\"]\n", 2, "metrics.listen",
               "must be a string");
}

TEST_F(LoadConfig, MaxBanTimeBelowBanTime) {
  expect_error("[defender]\nban_time = 60\nmax_ban_time = 30\n", 3, "defender.max_ban_time",
               "must not be less than ban_time");
}

TEST_F(LoadConfig, ProxyNeedsItsPeers) {
  expect_error("[ftp]\nproxy_protocol = true\n", 2, "ftp.proxy_from", "load balancers");
  auto c = load_config(write("[ftp]\nproxy_protocol = true\nproxy_from = [\"10.0.0.5\"]\n"
                             "[sftp]\nlisten = [\"127.0.0.1:0\"]\nproxy_protocol = true\n"
                             "proxy_from = [\"10.0.0.0/24\"]\n"));
  EXPECT_TRUE(c.ftp.proxy.enabled);
  EXPECT_EQ(c.ftp.proxy.from, (std::vector<std::string>{"10.0.0.5"}));
  EXPECT_TRUE(c.sftp.proxy.enabled);
}

TEST_F(LoadConfig, SftpChannelsPerConnection) {
  EXPECT_EQ(
      load_config(write("[sftp]\nlisten = [\"127.0.0.1:0\"]\n")).sftp.max_channels_per_connection,
      10u);
  auto c =
      load_config(write("[sftp]\nlisten = [\"127.0.0.1:0\"]\nmax_channels_per_connection = 3\n"));
  EXPECT_EQ(c.sftp.max_channels_per_connection, 3u);
  expect_error("[sftp]\nmax_channels_per_connection = 0\n", 2, "sftp.max_channels_per_connection",
               "must be between 1 and 1000");
  expect_error("[sftp]\nmax_channels_per_connection = \"ten\"\n", 2,
               "sftp.max_channels_per_connection", "must be an integer");
}

TEST_F(LoadConfig, Anonymous) {
  auto c = load_config(write("[ftp.anonymous]\nenabled = true\nhome = " + home_literal() + "\n"));
  EXPECT_TRUE(c.anonymous.enabled);
  EXPECT_EQ(c.anonymous.home, std::filesystem::absolute(home()));
  EXPECT_EQ(c.anonymous.permissions, Permissions::read_only());
  expect_error("[ftp.anonymous]\nenabled = true\n", 2, "ftp.anonymous.home", "missing");
}

TEST_F(LoadConfig, CryptHashesAreAccepted) {
  auto c =
      load_config(write("[[user]]\nname = \"alice\"\npassword_hash = \"$6$salt$abc\"\nhome = " +
                        home_literal() + "\n"));
  EXPECT_EQ(c.users.at(0).password_hash, "$6$salt$abc");
}

TEST_F(LoadConfig, ServerUserAndGroupAreResolved) {
  const passwd* nobody = ::getpwnam("nobody");
  if (nobody == nullptr)
    GTEST_SKIP() << "no user nobody";
  auto cfg = load_config(write("[server]\nuser = \"nobody\"\nshutdown_timeout = 7\n[ftp]\n"
                               "listen = [\"127.0.0.1:0\"]\n"));
  ASSERT_TRUE(cfg.server.run_as);
  EXPECT_EQ(cfg.server.run_as->user, "nobody");
  EXPECT_EQ(cfg.server.run_as->uid, nobody->pw_uid);
  EXPECT_EQ(cfg.server.run_as->gid, nobody->pw_gid); // the primary group by default
  EXPECT_EQ(cfg.server.shutdown_timeout, std::chrono::seconds(7));
  cfg = load_config(write("[server]\nuser = \"0\"\ngroup = \"root\"\n[ftp]\n"
                          "listen = [\"127.0.0.1:0\"]\n"));
  ASSERT_TRUE(cfg.server.run_as);
  EXPECT_EQ(cfg.server.run_as->user, "root"); // a numeric id names its user
  EXPECT_EQ(cfg.server.run_as->uid, 0u);
  EXPECT_EQ(cfg.server.run_as->gid, 0u);
  EXPECT_EQ(cfg.server.run_as->group, "root");
}

TEST_F(LoadConfig, ServerDefaultsKeepTheIdentity) {
  auto cfg = load_config(write("[ftp]\nlisten = [\"127.0.0.1:0\"]\n"));
  EXPECT_FALSE(cfg.server.run_as);
  EXPECT_EQ(cfg.server.shutdown_timeout, std::chrono::seconds(30));
  EXPECT_EQ(cfg.server.upload_mode, UploadMode::atomic);
}

TEST_F(LoadConfig, UploadMode) {
  auto cfg = load_config(write("[server]\nupload_mode = \"direct\"\n"));
  EXPECT_EQ(cfg.server.upload_mode, UploadMode::direct);
  cfg = load_config(write("[server]\nupload_mode = \"atomic\"\n"));
  EXPECT_EQ(cfg.server.upload_mode, UploadMode::atomic);
  expect_error("[server]\nupload_mode = \"inplace\"\n", 2, "server.upload_mode",
               "bad value \"inplace\" (want \"atomic\" or \"direct\")");
  expect_error("[ftp]\ntls = \"on\"\n", 2, "ftp.tls",
               "bad value \"on\" (want \"off\", \"optional\" or \"required\")");
  expect_error("[tls]\nmin_version = \"1.1\"\n", 2, "tls.min_version",
               "bad value \"1.1\" (want \"1.2\" or \"1.3\")");
  expect_error("[server]\nupload_mode = 1\n", 2, "server.upload_mode", "must be a string");
}

// Issue 17 items 4, 8, 9 and 18: the keys of TLS truncation, the TLS session
// cache, password checks in progress and IPv6 grouping.
TEST_F(LoadConfig, TlsAndAdmissionKeys) {
  auto c = load_config(write("[ftp]\nlisten = [\"127.0.0.1:0\"]\n"));
  EXPECT_TRUE(c.tls.require_close_notify);
  EXPECT_EQ(c.tls.session_cache_size, 20480);
  EXPECT_EQ(c.limits.ipv6_prefix, 64u);
  EXPECT_EQ(c.limits.max_password_checks, 128u);
  EXPECT_EQ(c.limits.max_password_checks_per_ip, 32u);
  EXPECT_EQ(c.limits.max_tls_handshakes_per_ip, 1200u);
  c = load_config(write("[tls]\nrequire_close_notify = false\nsession_cache_size = 16\n"
                        "[limits]\nipv6_prefix = 128\nmax_password_checks = 0\n"
                        "max_password_checks_per_ip = 2\n"));
  EXPECT_FALSE(c.tls.require_close_notify);
  EXPECT_EQ(c.tls.session_cache_size, 16);
  EXPECT_EQ(c.limits.ipv6_prefix, 128u);
  EXPECT_EQ(c.limits.max_password_checks, 0u);
  EXPECT_EQ(c.limits.max_password_checks_per_ip, 2u);
  expect_error("[tls]\nrequire_close_notify = \"yes\"\n", 2, "tls.require_close_notify",
               "must be true or false");
  expect_error("[tls]\nsession_cache_size = 0\n", 2, "tls.session_cache_size",
               "between 1 and 10000000");
  expect_error("[limits]\nipv6_prefix = 0\n", 2, "limits.ipv6_prefix", "between 1 and 128");
  expect_error("[limits]\nipv6_prefix = 129\n", 2, "limits.ipv6_prefix", "between 1 and 128");
  expect_error("[limits]\nipv6_prefix = \"/64\"\n", 2, "limits.ipv6_prefix", "must be an integer");
  expect_error("[limits]\nmax_tls_handshakes_per_ip = 1.5\n", 2, "limits.max_tls_handshakes_per_ip",
               "must be an integer");
  expect_error("[limits]\nmax_password_checks_per_ip = -1\n", 2,
               "limits.max_password_checks_per_ip", "between 0 and 10000000");
}

TEST_F(LoadConfig, UnknownUserOrGroupIsOneLine) {
  expect_error("[server]\nuser = \"berth-no-such-user\"\n", 2, "server.user",
               "unknown user \"berth-no-such-user\"");
  expect_error("[server]\nuser = \"root\"\ngroup = \"berth-no-such-group\"\n", 3, "server.group",
               "unknown group \"berth-no-such-group\"");
  expect_error("[server]\ngroup = \"root\"\n", 2, "server.group", "without server.user");
  expect_error("[server]\nuser = 0\n", 2, "server.user", "must be a string");
  expect_error("[server]\nshutdown_timeout = -1\n", 2, "server.shutdown_timeout",
               "between 0 and 86400");
}

} // namespace
} // namespace berth::core
