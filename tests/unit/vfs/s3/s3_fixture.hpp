#pragma once
// What the S3 tests against a real radosgw share: BERTH_TEST_S3_ENV names the
// environment file tests/support/radosgw.py writes (the `s3` ctest label
// starts one); each test gets a bucket of its own, and boto3 checks what
// landed in it.

#include "vfs/errc.hpp"
#include "vfs/s3/s3_fs.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <gtest/gtest.h>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>

extern char** environ;

namespace berth::vfs::s3 {

constexpr std::uint64_t kPart = 5ull << 20;

/// boto3, for what the Client does not do: make the bucket, count its
/// multipart uploads in progress, count its keys under a prefix.
constexpr const char* kBoto3 = R"(
import sys, boto3
from botocore.config import Config
op, endpoint, region, key, secret, bucket = sys.argv[1:7]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region, aws_access_key_id=key,
                  aws_secret_access_key=secret, config=Config(s3={"addressing_style": "path"}))
if op == "create":
    s3.create_bucket(Bucket=bucket)
    print("ok")
elif op == "uploads":
    print(len(s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])))
elif op == "keys":
    n = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=sys.argv[7]):
        n += len(page.get("Contents", []))
    print(n)
)";

inline std::map<std::string, std::string> read_env(const char* path) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq != std::string::npos)
      out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

/// Runs python3 with `args` after the script; returns its stdout, trimmed.
inline std::string boto3(std::vector<std::string> args) {
  std::vector<std::string> argv_text{"python3", "-c", kBoto3};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_text)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  int fds[2];
  if (::pipe(fds) != 0)
    throw std::runtime_error("pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  pid_t pid = 0;
  const int spawned = posix_spawnp(&pid, "python3", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  if (spawned != 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0)
    throw std::runtime_error("boto3 helper failed: " + args[0]);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r'))
    out.pop_back();
  return out;
}

inline std::vector<std::byte> pattern(std::size_t n, std::uint32_t seed) {
  std::vector<std::byte> out(n);
  std::mt19937 gen(seed);
  for (auto& b : out)
    b = static_cast<std::byte>(gen());
  return out;
}

inline VirtualPath path(std::string_view text) {
  return *VirtualPath::resolve(VirtualPath(), text);
}

/// Writes `data` through write() in `chunk`-byte pieces and commits.
inline core::Task<core::Result<void>> upload(Filesystem* fs, VirtualPath p,
                                             std::vector<std::byte> data, std::size_t chunk) {
  auto file = co_await fs->open_write(p, WriteMode::replace, 0);
  if (!file)
    co_return core::unexpected(file.error());
  for (std::size_t at = 0; at < data.size(); at += chunk) {
    auto piece = std::span<const std::byte>(data).subspan(at, std::min(chunk, data.size() - at));
    auto w = co_await (*file)->write(piece);
    if (!w)
      co_return w;
  }
  co_return co_await (*file)->commit();
}

inline core::Task<core::Result<std::vector<std::byte>>> download(Filesystem* fs, VirtualPath p) {
  auto file = co_await fs->open_read(p, 0);
  if (!file)
    co_return core::unexpected(file.error());
  std::vector<std::byte> out;
  std::vector<std::byte> buf(256u << 10);
  for (;;) {
    auto n = co_await (*file)->read(buf);
    if (!n)
      co_return core::unexpected(n.error());
    if (*n == 0)
      break;
    out.insert(out.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
  }
  co_return out;
}

template <class T> core::Task<void> store(core::Task<T> task, std::optional<T>* out) {
  out->emplace(co_await std::move(task));
}

class S3FsTest : public ::testing::Test {
protected:
  /// Runs `task` on the test's loop (one loop: the HTTP client keeps its
  /// connections per loop) until the loop is idle, spawned work included.
  template <class T> T run_task(core::Task<T> task) {
    std::optional<T> out;
    ctx_.restart();
    asio::co_spawn(ctx_, store(std::move(task), &out), asio::detached);
    ctx_.run();
    if (!out)
      throw std::logic_error("the task did not finish");
    return std::move(*out);
  }

  void SetUp() override {
    const char* env_file = std::getenv("BERTH_TEST_S3_ENV");
    if (env_file == nullptr)
      FAIL() << "BERTH_TEST_S3_ENV is not set: the s3 ctest label runs these against radosgw";
    auto env = read_env(env_file);
    profile_.endpoint = env["BERTH_TEST_S3_ENDPOINT"];
    profile_.region = env["BERTH_TEST_S3_REGION"];
    profile_.access_key = env["BERTH_TEST_S3_ACCESS_KEY"];
    profile_.secret_key = env["BERTH_TEST_S3_SECRET_KEY"];
    profile_.path_style = true;
    std::random_device random;
    bucket_ = env["BERTH_TEST_S3_BUCKET"] + "-fs-" + std::to_string(random() % 1000000000);
    ASSERT_EQ(tool("create"), "ok");
    client_ = std::make_shared<Client>(profile_, bucket_);
    budget_ = std::make_shared<MemoryBudget>(kPart * 5);
    fs_ = open_fs(budget_);
  }

  std::unique_ptr<Filesystem> open_fs(std::shared_ptr<MemoryBudget> budget) {
    S3FsOptions o;
    o.client = client_;
    o.prefix = "homes/alice";
    o.budget = std::move(budget);
    o.part_size = kPart;
    o.upload_concurrency = 4;
    o.spool = spool_;
    return open_s3_fs(std::move(o));
  }

  std::string tool(std::string op, std::string extra = {}) {
    std::vector<std::string> args{
        op, profile_.endpoint, profile_.region, profile_.access_key, profile_.secret_key, bucket_};
    if (!extra.empty())
      args.push_back(extra);
    return boto3(args);
  }

  /// Puts a small object at home path `rel` ("a/b") directly.
  void put_raw(const std::string& rel, std::string_view text) {
    auto bytes = std::as_bytes(std::span(text.data(), text.size()));
    auto key = "homes/alice/" + rel;
    auto r = run_task(client_->put(key, bytes, Metadata{}));
    ASSERT_TRUE(r) << r.error().message();
  }

  asio::io_context ctx_;
  core::S3Profile profile_;
  std::string bucket_;
  std::shared_ptr<Client> client_;
  std::shared_ptr<MemoryBudget> budget_;
  std::shared_ptr<SpoolSpace> spool_; ///< Null unless a test sets one before open_fs().
  std::unique_ptr<Filesystem> fs_;
};

} // namespace berth::vfs::s3
