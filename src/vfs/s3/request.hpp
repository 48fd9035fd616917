#pragma once
// One S3 request of vfs::s3::Client: built, signed (SigV4) and sent through
// net::HttpClient, retried with backoff, its refusal logged and mapped to a
// vfs::Errc. Internal to vfs/s3.

#include "core/result.hpp"
#include "core/task.hpp"
#include "net/http_client.hpp"
#include "vfs/s3/client.hpp"
#include "vfs/s3/xml.hpp"

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace berth::vfs::s3 {

/// Tries of one request: the first and two retries.
inline constexpr int kAttempts = 3;

enum class Retry {
  idempotent,  ///< Retried on any transport failure, 5xx, SlowDown.
  unsent_only, ///< Retried only when it never left (no connection was made).
};

/// One S3 request, signed afresh for each attempt.
struct Call {
  std::string_view op{}; ///< "GetObject": for the log
  std::string method{};
  std::string key{}; ///< Empty: the bucket itself.
  std::vector<std::pair<std::string, std::string>> query{};
  std::vector<net::HttpHeader> headers{}; ///< All signed.
  std::span<const std::byte> body{};
  std::string payload_sha256{};
  std::size_t max_response_body = xml::kMaxBody;
  Retry retry = Retry::idempotent;
};

/// What one attempt brought back: a transport error, or a response (and for a
/// streamed GET that succeeded, its body reader).
struct Sent {
  std::error_code ec;
  net::HttpResponse response;
  std::unique_ptr<net::HttpBodyReader> reader;
};

/// What send() accepts besides refusals: only a 200, or also the answers of a
/// delete of something already gone (204, 404).
enum class Accept { ok, gone_too };

/// SHA-256 of no bytes, the payload hash of a request without a body.
const std::string& empty_sha256();

/// One try. window == 0: the whole response buffered; else streamed (a
/// refusal's body is still read, up to 64 KiB). Never retries.
core::Task<Sent> attempt(const Client& c, const Call& call, std::size_t window);

/// Sends `call` with its retries; a response of any status but a 5xx comes
/// back as a value, a 5xx or transport failure after the last try as
/// Errc::unavailable (logged).
core::Task<core::Result<Sent>> send(const Client& c, const Call& call, std::size_t window = 0);

/// send(), then refuse() anything `accept` does not take.
core::Task<core::Result<net::HttpResponse>> exchange(const Client& c, const Call& call,
                                                     Accept accept = Accept::ok);

/// The request never reached the endpoint (so repeating it is always safe).
bool unsent(const std::error_code& ec);
/// A 5xx or 429: the server's trouble, worth another try.
bool server_busy(const net::HttpResponse& r);
/// Sleeps before try `n` (1, 2, ...): exponential with jitter, 100 ms .. 2 s.
core::Task<void> backoff(int n);

/// The error for a refused request (status >= 300), logged once with S3's
/// code, message and request id: not_found (404), permission_denied (403),
/// exists (412), unavailable (5xx, 429), else io_error.
std::error_code refuse(const Client& c, const Call& call, const net::HttpResponse& r);
/// Errc::unavailable for a transport failure `ec`, logged.
std::error_code unanswered(const Client& c, const Call& call, const std::error_code& ec);
/// Errc::io_error for a reply that should have been XML and was not, logged.
std::error_code malformed(const Client& c, const Call& call, const std::error_code& ec);

} // namespace berth::vfs::s3
