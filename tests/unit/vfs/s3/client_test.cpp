#include "vfs/s3/client.hpp"

#include "net/http_client.hpp"
#include "support/fault_front.hpp"
#include "support/run_task.hpp"
#include "vfs/errc.hpp"
#include "vfs/s3/request.hpp"
#include "vfs/s3/sigv4.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/this_coro.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <span>
#include <string>
#include <vector>

// Tests of vfs::s3::Client against a real Ceph radosgw (ctest label "s3"): the
// ctest fixture starts one and names its env file in BERTH_TEST_S3_ENV.

namespace {

using namespace berth;
using namespace berth::vfs::s3;
using berth::test::run_task;

std::map<std::string, std::string> read_env_file(const std::string& path) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq != std::string::npos && !line.starts_with("#"))
      out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

std::vector<std::byte> random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> out(n);
  for (auto& b : out)
    b = static_cast<std::byte>(rng());
  return out;
}

std::span<const std::byte> bytes_of(const std::string& s) {
  return std::as_bytes(std::span(s));
}

/// A signed request outside the client (bucket creation is no client call).
core::Task<long> signed_request(core::S3Profile p, std::string method, std::string path) {
  const std::string host = p.endpoint.substr(p.endpoint.find("://") + 3);
  const std::string sha = sha256_hex({});
  const SignInput in{method, host, path, "", {}, sha};
  net::HttpRequest req;
  req.method = method;
  req.url = p.endpoint + path;
  req.headers = sign_v4(in, p, std::chrono::system_clock::now());
  auto& http = net::HttpClient::of(co_await asio::this_coro::executor);
  auto r = co_await http.perform(std::move(req));
  co_return r ? r->status : -1;
}

/// Every byte of `reader`, read `chunk` at a time.
core::Task<core::Result<std::string>> read_all(std::unique_ptr<ObjectReader> reader,
                                               std::size_t chunk) {
  std::string out;
  std::vector<std::byte> buf(chunk);
  for (;;) {
    const std::span<std::byte> into(buf);
    auto n = co_await reader->read_some(into);
    if (!n)
      co_return core::unexpected(n.error());
    if (*n == 0)
      break;
    out.append(reinterpret_cast<const char*>(buf.data()), *n);
  }
  co_return out;
}

core::Task<core::Result<std::string>> get_all(Client& c, std::string key, std::uint64_t offset,
                                              std::optional<std::uint64_t> length,
                                              std::uint64_t* object_size = nullptr) {
  auto reader = co_await c.get(std::move(key), offset, length, 64 * 1024);
  if (!reader)
    co_return core::unexpected(reader.error());
  if (object_size)
    *object_size = (*reader)->object_size();
  auto all = read_all(std::move(*reader), 10'000);
  co_return co_await std::move(all);
}

class S3Client : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    const char* env = std::getenv("BERTH_TEST_S3_ENV");
    if (!env)
      return;
    auto vars = read_env_file(env);
    profile_.endpoint = vars["BERTH_TEST_S3_ENDPOINT"];
    profile_.access_key = vars["BERTH_TEST_S3_ACCESS_KEY"];
    profile_.secret_key = vars["BERTH_TEST_S3_SECRET_KEY"];
    profile_.region = vars["BERTH_TEST_S3_REGION"];
    profile_.request_timeout = std::chrono::seconds(30);
    std::random_device rd;
    bucket_ = vars["BERTH_TEST_S3_BUCKET"] + "-client-" + std::to_string(rd() % 1'000'000'000);
    bucket_status_ = run_task(signed_request(profile_, "PUT", "/" + bucket_));
  }

  void SetUp() override {
    // A run without radosgw fails: these tests never pass by not running.
    if (!std::getenv("BERTH_TEST_S3_ENV"))
      FAIL() << "radosgw was not started: BERTH_TEST_S3_ENV is unset (run these tests "
                "through ctest -L s3, whose fixture starts one)";
    ASSERT_EQ(bucket_status_, 200) << "creating bucket " << bucket_ << " at " << profile_.endpoint;
  }

  Client client() const { return Client(profile_, bucket_); }

  static inline core::S3Profile profile_;
  static inline std::string bucket_;
  static inline long bucket_status_ = 0;
};

