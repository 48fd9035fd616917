// net::HttpClient against a real HTTP/1.1 server on 127.0.0.1, written here
// with Asio and run on the same loop as the client (a client that blocked the
// loop would starve it and hang the test).

#include "net/http_client.hpp"

#include "core/wakeup.hpp"
#include "net/tls_context.hpp"
#include "net/types.hpp"
#include "support/temp_dir.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/read.hpp>
#include <asio/read_until.hpp>
#include <asio/ssl.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <curl/curl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <exception>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace berth::net {
namespace {

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
const std::chrono::milliseconds kPoll{10};
constexpr auto kTuple = asio::experimental::as_tuple(asio::use_awaitable);

// ASSERT_* returns, which a coroutine can not: these fail and co_return.
#define CO_ASSERT_EQ(a, b)                                                                         \
  do {                                                                                             \
    EXPECT_EQ(a, b);                                                                               \
    if ((a) != (b))                                                                                \
      co_return;                                                                                   \
  } while (false)
#define CO_ASSERT_NE(a, b)                                                                         \
  do {                                                                                             \
    EXPECT_NE(a, b);                                                                               \
    if ((a) == (b))                                                                                \
      co_return;                                                                                   \
  } while (false)

/// Byte `i` of a /big/N body.
unsigned char pattern(std::uint64_t i) {
  return static_cast<unsigned char>((i * 131u + (i >> 12)) & 0xffu);
}

struct Received {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers; // names lower-cased
  std::string body;
};

/// The server's record of what happened, shared by its coroutines.
struct Server {
  explicit Server(const asio::any_io_executor& ex)
      : acceptor(ex, Endpoint(asio::ip::address_v4::loopback(), 0)) {}
  std::string url(const std::string& target) const {
    return "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + target;
  }
  Acceptor acceptor;
  int connections = 0;
  std::vector<Received> requests;
  std::uint64_t big_sent = 0; // body bytes of /big/N written so far
  int aborted_bodies = 0;     // /big/N responses cut off by the client
  int stalls_closed = 0;      // /stall connections the client closed
};

std::string lower(std::string s) {
  for (char& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

core::Task<bool> write_all(Socket& sock, const std::string& data) {
  auto [ec, n] = co_await asio::async_write(sock, asio::buffer(data), kTuple);
  co_return !ec;
}

// GET /big/N: N pattern bytes, written 64 KiB at a time.
core::Task<bool> send_big(std::shared_ptr<Server> server, Socket& sock, std::uint64_t n) {
  std::string head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(n) + "\r\n\r\n";
  if (!co_await write_all(sock, head))
    co_return false;
  std::string chunk;
  for (std::uint64_t off = 0; off < n;) {
    std::uint64_t len = std::min<std::uint64_t>(64 * 1024, n - off);
    chunk.resize(len);
    for (std::uint64_t i = 0; i < len; ++i)
      chunk[i] = static_cast<char>(pattern(off + i));
    if (!co_await write_all(sock, chunk)) {
      ++server->aborted_bodies;
      co_return false;
    }
    off += len;
    server->big_sent = off;
  }
  co_return true;
}

// Answers one request; false: close the connection.
core::Task<bool> respond(std::shared_ptr<Server> server, Socket& sock, const Received& req) {
  auto ex = co_await asio::this_coro::executor;
  const std::string& t = req.target;
  if (t == "/hello") {
    std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Test:  Yes \r\n"
                       "Content-Length: 12\r\n\r\n";
    std::string out = req.method == "HEAD" ? head : head + "hello, world";
    co_return co_await write_all(sock, out);
  }
  if (t == "/upload") {
    std::string body = std::to_string(req.body.size());
    std::string out = "HTTP/1.1 201 Created\r\nContent-Length: " + std::to_string(body.size()) +
                      "\r\n\r\n" + body;
    co_return co_await write_all(sock, out);
  }
  if (t == "/missing") {
    std::string body = "<Error><Code>NoSuchKey</Code></Error>";
    std::string out = "HTTP/1.1 404 Not Found\r\nContent-Length: " + std::to_string(body.size()) +
                      "\r\n\r\n" + body;
    co_return co_await write_all(sock, out);
  }
  if (t == "/redirect") {
    std::string out = "HTTP/1.1 302 Found\r\nLocation: /hello\r\nContent-Length: 0\r\n\r\n";
    co_return co_await write_all(sock, out);
  }
  if (t == "/continue") {
    // An interim 100 before the final answer: its headers are not the response's.
    std::string out = "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
                      "HTTP/1.1 200 OK\r\nX-Final: 1\r\nContent-Length: 2\r\n\r\nok";
    co_return co_await write_all(sock, out);
  }
  if (t == "/stall") {
    // Never answers; notes when the client gives up and closes.
    char c;
    auto [ec, n] = co_await sock.async_read_some(asio::buffer(&c, 1), kTuple);
    if (ec)
      ++server->stalls_closed;
    co_return false;
  }
  if (t.starts_with("/echo/")) {
    asio::steady_timer pause(ex, 20ms);
    co_await pause.async_wait(kTuple);
    std::string body = req.method + " " + t;
    std::string out =
        "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    co_return co_await write_all(sock, out);
  }
  if (t.starts_with("/big/")) {
    std::uint64_t n = std::stoull(t.substr(5));
    co_return co_await send_big(server, sock, n);
  }
  std::string out = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
  co_return co_await write_all(sock, out);
}

core::Task<void> serve_connection(std::shared_ptr<Server> server, Socket sock) {
  std::string buf;
  for (;;) {
    auto [ec, n] =
        co_await asio::async_read_until(sock, asio::dynamic_buffer(buf), "\r\n\r\n", kTuple);
    if (ec)
      break;
    Received req;
    std::string head = buf.substr(0, n);
    buf.erase(0, n);
    std::size_t line_end = head.find("\r\n");
    std::string line = head.substr(0, line_end);
    std::size_t sp1 = line.find(' ');
    std::size_t sp2 = line.find(' ', sp1 + 1);
    req.method = line.substr(0, sp1);
    req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    for (std::size_t pos = line_end + 2; pos < head.size();) {
      std::size_t end = head.find("\r\n", pos);
      std::string h = head.substr(pos, end - pos);
      pos = end + 2;
      std::size_t colon = h.find(':');
      if (colon == std::string::npos)
        continue;
      std::string value = h.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      req.headers[lower(h.substr(0, colon))] = value;
    }
    if (auto it = req.headers.find("content-length"); it != req.headers.end()) {
      std::size_t len = std::stoull(it->second);
      if (buf.size() < len) {
        std::size_t have = buf.size();
        buf.resize(len);
        auto [rec, rn] =
            co_await asio::async_read(sock, asio::buffer(buf.data() + have, len - have), kTuple);
        if (rec)
          break;
      }
      req.body = buf.substr(0, len);
      buf.erase(0, len);
    }
    server->requests.push_back(req);
    if (!co_await respond(server, sock, req))
      break;
  }
}

core::Task<void> accept_loop(std::shared_ptr<Server> server) {
  for (;;) {
    auto [ec, sock] = co_await server->acceptor.async_accept(kTuple);
    if (ec)
      break;
    ++server->connections;
    co_spawn(server->acceptor.get_executor(), serve_connection(server, std::move(sock)),
             asio::detached);
  }
}

/// Runs `body` on a fresh loop with a server; the loop stops when the body
/// ends (connections libcurl keeps open are dropped with the loop).
void run_with_server(core::Task<void> (*body)(std::shared_ptr<Server>)) {
  asio::io_context ctx;
  auto server = std::make_shared<Server>(ctx.get_executor());
  co_spawn(ctx, accept_loop(server), asio::detached);
  std::exception_ptr error;
  bool finished = false;
  co_spawn(ctx, body(server), [&](std::exception_ptr e) {
    error = e;
    finished = true;
    ctx.stop();
  });
  ctx.run_for(120s);
  ASSERT_TRUE(finished) << "the test body did not finish";
  if (error)
    std::rethrow_exception(error);
}

core::Task<HttpClient*> client() {
  auto ex = co_await asio::this_coro::executor;
  co_return &HttpClient::of(ex);
}

HttpRequest get(const std::string& url) {
  HttpRequest r;
  r.url = url;
  return r;
}

// A GET of `url` (the request built outside any co_await expression).
core::Task<core::Result<HttpResponse>> fetch(HttpClient* http, const std::string& url) {
  HttpRequest req = get(url);
  co_return co_await http->perform(std::move(req));
}

core::Task<core::Result<std::unique_ptr<HttpBodyReader>>>
open_get(HttpClient* http, const std::string& url, std::size_t window) {
  HttpRequest req = get(url);
  co_return co_await http->open(std::move(req), window);
}

core::Task<void> sleep_for(const std::chrono::milliseconds& d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(kTuple);
}

// --- buffered requests --------------------------------------------------------

core::Task<void> get_body(std::shared_ptr<Server> server) {
  HttpClient* http = co_await client();
  auto r = co_await fetch(http, server->url("/hello"));
  EXPECT_TRUE(r.has_value()) << r.error().message();
  if (!r)
    co_return;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello, world");
  CO_ASSERT_NE(r->header("x-test"), nullptr);
  EXPECT_EQ(*r->header("x-test"), "Yes");
  CO_ASSERT_NE(r->header("content-type"), nullptr);
  EXPECT_EQ(*r->header("content-type"), "text/plain");
  EXPECT_EQ(r->header("X-Test"), nullptr); // names are lower case
  CO_ASSERT_EQ(server->requests.size(), 1u);
  EXPECT_EQ(server->requests[0].method, "GET");
  EXPECT_EQ(server->requests[0].headers.count("accept"), 0u);
}

TEST(HttpClient, GetReturnsStatusHeadersAndBody) {
  run_with_server(get_body);
}

core::Task<void> keep_alive(std::shared_ptr<Server> server) {
  HttpClient* http = co_await client();
  for (int i = 0; i < 3; ++i) {
    auto r = co_await fetch(http, server->url("/hello"));
    EXPECT_TRUE(r.has_value());
  }
  EXPECT_EQ(server->requests.size(), 3u);
  EXPECT_EQ(server->connections, 1); // one connection, reused
}

TEST(HttpClient, ReusesTheConnection) {
  run_with_server(keep_alive);
}

core::Task<void> head(std::shared_ptr<Server> server) {
  HttpClient* http = co_await client();
  HttpRequest req = get(server->url("/hello"));
  req.method = "HEAD";
  auto r = co_await http->perform(req);
  EXPECT_TRUE(r.has_value()) << r.error().message();
  if (!r)
    co_return;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "");
  CO_ASSERT_NE(r->header("content-length"), nullptr);
  EXPECT_EQ(*r->header("content-length"), "12");
  // The connection is still good for the next request.
  auto again = co_await fetch(http, server->url("/hello"));
  EXPECT_TRUE(again.has_value());
  if (again) {
    EXPECT_EQ(again->body, "hello, world");
  }
  EXPECT_EQ(server->connections, 1);
  CO_ASSERT_EQ(server->requests.size(), 2u);
  EXPECT_EQ(server->requests[0].method, "HEAD");
}

TEST(HttpClient, HeadHasHeadersAndNoBody) {
  run_with_server(head);
}

core::Task<void> put_body(std::shared_ptr<Server> server) {
  HttpClient* http = co_await client();
  std::vector<std::byte> data((1 << 20) + 7);
  std::mt19937 rng(19);
  for (auto& b : data)
    b = static_cast<std::byte>(rng());
  HttpRequest req = get(server->url("/upload"));
  req.method = "PUT";
  req.body = data;
  req.headers = {{"x-amz-meta-mtime", "1700000000"}, {"Content-Type", "application/octet-stream"}};
  auto r = co_await http->perform(req);
  EXPECT_TRUE(r.has_value()) << r.error().message();
  if (!r)
    co_return;
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, std::to_string(data.size()));
  CO_ASSERT_EQ(server->requests.size(), 1u);
  const Received& got = server->requests[0];
  EXPECT_EQ(got.method, "PUT");
  EXPECT_EQ(got.headers.at("content-length"), std::to_string(data.size()));
  EXPECT_EQ(got.headers.count("expect"), 0u);
  EXPECT_EQ(got.headers.count("transfer-encoding"), 0u);
  EXPECT_EQ(got.headers.at("x-amz-meta-mtime"), "1700000000");
  EXPECT_EQ(got.headers.at("content-type"), "application/octet-stream");
  CO_ASSERT_EQ(got.body.size(), data.size());
  EXPECT_TRUE(
      std::equal(data.begin(), data.end(), reinterpret_cast<const std::byte*>(got.body.data())));

  // An empty body is still a Content-Length: 0.
  HttpRequest empty = get(server->url("/upload"));
  empty.method = "PUT";
  auto e = co_await http->perform(empty);
  EXPECT_TRUE(e.has_value());
  CO_ASSERT_EQ(server->requests.size(), 2u);
  EXPECT_EQ(server->requests[1].headers.at("content-length"), "0");
  EXPECT_EQ(server->requests[1].body, "");

  // POST and DELETE carry their method; POST's body as sent, no form type.
  std::string xml = "<Delete/>";
  HttpRequest post = get(server->url("/upload"));
  post.method = "POST";
  post.body = std::as_bytes(std::span(xml));
  auto p = co_await http->perform(post);
  EXPECT_TRUE(p.has_value());
  HttpRequest del = get(server->url("/upload"));
  del.method = "DELETE";
  auto d = co_await http->perform(del);
  EXPECT_TRUE(d.has_value());
  CO_ASSERT_EQ(server->requests.size(), 4u);
  EXPECT_EQ(server->requests[2].method, "POST");
  EXPECT_EQ(server->requests[2].body, xml);
  EXPECT_EQ(server->requests[2].headers.count("content-type"), 0u);
  EXPECT_EQ(server->requests[3].method, "DELETE");
  EXPECT_EQ(server->connections, 1);
}

TEST(HttpClient, PutSendsTheBodyByteExact) {
  run_with_server(put_body);
}

core::Task<void> error_status(std::shared_ptr<Server> server) {
  HttpClient* http = co_await client();
  auto r = co_await fetch(http, server->url("/missing"));
  EXPECT_TRUE(r.has_value());
  if (r) {
    EXPECT_EQ(r->status, 404);
    EXPECT_EQ(r->body, "<Error><Code>NoSuchKey</Code></Error>");
  }
  auto redirect = co_await fetch(http, server->url("/redirect"));
  EXPECT_TRUE(redirect.has_value());
  if (redirect) {
    EXPECT_EQ(redirect->status, 302);
    CO_ASSERT_NE(redirect->header("location"), nullptr);
  }
  auto interim = co_await fetch(http, server->url("/continue"));
  EXPECT_TRUE(interim.has_value());
  if (interim) {
    EXPECT_EQ(interim->status, 200);
    EXPECT_EQ(interim->body, "ok");
    EXPECT_NE(interim->header("x-final"), nullptr);
    EXPECT_EQ(interim->header("x-interim"), nullptr);
  }
  EXPECT_EQ(server->requests.size(), 3u); // the redirect was not followed
}

TEST(HttpClient, ErrorStatusIsAResponseAndRedirectsAreNotFollowed) {
  run_with_server(error_status);
}

core::Task<void> refused(std::shared_ptr<Server> server) {
  HttpClient* http = co_await client();
  // A port that was just free: nothing listens there.
  Acceptor probe(co_await asio::this_coro::executor, Endpoint(asio::ip::address_v4::loopback(), 0));
  std::string url = "http://127.0.0.1:" + std::to_string(probe.local_endpoint().port()) + "/";
  probe.close();
  auto r = co_await fetch(http, url);
  EXPECT_FALSE(r.has_value());
  EXPECT_EQ(r.error().category(), http_category());
  EXPECT_EQ(r.error().value(), CURLE_COULDNT_CONNECT);
  EXPECT_EQ(r.error(), std::errc::connection_refused);
  EXPECT_FALSE(r.error().message().empty());
  // The loop goes on.
  auto ok = co_await fetch(http, server->url("/hello"));
  EXPECT_TRUE(ok.has_value());
}

TEST(HttpClient, ConnectionRefusedIsAnError) {
  run_with_server(refused);
}

core::Task<void> stall(std::shared_ptr<Server> server) {
  HttpClient* http = co_await client();
  HttpRequest req = get(server->url("/stall"));
  req.timeout = 300ms;
  auto start = std::chrono::steady_clock::now();
  auto r = co_await http->perform(req);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(r.has_value());
  EXPECT_EQ(r.error().category(), http_category());
  EXPECT_EQ(r.error().value(), CURLE_OPERATION_TIMEDOUT);
  EXPECT_EQ(r.error(), std::errc::timed_out);
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 5s);
  auto ok = co_await fetch(http, server->url("/hello"));
  EXPECT_TRUE(ok.has_value());
  EXPECT_EQ(server->stalls_closed, 1);
}

