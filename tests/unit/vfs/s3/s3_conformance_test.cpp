// The vfs::Filesystem conformance suite (vfs/conformance/) against the S3
// backend on a real radosgw. ctest starts one (the s3.radosgw.start fixture:
// tests/support/radosgw.py start) and passes its env file in
// BERTH_TEST_S3_ENV; by hand: `tests/support/radosgw.py run DIR` and
// BERTH_TEST_S3_ENV=DIR/env build/tests/unit/berth_s3_tests.

#include <gtest/gtest.h>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <string>

#include "vfs/conformance/filesystem_conformance.hpp"

#include "core/config.hpp"
#include "vfs/s3/client.hpp"
#include "vfs/s3/s3_fs.hpp"

namespace berth::vfs::conformance {
namespace {

/// The KEY=VALUE lines of $BERTH_TEST_S3_ENV; a test failure when it is not
/// set or can not be read.
std::map<std::string, std::string> s3_env() {
  std::map<std::string, std::string> out;
  const char* path = std::getenv("BERTH_TEST_S3_ENV");
  if (path == nullptr || *path == '\0') {
    ADD_FAILURE() << "BERTH_TEST_S3_ENV is not set: run through `ctest -L s3` (fixture "
                     "radosgw), or start tests/support/radosgw.py run DIR and set it to DIR/env";
    return out;
  }
  std::ifstream in(path);
  if (!in) {
    ADD_FAILURE() << "can not read " << path;
    return out;
  }
  for (std::string line; std::getline(in, line);) {
    auto eq = line.find('=');
    if (eq != std::string::npos && line[0] != '#')
      out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  for (const char* key : {"BERTH_TEST_S3_ENDPOINT", "BERTH_TEST_S3_ACCESS_KEY",
                          "BERTH_TEST_S3_SECRET_KEY", "BERTH_TEST_S3_BUCKET"})
    if (out[key].empty())
      ADD_FAILURE() << path << " has no " << key;
  return out;
}

// The fixture itself: the env file names an endpoint that accepts connections.
TEST(S3TestEnvironment, RadosgwFixtureAnswers) {
  auto env = s3_env();
  const std::string endpoint = env["BERTH_TEST_S3_ENDPOINT"];
  const std::string scheme = "http://";
  ASSERT_EQ(endpoint.rfind(scheme, 0), 0u) << endpoint;
  auto host_port = endpoint.substr(scheme.size());
  auto colon = host_port.rfind(':');
  ASSERT_NE(colon, std::string::npos) << endpoint;
  asio::io_context ctx;
  asio::ip::tcp::resolver resolver(ctx);
  asio::ip::tcp::socket socket(ctx);
  std::error_code ec;
  auto addresses = resolver.resolve(host_port.substr(0, colon), host_port.substr(colon + 1), ec);
  ASSERT_FALSE(ec) << ec.message();
  asio::connect(socket, addresses, ec);
  EXPECT_FALSE(ec) << endpoint << ": " << ec.message();
}

/// A home under a fresh key prefix of the test bucket, its objects removed
/// after the test.
struct S3Backend {
  static constexpr bool kSymlinks = false;

  std::unique_ptr<Filesystem> open() {
    if (!client_)
      connect();
    s3::S3FsOptions options;
    options.client = client_;
    options.prefix = prefix_;
    options.part_size = 5u << 20; // several parts for the larger files
    return s3::open_s3_fs(std::move(options));
  }

  void connect() {
    auto env = s3_env();
    core::S3Profile profile;
    profile.endpoint = env["BERTH_TEST_S3_ENDPOINT"];
    profile.region = env.count("BERTH_TEST_S3_REGION") ? env["BERTH_TEST_S3_REGION"] : "us-east-1";
    profile.access_key = env["BERTH_TEST_S3_ACCESS_KEY"];
    profile.secret_key = env["BERTH_TEST_S3_SECRET_KEY"];
    profile.path_style = true;
    client_ = std::make_shared<s3::Client>(profile, env["BERTH_TEST_S3_BUCKET"]);
    std::random_device rd;
    prefix_ = "conformance-" + std::to_string(rd()) + std::to_string(rd());
  }

  void clean(Loop& loop, Filesystem&) {
    if (!client_)
      return;
    std::string token;
    for (int pages = 0; pages < 1000; ++pages) {
      auto page = loop.run(client_->list(prefix_ + "/", "", token));
      if (!page) {
        ADD_FAILURE() << "cleaning " << prefix_ << ": " << page.error().message();
        return;
      }
      std::vector<std::string> keys;
      for (auto& o : page->objects)
        keys.push_back(o.key);
      if (!keys.empty()) {
        auto r = loop.run(client_->remove_many(std::move(keys)));
        EXPECT_TRUE(r) << "cleaning " << prefix_ << ": " << r.error().message();
      }
      if (page->next_token.empty())
        return;
      token = page->next_token;
    }
  }

  std::shared_ptr<s3::Client> client_;
  std::string prefix_;
};

INSTANTIATE_TYPED_TEST_SUITE_P(S3, FilesystemConformance, S3Backend);

} // namespace
} // namespace berth::vfs::conformance