TEST_F(S3Client, PutHeadGetAreByteExact) {
  Client c = client();
  const auto data = random_bytes(3 * 1024 * 1024 + 17, 1);
  auto etag = run_task(c.put("obj/data.bin", data, Metadata{{"mtime", "1700000000"}}));
  ASSERT_TRUE(etag) << etag.error().message();
  EXPECT_EQ(etag->size(), 32u) << *etag; // an MD5, quotes removed

  auto info = run_task(c.head("obj/data.bin"));
  ASSERT_TRUE(info) << info.error().message();
  EXPECT_EQ(info->size, data.size());
  EXPECT_EQ(info->etag, *etag);
  EXPECT_EQ(info->metadata, (Metadata{{"mtime", "1700000000"}}));
  const auto age = std::chrono::system_clock::now() - info->last_modified;
  EXPECT_LT(std::chrono::abs(age), std::chrono::hours(1));

  const std::string expected(reinterpret_cast<const char*>(data.data()), data.size());
  std::uint64_t size = 0;
  auto all = run_task(get_all(c, "obj/data.bin", 0, std::nullopt, &size));
  ASSERT_TRUE(all) << all.error().message();
  EXPECT_TRUE(*all == expected);
  EXPECT_EQ(size, data.size());

  auto tail = run_task(get_all(c, "obj/data.bin", 1'000'001, std::nullopt, &size));
  ASSERT_TRUE(tail);
  EXPECT_TRUE(*tail == expected.substr(1'000'001));
  EXPECT_EQ(size, data.size()); // the whole object's, not the range's

  auto middle = run_task(get_all(c, "obj/data.bin", 12'345, 100'000));
  ASSERT_TRUE(middle);
  EXPECT_TRUE(*middle == expected.substr(12'345, 100'000));

  auto last = run_task(get_all(c, "obj/data.bin", data.size() - 1, 1));
  ASSERT_TRUE(last);
  EXPECT_TRUE(*last == expected.substr(data.size() - 1));

  // offset == size: an empty read with the size, not an error; so is past the end.
  for (std::uint64_t offset : {std::uint64_t{data.size()}, std::uint64_t{data.size() + 10}}) {
    size = 0;
    auto none = run_task(get_all(c, "obj/data.bin", offset, std::nullopt, &size));
    ASSERT_TRUE(none) << offset << ": " << none.error().message();
    EXPECT_EQ(*none, "");
    EXPECT_EQ(size, data.size());
  }
  auto zero = run_task(get_all(c, "obj/data.bin", 5, 0, &size));
  ASSERT_TRUE(zero);
  EXPECT_EQ(*zero, "");
  EXPECT_EQ(size, data.size());
}

TEST_F(S3Client, EmptyObjectAndConditionalPut) {
  Client c = client();
  const std::string nothing;
  ASSERT_TRUE(run_task(c.put("obj/empty", bytes_of(nothing), {})));
  std::uint64_t size = 99;
  auto all = run_task(get_all(c, "obj/empty", 0, std::nullopt, &size));
  ASSERT_TRUE(all) << all.error().message();
  EXPECT_EQ(*all, "");
  EXPECT_EQ(size, 0u);

  const std::string first = "first";
  const std::string second = "second";
  ASSERT_TRUE(run_task(c.put("obj/once", bytes_of(first), {}, true)));
  auto again = run_task(c.put("obj/once", bytes_of(second), {}, true));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), vfs::Errc::exists);
  auto kept = run_task(get_all(c, "obj/once", 0, std::nullopt));
  ASSERT_TRUE(kept);
  EXPECT_EQ(*kept, first);
}