TEST(HttpClient, AStalledServerTimesOut) {
  run_with_server(stall);
}

core::Task<void> cancelled(std::shared_ptr<Server> server) {
  HttpClient* http = co_await client();
  HttpRequest req = get(server->url("/stall"));
  const auto patience = 200ms;
  auto r = co_await (http->perform(req) || sleep_for(patience));
  EXPECT_EQ(r.index(), 1u); // the timer won; the request was cancelled
  auto ok = co_await fetch(http, server->url("/hello"));
  EXPECT_TRUE(ok.has_value());
  for (int i = 0; i < 100 && server->stalls_closed == 0; ++i)
    co_await sleep_for(kPoll);
  EXPECT_EQ(server->stalls_closed, 1); // the aborted transfer's connection was closed
}

TEST(HttpClient, CancellingAbortsTheTransfer) {
  run_with_server(cancelled);
}

core::Task<void> too_long(std::shared_ptr<Server> server) {
  HttpClient* http = co_await client();
  HttpRequest req = get(server->url("/big/100000"));
  req.max_response_body = 65536;
  auto r = co_await http->perform(req);
  EXPECT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), std::make_error_code(std::errc::message_size));
  HttpRequest fits = get(server->url("/big/65536"));
  fits.max_response_body = 65536;
  auto f = co_await http->perform(fits);
  EXPECT_TRUE(f.has_value());
  if (f) {
    CO_ASSERT_EQ(f->body.size(), 65536u);
    for (std::size_t i = 0; i < f->body.size(); ++i)
      CO_ASSERT_EQ(static_cast<unsigned char>(f->body[i]), pattern(i));
  }
}

