#include "vfs/s3/request.hpp"

#include "vfs/errc.hpp"
#include "vfs/s3/sigv4.hpp"
#include "vfs/s3/xml.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <random>
#include <span>

namespace berth::vfs::s3 {
namespace {

using namespace std::chrono_literals;

constexpr std::chrono::milliseconds kBackoffFirst = 100ms;
constexpr std::chrono::milliseconds kBackoffMax = 2s;
/// The longest error body kept from a streamed GET's refusal.
constexpr std::size_t kMaxErrorBody = 64u << 10;

struct Endpoint {
  std::string scheme;
  std::string authority; ///< host[:port], the default port left out as libcurl's Host has it
};

Endpoint split_endpoint(std::string_view e) {
  Endpoint ep;
  auto sep = e.find("://");
  if (sep == std::string_view::npos) {
    ep.scheme = "https";
  } else {
    ep.scheme = std::string(e.substr(0, sep));
    std::transform(ep.scheme.begin(), ep.scheme.end(), ep.scheme.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    e.remove_prefix(sep + 3);
  }
  e = e.substr(0, e.find('/'));
  if ((ep.scheme == "http" && e.ends_with(":80")) || (ep.scheme == "https" && e.ends_with(":443")))
    e = e.substr(0, e.rfind(':'));
  ep.authority = std::string(e);
  return ep;
}

net::HttpRequest build_request(const Client& c, const Call& call) {
  const core::S3Profile& p = c.profile();
  const Endpoint ep = split_endpoint(p.endpoint);
  std::string host;
  std::string path;
  if (p.path_style) {
    host = ep.authority;
    path = "/" + uri_encode(c.bucket(), true);
    if (!call.key.empty())
      path += "/" + uri_encode(call.key, false);
  } else {
    host = c.bucket() + "." + ep.authority;
    path = "/" + uri_encode(call.key, false);
  }
  const std::string query = canonical_query(call.query);
  const SignInput in{call.method, host, path, query, call.headers, call.payload_sha256};
  net::HttpRequest req;
  req.method = call.method;
  req.url = ep.scheme + "://" + host + path;
  if (!query.empty())
    req.url += "?" + query;
  req.headers = call.headers;
  for (auto& h : sign_v4(in, p, std::chrono::system_clock::now()))
    req.headers.push_back(std::move(h));
  req.body = call.body;
  req.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(p.request_timeout);
  req.connect_timeout = std::min<std::chrono::milliseconds>(req.timeout, 10s);
  req.ca_file = p.ca_file.string();
  req.max_response_body = call.max_response_body;
  return req;
}

bool should_retry(const Sent& s, Retry policy) {
  if (s.ec)
    return unsent(s.ec) || (policy == Retry::idempotent && s.ec.category() == net::http_category());
  return policy == Retry::idempotent && server_busy(s.response);
}

std::string where(const Client& c, const Call& call) {
  return call.key.empty() ? c.bucket() : c.bucket() + "/" + call.key;
}

} // namespace

const std::string& empty_sha256() {
  static const std::string hash = sha256_hex({});
  return hash;
}

core::Task<Sent> attempt(const Client& c, const Call& call, std::size_t window) {
  net::HttpRequest req = build_request(c, call);
  auto& http = net::HttpClient::of(co_await asio::this_coro::executor);
  Sent s;
  if (window == 0) {
    auto r = co_await http.perform(std::move(req));
    if (r)
      s.response = std::move(*r);
    else
      s.ec = r.error();
    co_return s;
  }
  // A streamed GET has no deadline for the whole body (a client may take
  // hours to read it); each read has one instead (ObjectReader).
  req.timeout = std::chrono::milliseconds(0);
  auto r = co_await http.open(std::move(req), window);
  if (!r) {
    s.ec = r.error();
    co_return s;
  }
  s.response = (*r)->response();
  if (s.response.status < 300) {
    s.reader = std::move(*r);
    co_return s;
  }
  std::array<std::byte, 4096> buf{};
  while (s.response.body.size() < kMaxErrorBody) {
    const std::span<std::byte> into(buf);
    auto n = co_await (*r)->read_some(into);
    if (!n || *n == 0)
      break;
    s.response.body.append(reinterpret_cast<const char*>(buf.data()), *n);
  }
  co_return s;
}

bool unsent(const std::error_code& ec) {
  return ec.category() == net::http_category() &&
         (ec.value() == CURLE_COULDNT_CONNECT || ec.value() == CURLE_COULDNT_RESOLVE_HOST ||
          ec.value() == CURLE_COULDNT_RESOLVE_PROXY);
}

bool server_busy(const net::HttpResponse& r) {
  // 503 SlowDown, 500 InternalError, 502/504 from a proxy in front; 429 from
  // some S3-compatible stores.
  return r.status >= 500 || r.status == 429;
}

core::Task<void> backoff(int n) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  auto ceiling = std::min<std::chrono::milliseconds>(kBackoffFirst * (1 << (n - 1)), kBackoffMax);
  std::uniform_int_distribution<std::int64_t> pick(ceiling.count() / 2, ceiling.count());
  asio::steady_timer timer(co_await asio::this_coro::executor,
                           std::chrono::milliseconds(pick(rng)));
  co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
}

std::error_code refuse(const Client& c, const Call& call, const net::HttpResponse& r) {
  auto parsed = xml::parse_error(r.body);
  xml::Error e = parsed ? *parsed : xml::Error{};
  if (e.request_id.empty())
    if (const std::string* id = r.header("x-amz-request-id"))
      e.request_id = *id;
  Errc mapped = Errc::io_error;
  if (r.status == 404)
    mapped = Errc::not_found;
  else if (r.status == 403)
    mapped = Errc::permission_denied;
  else if (r.status == 412)
    mapped = Errc::exists;
  else if (server_busy(r))
    mapped = Errc::unavailable;
  const bool quiet =
      mapped == Errc::not_found && (call.op == "HeadObject" || call.op == "GetObject");
  const auto level = quiet ? spdlog::level::debug : spdlog::level::warn;
  spdlog::log(level, "s3: {} {} refused: HTTP {} {} \"{}\" (request id {})", call.op,
              where(c, call), r.status, e.code.empty() ? "-" : e.code, e.message,
              e.request_id.empty() ? "-" : e.request_id);
  return make_error_code(mapped);
}

std::error_code unanswered(const Client& c, const Call& call, const std::error_code& ec) {
  spdlog::warn("s3: {} {} failed: {} did not answer: {}", call.op, where(c, call),
               c.profile().endpoint, ec.message());
  return make_error_code(Errc::unavailable);
}

core::Task<core::Result<Sent>> send(const Client& c, const Call& call, std::size_t window) {
  Sent s;
  for (int n = 1;; ++n) {
    s = co_await attempt(c, call, window);
    if (n >= kAttempts || !should_retry(s, call.retry))
      break;
    spdlog::debug("s3: {} {}: try {} failed ({}), retrying", call.op, where(c, call), n,
                  s.ec ? s.ec.message() : std::to_string(s.response.status));
    co_await backoff(n);
  }
  if (s.ec && s.ec.category() == net::http_category())
    co_return core::unexpected(unanswered(c, call, s.ec));
  if (s.ec) {
    spdlog::warn("s3: {} {} failed: {}", call.op, where(c, call), s.ec.message());
    co_return core::unexpected(Errc::io_error);
  }
  if (server_busy(s.response))
    co_return core::unexpected(refuse(c, call, s.response));
  co_return std::move(s);
}

core::Task<core::Result<net::HttpResponse>> exchange(const Client& c, const Call& call,
                                                     Accept accept) {
  auto s = co_await send(c, call);
  if (!s)
    co_return core::unexpected(s.error());
  const long status = s->response.status;
  const bool good =
      status == 200 || (accept == Accept::gone_too && (status == 204 || status == 404));
  if (!good)
    co_return core::unexpected(refuse(c, call, s->response));
  co_return std::move(s->response);
}

std::error_code malformed(const Client& c, const Call& call, const std::error_code& ec) {
  spdlog::warn("s3: {} {}: unreadable reply: {}", call.op, where(c, call), ec.message());
  return make_error_code(Errc::io_error);
}

} // namespace berth::vfs::s3