TEST_F(S3Client, ListsWithDelimiterAndOddKeys) {
  Client c = client();
  const std::string x = "x";
  const std::vector<std::string> keys = {
      "list/a",     "list/a&b <x>+ y%2F'\"", "list/b",          "list/sub/c",
      "list/sub/d", "list/tab\there",        "list/caf\xC3\xA9"};
  for (const auto& k : keys)
    ASSERT_TRUE(run_task(c.put(k, bytes_of(x), {}))) << k;
  auto page = run_task(c.list("list/", "/", ""));
  ASSERT_TRUE(page) << page.error().message();
  std::vector<std::string> got;
  for (const auto& o : page->objects) {
    got.push_back(o.key);
    EXPECT_EQ(o.size, 1u);
    EXPECT_EQ(o.etag.size(), 32u);
  }
  const std::vector<std::string> files = {"list/a", "list/a&b <x>+ y%2F'\"", "list/b",
                                          "list/caf\xC3\xA9", "list/tab\there"};
  EXPECT_EQ(got, files);
  EXPECT_EQ(page->prefixes, std::vector<std::string>{"list/sub/"});
  EXPECT_EQ(page->next_token, "");

  auto all = run_task(c.list("list/", "", ""));
  ASSERT_TRUE(all);
  EXPECT_EQ(all->objects.size(), keys.size());
  EXPECT_TRUE(all->prefixes.empty());

  auto none = run_task(c.list("nothing-here/", "/", ""));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->objects.empty());
  EXPECT_TRUE(none->prefixes.empty());
}

core::Task<void> put_range(Client* c, int first, int last, int step, int* failures) {
  const std::string body = "k";
  for (int i = first; i < last; i += step) {
    char name[32];
    std::snprintf(name, sizeof name, "many/%05d", i);
    // Named arguments, no temporaries, in a co_await (GCC 12; STYLE.md §4).
    std::string key = name;
    const auto bytes = bytes_of(body);
    Metadata none;
    auto r = co_await c->put(std::move(key), bytes, std::move(none));
    if (!r)
      ++*failures;
  }
}

TEST_F(S3Client, ListsPageByPageAndRemovesMany) {
  Client c = client();
  constexpr int kKeys = 2500;
  int failures = 0;
  {
    asio::io_context ctx;
    for (int w = 0; w < 16; ++w)
      asio::co_spawn(ctx, put_range(&c, w, kKeys, 16, &failures), asio::detached);
    ctx.run();
  }
  ASSERT_EQ(failures, 0);

  std::vector<std::string> keys;
  std::vector<std::size_t> sizes;
  std::string token;
  for (int page = 0; page < 10; ++page) {
    auto got = run_task(c.list("many/", "/", token, 1000));
    ASSERT_TRUE(got) << got.error().message();
    sizes.push_back(got->objects.size());
    for (const auto& o : got->objects)
      keys.push_back(o.key);
    token = got->next_token;
    if (token.empty())
      break;
  }
  EXPECT_EQ(sizes, (std::vector<std::size_t>{1000, 1000, 500}));
  ASSERT_EQ(keys.size(), std::size_t{kKeys});
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
  EXPECT_EQ(keys.front(), "many/00000");
  EXPECT_EQ(keys.back(), "many/02499");

  for (std::size_t i = 0; i < keys.size(); i += 1000) {
    std::vector<std::string> batch(
        keys.begin() + static_cast<std::ptrdiff_t>(i),
        keys.begin() + static_cast<std::ptrdiff_t>(std::min(i + 1000, keys.size())));
    auto r = run_task(c.remove_many(batch));
    ASSERT_TRUE(r) << r.error().message();
  }
  auto after = run_task(c.list("many/", "", ""));
  ASSERT_TRUE(after);
  EXPECT_TRUE(after->objects.empty());
  // Keys already gone are no failure; more than 1000 a call is refused.
  const std::vector<std::string> gone = {"many/00001", "many/never"};
  EXPECT_TRUE(run_task(c.remove_many(gone)));
  EXPECT_FALSE(run_task(c.remove_many(std::vector<std::string>(1001, "k"))));
}