TEST(HttpClient, ABodyPastTheBoundIsMessageSize) {
  run_with_server(too_long);
}

// --- concurrency --------------------------------------------------------------

struct Tally {
  explicit Tally(const asio::any_io_executor& ex) : done(ex) {}
  int left = 0;
  std::vector<std::string> bodies;
  core::Wakeup done;
};

core::Task<void> one_of_many(std::string url, int i, std::shared_ptr<Tally> tally) {
  HttpClient* http = co_await client();
  auto r = co_await fetch(http, url);
  if (r && r->status == 200)
    tally->bodies[static_cast<std::size_t>(i)] = r->body;
  --tally->left;
  tally->done.notify();
}

core::Task<void> concurrent(std::shared_ptr<Server> server) {
  auto ex = co_await asio::this_coro::executor;
  constexpr int kCount = 50;
  auto tally = std::make_shared<Tally>(ex);
  tally->left = kCount;
  tally->bodies.resize(kCount);
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kCount; ++i)
    co_spawn(ex, one_of_many(server->url("/echo/" + std::to_string(i)), i, tally), asio::detached);
  while (tally->left > 0)
    co_await tally->done.wait();
  auto took = std::chrono::steady_clock::now() - start;
  for (int i = 0; i < kCount; ++i)
    EXPECT_EQ(tally->bodies[static_cast<std::size_t>(i)], "GET /echo/" + std::to_string(i));
  // Each answer waits 20 ms: one after the other they would take a second.
  EXPECT_LT(took, 800ms);
  EXPECT_GT(server->connections, 1);
  EXPECT_LE(server->connections, kCount);
}

