#pragma once
// HTTP/1.1 client glue: libcurl's multi socket interface driven by the Asio
// loop it runs on (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION), so a request never
// blocks a loop and waits like any other socket of that loop.

#include "core/result.hpp"
#include "core/task.hpp"

#include <asio/any_io_executor.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace berth::net {

struct HttpHeader {
  std::string name;
  std::string value;
};

/// One request. The body is sent as is, with a Content-Length (no chunking).
struct HttpRequest {
  std::string method = "GET"; ///< GET, HEAD, PUT, POST or DELETE.
  std::string url;            ///< Absolute; the query is sent exactly as given.
  std::vector<HttpHeader> headers;
  /// Must stay valid until the request ends (the awaiting coroutine owns it).
  std::span<const std::byte> body{};
  /// The whole request, from connect to the last body byte (for open(), the
  /// reader's pace included); 0: none.
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  /// Longest a connection may take to open (TCP and TLS).
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  /// Trust anchors for an https URL (PEM); empty: the system's.
  std::string ca_file;
  /// A buffered response longer than this fails (errc::message_size).
  std::size_t max_response_body = 4 * 1024 * 1024;
};

struct HttpResponse {
  long status = 0;
  std::vector<HttpHeader> headers; ///< Names in lower case, in order received.
  std::string body;                ///< Empty for HttpClient::open().
  /// The first header named `name` (lower case), or null.
  const std::string* header(std::string_view name) const;
};

/// A response whose body is read as it arrives (a GET of a large object).
/// While its buffer is full, libcurl's transfer is paused, so the server's
/// bytes wait in the socket, never in memory. Destroying it aborts the transfer.
class HttpBodyReader {
public:
  virtual ~HttpBodyReader() = default;
  /// The status and headers (the body member is empty).
  virtual const HttpResponse& response() const = 0;
  /// Body bytes received and not yet read: never more than the window.
  virtual std::size_t buffered() const = 0;
  /// Reads at least one and at most buf.size() body bytes; 0 at the end of
  /// the body. Errors: the transfer's error (timeout, reset, ...).
  virtual core::Task<core::Result<std::size_t>> read_some(std::span<std::byte> buf) = 0;
};

/// One client per event loop (a libcurl multi handle is not thread-safe); used
/// only from coroutines running on that loop. Connections are kept and reused.
class HttpClient {
public:
  virtual ~HttpClient() = default;
  /// The client of the loop `ex` belongs to, created on first use (an Asio
  /// service of that io_context, so it lives as long as the loop).
  static HttpClient& of(const asio::any_io_executor& ex);

  /// Sends `request` and reads the whole response. A status >= 400 is a
  /// response, not an error. Errors: http_category() (connect, TLS, timeout,
  /// reset) or errc::message_size.
  virtual core::Task<core::Result<HttpResponse>> perform(HttpRequest request) = 0;

  /// As perform(), but returns once the headers have arrived; the body is
  /// read from the result with at most `window` bytes buffered (at least
  /// 16 KiB: the most libcurl hands over at once).
  virtual core::Task<core::Result<std::unique_ptr<HttpBodyReader>>> open(HttpRequest request,
                                                                         std::size_t window) = 0;
};

/// libcurl's CURLcode values as errors ("berth.http").
const std::error_category& http_category() noexcept;

} // namespace berth::net