TEST_F(S3Client, CopiesKeepingOrReplacingMetadata) {
  Client c = client();
  const std::string body = "copy me & keep me";
  ASSERT_TRUE(run_task(c.put("copy/src & 1", bytes_of(body), Metadata{{"mtime", "100"}})));
  ASSERT_TRUE(run_task(c.copy("copy/src & 1", "copy/kept")));
  ASSERT_TRUE(run_task(c.copy("copy/src & 1", "copy/replaced", Metadata{{"mtime", "200"}})));
  auto kept = run_task(c.head("copy/kept"));
  auto replaced = run_task(c.head("copy/replaced"));
  ASSERT_TRUE(kept && replaced);
  EXPECT_EQ(kept->metadata, (Metadata{{"mtime", "100"}}));
  EXPECT_EQ(replaced->metadata, (Metadata{{"mtime", "200"}}));
  auto data = run_task(get_all(c, "copy/replaced", 0, std::nullopt));
  ASSERT_TRUE(data);
  EXPECT_EQ(*data, body);
  auto missing = run_task(c.copy("copy/none", "copy/x"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), vfs::Errc::not_found);
}

TEST_F(S3Client, MultipartUploadWithCopiedPart) {
  Client c = client();
  const auto part1 = random_bytes(5 * 1024 * 1024, 2);
  const auto source = random_bytes(300'000, 3);
  ASSERT_TRUE(run_task(c.put("mp/source", source, {})));

  auto id = run_task(c.create_multipart("mp/target", Metadata{{"mtime", "77"}}));
  ASSERT_TRUE(id) << id.error().message();
  auto e1 = run_task(c.upload_part("mp/target", *id, 1, part1));
  ASSERT_TRUE(e1) << e1.error().message();
  auto e2 = run_task(c.upload_part_copy("mp/target", *id, 2, "mp/source", 1000, 250'999));
  ASSERT_TRUE(e2) << e2.error().message();

  auto parts = run_task(c.list_parts("mp/target", *id));
  ASSERT_TRUE(parts) << parts.error().message();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].number, 1);
  EXPECT_EQ((*parts)[0].etag, *e1);
  EXPECT_EQ((*parts)[0].size, part1.size());
  EXPECT_EQ((*parts)[1].number, 2);
  EXPECT_EQ((*parts)[1].etag, *e2);
  EXPECT_EQ((*parts)[1].size, 250'000u);

  // Nothing is visible before completion.
  auto before = run_task(c.head("mp/target"));
  ASSERT_FALSE(before);
  EXPECT_EQ(before.error(), vfs::Errc::not_found);

  ASSERT_TRUE(run_task(c.complete_multipart("mp/target", *id, *parts)));
  std::string expected(reinterpret_cast<const char*>(part1.data()), part1.size());
  expected.append(reinterpret_cast<const char*>(source.data()) + 1000, 250'000);
  auto all = run_task(get_all(c, "mp/target", 0, std::nullopt));
  ASSERT_TRUE(all);
  EXPECT_TRUE(*all == expected);
  auto info = run_task(c.head("mp/target"));
  ASSERT_TRUE(info);
  EXPECT_EQ(info->metadata, (Metadata{{"mtime", "77"}}));
  // The ETag a completed upload gets is the one complete_multipart's retry
  // recognises an earlier try by.
  EXPECT_EQ(std::optional<std::string>(info->etag), multipart_etag(*parts));
}

TEST_F(S3Client, AbortedMultipartLeavesNothing) {
  Client c = client();
  const std::string body = "part";
  auto id = run_task(c.create_multipart("mp/aborted", {}));
  ASSERT_TRUE(id);
  ASSERT_TRUE(run_task(c.upload_part("mp/aborted", *id, 1, bytes_of(body))));
  ASSERT_TRUE(run_task(c.abort_multipart("mp/aborted", *id)));
  auto parts = run_task(c.list_parts("mp/aborted", *id));
  ASSERT_FALSE(parts);
  EXPECT_EQ(parts.error(), vfs::Errc::not_found);
  EXPECT_TRUE(run_task(c.abort_multipart("mp/aborted", *id))); // an unknown id: success
  auto head = run_task(c.head("mp/aborted"));
  ASSERT_FALSE(head);
  EXPECT_EQ(head.error(), vfs::Errc::not_found);
  const std::vector<Part> none_uploaded = {{1, "0123456789abcdef0123456789abcdef", 0}};
  // AWS answers NoSuchUpload (not_found); radosgw 500 "This multipart
  // completion is already in progress" (unavailable after the retries).
  auto done = run_task(c.complete_multipart("mp/aborted", *id, none_uploaded));
  ASSERT_FALSE(done);
  EXPECT_TRUE(done.error() == vfs::Errc::not_found || done.error() == vfs::Errc::unavailable)
      << done.error().message();
  head = run_task(c.head("mp/aborted"));
  ASSERT_FALSE(head);
  EXPECT_EQ(head.error(), vfs::Errc::not_found);
}

TEST_F(S3Client, RemovesAndMapsMissingKeys) {
  Client c = client();
  const std::string body = "bye";
  ASSERT_TRUE(run_task(c.put("rm/one", bytes_of(body), {})));
  ASSERT_TRUE(run_task(c.remove("rm/one")));
  EXPECT_TRUE(run_task(c.remove("rm/one"))); // gone already: success
  auto head = run_task(c.head("rm/one"));
  ASSERT_FALSE(head);
  EXPECT_EQ(head.error(), vfs::Errc::not_found);
  auto get = run_task(c.get("rm/one", 0, std::nullopt, 4096));
  ASSERT_FALSE(get);
  EXPECT_EQ(get.error(), vfs::Errc::not_found);
}

TEST_F(S3Client, ChecksBuckets) {
  EXPECT_TRUE(run_task(client().check_bucket()));
  Client missing(profile_, bucket_ + "-missing");
  auto r = run_task(missing.check_bucket());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), vfs::Errc::not_found);
  auto list = run_task(missing.list("", "/", ""));
  ASSERT_FALSE(list);
  EXPECT_EQ(list.error(), vfs::Errc::not_found);
}

TEST_F(S3Client, WrongSecretIsPermissionDenied) {
  core::S3Profile wrong = profile_;
  wrong.secret_key += "x";
  Client c(wrong, bucket_);
  auto r = run_task(c.check_bucket());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), vfs::Errc::permission_denied);
  const std::string body = "x";
  auto put = run_task(c.put("denied", bytes_of(body), {}));
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error(), vfs::Errc::permission_denied);
}