TEST(HttpClient, FiftyConcurrentRequestsOnOneLoop) {
  run_with_server(concurrent);
}

// --- streaming ----------------------------------------------------------------

core::Task<void> stream_big(std::shared_ptr<Server> server) {
  HttpClient* http = co_await client();
  constexpr std::uint64_t kSize = 64ull << 20;
  constexpr std::size_t kWindow = 256 << 10;
  auto opened = co_await open_get(http, server->url("/big/" + std::to_string(kSize)), kWindow);
  EXPECT_TRUE(opened.has_value()) << opened.error().message();
  if (!opened)
    co_return;
  auto reader = std::move(*opened);
  EXPECT_EQ(reader->response().status, 200);
  CO_ASSERT_NE(reader->response().header("content-length"), nullptr);
  EXPECT_EQ(*reader->response().header("content-length"), std::to_string(kSize));
  std::vector<std::byte> buf(48 << 10);
  std::uint64_t total = 0;
  std::size_t most_buffered = 0;
  std::uint64_t most_ahead = 0; // what the server wrote and we had not read yet
  int reads = 0;
  const auto kPause = 2ms;
  for (;;) {
    auto n = co_await reader->read_some(buf);
    EXPECT_TRUE(n.has_value()) << n.error().message();
    if (!n || *n == 0)
      break;
    for (std::size_t i = 0; i < *n; ++i)
      if (static_cast<unsigned char>(buf[i]) != pattern(total + i)) {
        ADD_FAILURE() << "byte " << total + i << " differs";
        co_return;
      }
    total += *n;
    most_buffered = std::max(most_buffered, reader->buffered());
    // (big_sent counts whole chunks: it may trail what arrived by one.)
    if (server->big_sent > total)
      most_ahead = std::max(most_ahead, server->big_sent - total);
    EXPECT_LE(reader->buffered(), kWindow);
    // A slow consumer: a pause every 16 reads lets the window fill up.
    if (++reads % 16 == 0)
      co_await sleep_for(kPause);
  }
  EXPECT_EQ(total, kSize);
  EXPECT_LE(most_buffered, kWindow);
  EXPECT_GT(most_buffered, kWindow / 2); // the window did fill: the transfer paused
  // The rest waited in the sockets and the server, not in this process.
  EXPECT_LT(most_ahead, 24ull << 20) << most_ahead;
  auto after_end = co_await reader->read_some(buf);
  EXPECT_TRUE(after_end.has_value());
  if (after_end) {
    EXPECT_EQ(*after_end, 0u);
  }
}

TEST(HttpClient, StreamsALargeBodyWithinTheWindow) {
  run_with_server(stream_big);
}

core::Task<void> drop_reader(std::shared_ptr<Server> server) {
  HttpClient* http = co_await client();
  {
    auto opened =
        co_await open_get(http, server->url("/big/" + std::to_string(32 << 20)), 256 << 10);
    EXPECT_TRUE(opened.has_value());
    if (!opened)
      co_return;
    auto reader = std::move(*opened);
    std::vector<std::byte> buf(64 << 10);
    std::uint64_t total = 0;
    while (total < (1u << 20)) {
      auto n = co_await reader->read_some(buf);
      EXPECT_TRUE(n.has_value());
      if (!n || *n == 0)
        break;
      total += *n;
    }
    EXPECT_GE(total, 1u << 20);
  } // the reader goes mid-body
  auto ok = co_await fetch(http, server->url("/hello"));
  EXPECT_TRUE(ok.has_value());
  if (ok) {
    EXPECT_EQ(ok->body, "hello, world");
  }
  for (int i = 0; i < 300 && server->aborted_bodies == 0; ++i)
    co_await sleep_for(kPoll);
  EXPECT_EQ(server->aborted_bodies, 1); // its connection was closed, not left hanging
  EXPECT_EQ(server->connections, 2);
  // A reader of a finished transfer, dropped unread, is fine too.
  {
    auto opened = co_await open_get(http, server->url("/hello"), 16 << 10);
    EXPECT_TRUE(opened.has_value());
  }
  auto again = co_await fetch(http, server->url("/hello"));
  EXPECT_TRUE(again.has_value());
}