TEST_F(S3Client, NothingListeningIsUnavailable) {
  // A port that was free a moment ago: connections are refused.
  asio::io_context ctx;
  asio::ip::tcp::acceptor a(ctx, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = a.local_endpoint().port();
  a.close();
  core::S3Profile dead = profile_;
  dead.endpoint = "http://127.0.0.1:" + std::to_string(port);
  dead.request_timeout = std::chrono::seconds(2);
  Client c(dead, bucket_);
  auto r = run_task(c.check_bucket());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), vfs::Errc::unavailable);
  auto list = run_task(c.list("", "/", ""));
  ASSERT_FALSE(list);
  EXPECT_EQ(list.error(), vfs::Errc::unavailable);
  auto id = run_task(c.create_multipart("x", {}));
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error(), vfs::Errc::unavailable);
}

TEST_F(S3Client, RefusesBadKeysAndMetadataBeforeSending) {
  Client c = client();
  const std::string body = "x";
  auto r = run_task(c.put("k", bytes_of(body), Metadata{{"mtime", "1\r\nx-amz-acl: public"}}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), vfs::Errc::invalid_name);
  r = run_task(c.put("k", bytes_of(body), Metadata{{"Bad Name", "1"}}));
  ASSERT_FALSE(r);
  r = run_task(c.put(std::string(1025, 'k'), bytes_of(body), {}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), vfs::Errc::invalid_name);
  r = run_task(c.put("", bytes_of(body), {}));
  ASSERT_FALSE(r);
}