TEST(HttpClient, DroppingAReaderMidBodyAbortsOnlyThatTransfer) {
  run_with_server(drop_reader);
}

core::Task<void> stream_error_status(std::shared_ptr<Server> server) {
  HttpClient* http = co_await client();
  auto opened = co_await open_get(http, server->url("/missing"), 16 << 10);
  EXPECT_TRUE(opened.has_value());
  if (!opened)
    co_return;
  auto reader = std::move(*opened);
  EXPECT_EQ(reader->response().status, 404);
  std::string body;
  std::vector<std::byte> buf(7);
  for (;;) {
    auto n = co_await reader->read_some(buf);
    EXPECT_TRUE(n.has_value());
    if (!n || *n == 0)
      break;
    body.append(reinterpret_cast<const char*>(buf.data()), *n);
  }
  EXPECT_EQ(body, "<Error><Code>NoSuchKey</Code></Error>");
  // open() of a server that never answers times out like perform().
  HttpRequest req = get(server->url("/stall"));
  req.timeout = 200ms;
  auto stalled = co_await http->open(req, 16 << 10);
  EXPECT_FALSE(stalled.has_value());
  EXPECT_EQ(stalled.error(), std::errc::timed_out);
}

TEST(HttpClient, OpenReadsAnErrorBodyAndTimesOut) {
  run_with_server(stream_error_status);
}