TEST_F(S3Client, VirtualHostStyleAddressesTheBucketInTheHostName) {
  // radosgw's rgw_dns_name is "localhost": BUCKET.localhost names the bucket,
  // and libcurl resolves every *.localhost name to loopback.
  core::S3Profile vhost = profile_;
  vhost.path_style = false;
  vhost.endpoint = "http://localhost:" + profile_.endpoint.substr(profile_.endpoint.rfind(':') + 1);
  Client c(vhost, bucket_);
  ASSERT_TRUE(run_task(c.check_bucket()));
  const auto data = random_bytes(100'000, 7);
  ASSERT_TRUE(run_task(c.put("vhost/a b+c.bin", data, {})));
  auto got = run_task(get_all(c, "vhost/a b+c.bin", 0, std::nullopt));
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, std::string(reinterpret_cast<const char*>(data.data()), data.size()));
  auto page = run_task(c.list("vhost/", "/", ""));
  ASSERT_TRUE(page);
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "vhost/a b+c.bin");
  // The same object through the path-style client: one bucket, two spellings.
  Client path = client();
  auto head = run_task(path.head("vhost/a b+c.bin"));
  ASSERT_TRUE(head);
  EXPECT_EQ(head->size, data.size());
}

TEST_F(S3Client, RetriesSlowDownAndServerErrorsThenGivesUp) {
  Client direct = client();
  const auto data = random_bytes(200'000, 8);
  ASSERT_TRUE(run_task(direct.put("retry/obj", data, {})));
  const std::string want(reinterpret_cast<const char*>(data.data()), data.size());
  struct Case {
    int status;
    std::string code;
  };
  for (const Case& k : {Case{503, "SlowDown"}, Case{500, "InternalError"}, Case{502, ""}}) {
    SCOPED_TRACE(k.status);
    // Every try but the last fails: idempotent calls get through.
    {
      test::FaultFront front(profile_.endpoint, kAttempts - 1, k.status, k.code);
      core::S3Profile via = profile_;
      via.endpoint = front.endpoint();
      Client c(via, bucket_);
      auto got = run_task(get_all(c, "retry/obj", 0, std::nullopt));
      ASSERT_TRUE(got) << got.error().message();
      EXPECT_EQ(*got, want);
      EXPECT_EQ(front.refused(), kAttempts - 1);
    }
    {
      test::FaultFront front(profile_.endpoint, kAttempts - 1, k.status, k.code);
      core::S3Profile via = profile_;
      via.endpoint = front.endpoint();
      Client c(via, bucket_);
      ASSERT_TRUE(run_task(c.put("retry/put", data, {})));
      EXPECT_EQ(front.refused(), kAttempts - 1);
      auto head = run_task(direct.head("retry/put"));
      ASSERT_TRUE(head);
      EXPECT_EQ(head->size, data.size());
    }
    // Every try fails: the caller hears "unavailable" after kAttempts tries.
    {
      test::FaultFront front(profile_.endpoint, kAttempts, k.status, k.code);
      core::S3Profile via = profile_;
      via.endpoint = front.endpoint();
      Client c(via, bucket_);
      auto head = run_task(c.head("retry/obj"));
      ASSERT_FALSE(head);
      EXPECT_EQ(head.error(), vfs::Errc::unavailable);
      EXPECT_EQ(front.refused(), kAttempts);
      EXPECT_EQ(front.forwarded(), 0);
    }
  }
  // A call that is not idempotent is not sent twice: one refusal ends it.
  test::FaultFront front(profile_.endpoint, 1, 503, "SlowDown");
  core::S3Profile via = profile_;
  via.endpoint = front.endpoint();
  Client c(via, bucket_);
  auto id = run_task(c.create_multipart("retry/multi", {}));
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error(), vfs::Errc::unavailable);
  EXPECT_EQ(front.refused(), 1);
  EXPECT_EQ(front.forwarded(), 0);
}

} // namespace