// --- TLS ----------------------------------------------------------------------

struct TlsServer {
  TlsServer(const asio::any_io_executor& ex, const std::filesystem::path& dir)
      : acceptor(ex, Endpoint(asio::ip::address_v4::loopback(), 0)),
        ssl(asio::ssl::context::tls_server) {
    ssl.use_certificate_chain_file((dir / "certificate.pem").string());
    ssl.use_private_key_file((dir / "private-key.pem").string(), asio::ssl::context::pem);
  }
  Acceptor acceptor;
  asio::ssl::context ssl;
  std::filesystem::path ca_file;
  int handshakes = 0;
};

core::Task<void> serve_tls_connection(std::shared_ptr<TlsServer> server, Socket sock) {
  asio::ssl::stream<Socket> tls(std::move(sock), server->ssl);
  auto [hec] = co_await tls.async_handshake(asio::ssl::stream_base::server, kTuple);
  if (hec)
    co_return;
  ++server->handshakes;
  std::string buf;
  auto [ec, n] =
      co_await asio::async_read_until(tls, asio::dynamic_buffer(buf), "\r\n\r\n", kTuple);
  if (ec)
    co_return;
  std::string out = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret";
  co_await asio::async_write(tls, asio::buffer(out), kTuple);
}

core::Task<void> tls_accept_loop(std::shared_ptr<TlsServer> server) {
  for (;;) {
    auto [ec, sock] = co_await server->acceptor.async_accept(kTuple);
    if (ec)
      break;
    co_spawn(server->acceptor.get_executor(), serve_tls_connection(server, std::move(sock)),
             asio::detached);
  }
}

core::Task<void> https(std::shared_ptr<TlsServer> server) {
  HttpClient* http = co_await client();
  std::string url =
      "https://127.0.0.1:" + std::to_string(server->acceptor.local_endpoint().port()) + "/x";
  // Trusted through ca_file: the server's own (self-signed) certificate.
  HttpRequest trusted = get(url);
  trusted.ca_file = server->ca_file.string();
  auto r = co_await http->perform(trusted);
  EXPECT_TRUE(r.has_value()) << r.error().message();
  if (r) {
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "secret");
  }
  // Without it, the system's anchors do not know that certificate.
  auto untrusted = co_await fetch(http, url);
  EXPECT_FALSE(untrusted.has_value());
  EXPECT_EQ(untrusted.error().category(), http_category());
  EXPECT_EQ(untrusted.error().value(), CURLE_PEER_FAILED_VERIFICATION);
  EXPECT_EQ(server->handshakes, 1);
}

TEST(HttpClient, HttpsTrustsTheRequestsCaFile) {
  test::TempDir dir;
  TlsSettings settings;
  settings.generated_dir = dir.path();
  settings.names = {"127.0.0.1"};
  TlsContext::create(settings); // writes a self-signed certificate for 127.0.0.1
  asio::io_context ctx;
  auto server = std::make_shared<TlsServer>(ctx.get_executor(), dir.path());
  server->ca_file = dir.path() / "certificate.pem";
  co_spawn(ctx, tls_accept_loop(server), asio::detached);
  std::exception_ptr error;
  bool finished = false;
  co_spawn(ctx, https(server), [&](std::exception_ptr e) {
    error = e;
    finished = true;
    ctx.stop();
  });
  ctx.run_for(60s);
  ASSERT_TRUE(finished);
  if (error)
    std::rethrow_exception(error);
}

TEST(HttpClient, OneClientPerLoop) {
  asio::io_context a;
  asio::io_context b;
  EXPECT_EQ(&HttpClient::of(a.get_executor()), &HttpClient::of(a.get_executor()));
  EXPECT_NE(&HttpClient::of(a.get_executor()), &HttpClient::of(b.get_executor()));
}

} // namespace
} // namespace berth::net
