#include "net/http_client.hpp"

#include "core/check.hpp"
#include "core/wakeup.hpp"

#include <asio/cancellation_type.hpp>
#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <curl/curl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace berth::net {
namespace {

// libcurl hands the write callback at most this much at once (chopped from
// larger reads, and from what it kept while the transfer was paused).
constexpr std::size_t kCurlChunk = CURL_MAX_WRITE_SIZE;

class Category final : public std::error_category {
public:
  const char* name() const noexcept override { return "berth.http"; }
  std::string message(int ev) const override {
    return curl_easy_strerror(static_cast<CURLcode>(ev));
  }
  std::error_condition default_error_condition(int ev) const noexcept override {
    switch (static_cast<CURLcode>(ev)) {
    case CURLE_OPERATION_TIMEDOUT:
      return std::errc::timed_out;
    case CURLE_COULDNT_CONNECT:
      return std::errc::connection_refused;
    case CURLE_ABORTED_BY_CALLBACK:
      return std::errc::operation_canceled;
    default:
      return {ev, *this};
    }
  }
};

std::error_code curl_error(CURLcode code) {
  return {static_cast<int>(code), http_category()};
}

// curl_global_init is not thread-safe before libcurl 7.84; a function-local
// static runs it once, whichever loop asks first. Never cleaned up: loops on
// other threads may still use libcurl while the process exits.
void global_init() {
  static const CURLcode code = curl_global_init(CURL_GLOBAL_DEFAULT);
  BERTH_CHECK(code == CURLE_OK);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

bool has_header(const std::vector<HttpHeader>& headers, std::string_view name) {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const HttpHeader& h) { return lower(h.name) == name; });
}

class CurlService;

/// One request in flight: the easy handle, what libcurl delivered, and the
/// wakeup its awaiting coroutine (or body reader) sleeps on. Owned by that
/// coroutine or reader; destroying it aborts the transfer.
class Transfer {
public:
  Transfer(CurlService& service, HttpRequest request, bool streaming, std::size_t limit)
      : service_(&service), request_(std::move(request)), streaming_(streaming), limit_(limit),
        wake_(service_executor(service)) {}
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;
  ~Transfer();

  /// Configures the easy handle and adds it to the multi handle.
  std::error_code start();
  /// The multi handle reported the end (called by the service).
  void finish(CURLcode code);
  /// The service is shutting down `multi`: the easy handle goes now.
  void detach(CURLM* multi);

  bool done() const { return done_; }
  bool headers_done() const { return headers_done_; }
  std::error_code error() const { return error_; }
  HttpResponse& response() { return response_; }
  core::Wakeup& wake() { return wake_; }

  std::size_t buffered() const { return body_.size() - head_; }
  /// Moves up to out.size() buffered body bytes into `out`; resumes a paused
  /// transfer once half the window is free.
  std::size_t take(std::span<std::byte> out);

private:
  static asio::any_io_executor service_executor(CurlService& s);
  static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* self);
  static std::size_t on_write(char* data, std::size_t size, std::size_t n, void* self);
  static std::size_t on_read(char* data, std::size_t size, std::size_t n, void* self);
  void header_line(std::string_view line);
  std::size_t write(const char* data, std::size_t n);
  void release();

  CurlService* service_;
  HttpRequest request_;
  bool streaming_;
  std::size_t limit_; // max_response_body, or the window when streaming
  CURL* easy_ = nullptr;
  curl_slist* headers_ = nullptr;
  std::size_t sent_ = 0; // request body bytes handed to libcurl
  HttpResponse response_;
  bool in_final_headers_ = false;
  bool headers_done_ = false;
  bool too_long_ = false;
  bool paused_ = false;
  bool done_ = false;
  std::error_code error_;
  std::string body_;     // streaming: bytes not yet read start at head_
  std::size_t head_ = 0; // streaming: read position in body_
  core::Wakeup wake_;
};

/// The loop's libcurl multi handle, driven by its sockets and one timer.
class CurlService final : public asio::execution_context::service, public HttpClient {
public:
  static inline asio::execution_context::id id;

  explicit CurlService(asio::io_context& io)
      : asio::execution_context::service(io), io_(io), timer_(io) {
    global_init();
    multi_ = curl_multi_init();
    BERTH_CHECK(multi_ != nullptr);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &CurlService::on_socket);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &CurlService::on_timer);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  }
  ~CurlService() override { shutdown(); }

  asio::any_io_executor executor() { return io_.get_executor(); }
  bool stopped() const { return multi_ == nullptr; }

  std::error_code add(Transfer& t, CURL* easy) {
    if (stopped())
      return asio::error::shut_down;
    CURLMcode mc = curl_multi_add_handle(multi_, easy);
    if (mc != CURLM_OK)
      return curl_error(CURLE_FAILED_INIT);
    active_.insert(&t);
    return {};
  }
  void remove(Transfer& t, CURL* easy) {
    active_.erase(&t);
    if (!stopped())
      curl_multi_remove_handle(multi_, easy);
  }

  core::Task<core::Result<HttpResponse>> perform(HttpRequest request) override;
  core::Task<core::Result<std::unique_ptr<HttpBodyReader>>> open(HttpRequest request,
                                                                 std::size_t window) override;

private:
  struct Watch {
    Watch(asio::io_context& io, curl_socket_t s) : fd(s), desc(io) {}
    curl_socket_t fd;
    asio::posix::stream_descriptor desc; // released, never closed: libcurl owns the fd
    int what = 0;                        // CURL_POLL_IN / OUT / INOUT
    bool waiting[2] = {false, false};    // a wait for [0] input, [1] output is pending
    bool removed = false;
  };

  void shutdown() override {
    if (stopped())
      return;
    timer_.cancel();
    for (Transfer* t : std::exchange(active_, {}))
      t->detach(multi_);
    for (auto& [fd, w] : watches_) {
      w->removed = true;
      w->desc.release();
    }
    // Closing cached connections may call on_socket; it only erases then.
    CURLM* multi = std::exchange(multi_, nullptr);
    curl_multi_cleanup(multi);
    watches_.clear();
  }

  static int on_socket(CURL*, curl_socket_t s, int what, void* self, void*) {
    return static_cast<CurlService*>(self)->socket_changed(s, what);
  }
  static int on_timer(CURLM*, long ms, void* self) {
    static_cast<CurlService*>(self)->timer_changed(ms);
    return 0;
  }

  // 0, or -1 (libcurl fails the transfer) if the reactor refuses the socket.
  int socket_changed(curl_socket_t s, int what) {
    auto it = watches_.find(s);
    if (what == CURL_POLL_REMOVE) {
      if (it != watches_.end()) {
        it->second->removed = true;
        if (it->second->desc.is_open())
          it->second->desc.release();
        watches_.erase(it);
      }
      return 0;
    }
    if (stopped())
      return 0;
    if (it == watches_.end()) {
      auto w = std::make_shared<Watch>(io_, s);
      std::error_code ec;
      w->desc.assign(s, ec); // never throw through libcurl
      if (ec)
        return -1;
      it = watches_.emplace(s, std::move(w)).first;
    }
    it->second->what = what;
    arm(it->second);
    return 0;
  }

  void timer_changed(long ms) {
    if (ms < 0 || stopped()) {
      timer_.cancel();
      return;
    }
    timer_.expires_after(std::chrono::milliseconds(ms));
    timer_.async_wait([this](std::error_code ec) {
      if (!ec && !stopped())
        action(CURL_SOCKET_TIMEOUT, 0);
    });
  }

  static bool wants(const Watch& w, int dir) {
    return (w.what & (dir == 0 ? CURL_POLL_IN : CURL_POLL_OUT)) != 0;
  }

  // Waits for each direction libcurl asked for. (A wait re-arms the
  // descriptor in Asio's reactor, so a socket libcurl left readable is
  // reported again.)
  void arm(const std::shared_ptr<Watch>& w) {
    for (int dir = 0; dir < 2; ++dir) {
      if (!wants(*w, dir) || w->waiting[dir])
        continue;
      w->waiting[dir] = true;
      auto type = dir == 0 ? asio::posix::stream_descriptor::wait_read
                           : asio::posix::stream_descriptor::wait_write;
      w->desc.async_wait(type, [this, w, dir](std::error_code ec) { ready(w, dir, ec); });
    }
  }

  void ready(const std::shared_ptr<Watch>& w, int dir, std::error_code ec) {
    w->waiting[dir] = false;
    if (w->removed || stopped() || ec == asio::error::operation_aborted || !wants(*w, dir))
      return;
    int ev = dir == 0 ? CURL_CSELECT_IN : CURL_CSELECT_OUT;
    if (ec)
      ev |= CURL_CSELECT_ERR;
    if (dir == 0)
      ack_now(w->fd);
    action(w->fd, ev);
    if (!w->removed && !stopped())
      arm(w);
  }

  // A reply often comes as two segments, head then body. A server with
  // Nagle's algorithm on (radosgw's beast frontend by default) holds the body
  // until the head is acknowledged, and Linux delays that acknowledgement by
  // up to 40 ms on a request/reply connection: every small listing or error
  // reply would wait for it. Acknowledging what arrived before reading it
  // releases the body at once (TCP_QUICKACK is not sticky, so each time).
  static void ack_now(curl_socket_t s) {
    const int on = 1;
    ::setsockopt(s, IPPROTO_TCP, TCP_QUICKACK, &on, sizeof on);
  }

  void action(curl_socket_t s, int ev) {
    int running = 0;
    curl_multi_socket_action(multi_, s, ev, &running);
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE)
        continue;
      Transfer* t = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
      CURLcode code = msg->data.result;
      if (t != nullptr)
        t->finish(code); // invalidates msg
    }
  }

  asio::io_context& io_;
  asio::steady_timer timer_;
  CURLM* multi_ = nullptr;
  std::unordered_map<curl_socket_t, std::shared_ptr<Watch>> watches_;
  std::unordered_set<Transfer*> active_;
};

asio::any_io_executor Transfer::service_executor(CurlService& s) {
  return s.executor();
}

Transfer::~Transfer() {
  release();
}

void Transfer::release() {
  if (easy_ != nullptr) {
    service_->remove(*this, easy_);
    curl_easy_cleanup(easy_);
    easy_ = nullptr;
  }
  if (headers_ != nullptr) {
    curl_slist_free_all(headers_);
    headers_ = nullptr;
  }
}

void Transfer::detach(CURLM* multi) {
  if (easy_ != nullptr) {
    curl_multi_remove_handle(multi, easy_);
    curl_easy_cleanup(easy_);
    easy_ = nullptr;
  }
  if (!done_) {
    done_ = true;
    error_ = asio::error::shut_down;
  }
}

void Transfer::finish(CURLcode code) {
  if (code == CURLE_OK) {
    curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &response_.status);
    headers_done_ = true;
  } else if (too_long_) {
    error_ = std::make_error_code(std::errc::message_size);
  } else {
    error_ = curl_error(code);
  }
  release();
  done_ = true;
  wake_.notify();
}

std::error_code Transfer::start() {
  easy_ = curl_easy_init();
  if (easy_ == nullptr)
    return curl_error(CURLE_OUT_OF_MEMORY);
  const auto& r = request_;
  auto set = [this](CURLoption opt, auto value) { return curl_easy_setopt(easy_, opt, value); };
  CURLcode code = CURLE_OK;
  auto check = [&code](CURLcode c) {
    if (code == CURLE_OK)
      code = c;
  };
  check(set(CURLOPT_URL, r.url.c_str()));
  check(set(CURLOPT_PROTOCOLS_STR, "http,https"));
  check(set(CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1)));
  check(set(CURLOPT_NOSIGNAL, 1L));
  check(set(CURLOPT_FOLLOWLOCATION, 0L));
  check(set(CURLOPT_PATH_AS_IS, 1L)); // the path is signed as given: no "/../" squashing
  check(set(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L));
  check(set(CURLOPT_TIMEOUT_MS, static_cast<long>(r.timeout.count())));
  check(set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(r.connect_timeout.count())));
  if (!r.ca_file.empty())
    check(set(CURLOPT_CAINFO, r.ca_file.c_str()));
  check(set(CURLOPT_PRIVATE, static_cast<void*>(this)));
  check(set(CURLOPT_HEADERFUNCTION, &Transfer::on_header));
  check(set(CURLOPT_HEADERDATA, static_cast<void*>(this)));
  check(set(CURLOPT_WRITEFUNCTION, &Transfer::on_write));
  check(set(CURLOPT_WRITEDATA, static_cast<void*>(this)));
  check(set(CURLOPT_READFUNCTION, &Transfer::on_read));
  check(set(CURLOPT_READDATA, static_cast<void*>(this)));

  const auto size = static_cast<curl_off_t>(r.body.size());
  if (r.method == "GET") {
    check(set(CURLOPT_HTTPGET, 1L));
  } else if (r.method == "HEAD") {
    check(set(CURLOPT_NOBODY, 1L));
  } else if (r.method == "POST") {
    check(set(CURLOPT_POST, 1L));
    check(set(CURLOPT_POSTFIELDSIZE_LARGE, size));
  } else if (r.method == "PUT") {
    check(set(CURLOPT_UPLOAD, 1L));
    check(set(CURLOPT_INFILESIZE_LARGE, size));
  } else {
    if (!r.body.empty()) {
      check(set(CURLOPT_UPLOAD, 1L));
      check(set(CURLOPT_INFILESIZE_LARGE, size));
    }
    check(set(CURLOPT_CUSTOMREQUEST, r.method.c_str()));
  }

  // libcurl's own additions that are not ours to send: "Expect: 100-continue"
  // before a body, a form Content-Type on POST, "Accept: */*".
  std::vector<std::string> lines;
  for (const auto& h : r.headers)
    lines.push_back(h.value.empty() ? h.name + ";" : h.name + ": " + h.value);
  lines.emplace_back("Expect:");
  if (!has_header(r.headers, "accept"))
    lines.emplace_back("Accept:");
  if (r.method == "POST" && !has_header(r.headers, "content-type"))
    lines.emplace_back("Content-Type:");
  for (const auto& line : lines) {
    curl_slist* next = curl_slist_append(headers_, line.c_str());
    if (next == nullptr)
      return curl_error(CURLE_OUT_OF_MEMORY);
    headers_ = next;
  }
  check(set(CURLOPT_HTTPHEADER, headers_));
  if (code != CURLE_OK)
    return curl_error(code);
  if (auto ec = service_->add(*this, easy_))
    return ec;
  return {};
}

std::size_t Transfer::on_header(char* data, std::size_t size, std::size_t n, void* self) {
  static_cast<Transfer*>(self)->header_line(std::string_view(data, size * n));
  return size * n;
}

void Transfer::header_line(std::string_view line) {
  if (headers_done_)
    return; // trailers
  if (line.starts_with("HTTP/")) {
    // A status line: a 1xx before the final response, or the final one.
    response_.headers.clear();
    response_.status = 0;
    auto sp = line.find(' ');
    if (sp != std::string_view::npos && line.size() >= sp + 4) {
      long status = 0;
      for (char c : line.substr(sp + 1, 3))
        status = std::isdigit(static_cast<unsigned char>(c)) ? status * 10 + (c - '0') : -1000;
      response_.status = std::max(status, 0L);
    }
    in_final_headers_ = response_.status >= 200;
    return;
  }
  auto text = trim(line);
  if (text.empty()) {
    if (in_final_headers_) {
      headers_done_ = true;
      wake_.notify();
    }
    return;
  }
  auto colon = text.find(':');
  if (colon == std::string_view::npos)
    return;
  response_.headers.push_back(
      {lower(trim(text.substr(0, colon))), std::string(trim(text.substr(colon + 1)))});
}

std::size_t Transfer::on_write(char* data, std::size_t size, std::size_t n, void* self) {
  return static_cast<Transfer*>(self)->write(data, size * n);
}

std::size_t Transfer::write(const char* data, std::size_t n) {
  if (!streaming_) {
    if (response_.body.size() + n > limit_) {
      too_long_ = true;
      return 0; // CURLE_WRITE_ERROR
    }
    response_.body.append(data, n);
    return n;
  }
  if (buffered() + n > limit_) {
    paused_ = true;
    return CURL_WRITEFUNC_PAUSE; // libcurl keeps these bytes and stops reading the socket
  }
  if (body_.size() + n > limit_) {
    body_.erase(0, head_);
    head_ = 0;
  }
  body_.append(data, n);
  wake_.notify();
  return n;
}

std::size_t Transfer::on_read(char* data, std::size_t size, std::size_t n, void* self) {
  auto* t = static_cast<Transfer*>(self);
  auto body = t->request_.body.subspan(t->sent_);
  std::size_t count = std::min(body.size(), size * n);
  std::memcpy(data, body.data(), count);
  t->sent_ += count;
  return count;
}

std::size_t Transfer::take(std::span<std::byte> out) {
  std::size_t n = std::min(out.size(), buffered());
  std::memcpy(out.data(), body_.data() + head_, n);
  head_ += n;
  if (head_ == body_.size()) {
    body_.clear();
    head_ = 0;
  }
  if (paused_ && easy_ != nullptr && buffered() <= limit_ / 2) {
    paused_ = false;
    // May call write() at once with what libcurl kept, and pause again.
    CURLcode code = curl_easy_pause(easy_, CURLPAUSE_CONT);
    if (code != CURLE_OK && !done_) {
      error_ = curl_error(code);
      release();
      done_ = true;
    }
  }
  return n;
}

/// What a coroutine waits for on a transfer.
enum class Until { headers, data, end };

bool reached(Transfer& t, Until until) {
  switch (until) {
  case Until::headers:
    return t.done() || t.headers_done();
  case Until::data:
    return t.done() || t.buffered() > 0;
  case Until::end:
    return t.done();
  }
  return true;
}

/// Waits until `t` reaches `until`, or the awaiting coroutine is cancelled
/// (false).
core::Task<bool> wait_for(Transfer& t, Until until) {
  bool cancelled = false;
  while (!reached(t, until)) {
    auto seen = t.wake().generation();
    co_await t.wake().wait(seen);
    asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none) {
      cancelled = true;
      break;
    }
  }
  co_return !cancelled;
}

class BodyReader final : public HttpBodyReader {
public:
  explicit BodyReader(std::unique_ptr<Transfer> t) : t_(std::move(t)) {}
  const HttpResponse& response() const override { return t_->response(); }
  std::size_t buffered() const override { return t_->buffered(); }

  core::Task<core::Result<std::size_t>> read_some(std::span<std::byte> buf) override {
    if (buf.empty())
      co_return std::size_t{0};
    const Until until = Until::data;
    if (!co_await wait_for(*t_, until))
      co_return core::unexpected(asio::error::operation_aborted);
    if (t_->buffered() > 0)
      co_return t_->take(buf);
    if (t_->error())
      co_return core::unexpected(t_->error());
    co_return std::size_t{0};
  }

private:
  std::unique_ptr<Transfer> t_;
};

core::Task<core::Result<HttpResponse>> CurlService::perform(HttpRequest request) {
  std::size_t limit = request.max_response_body;
  auto t = std::make_unique<Transfer>(*this, std::move(request), false, limit);
  if (auto ec = t->start())
    co_return core::unexpected(ec);
  const Until until = Until::end;
  bool finished = co_await wait_for(*t, until);
  if (!finished)
    co_return core::unexpected(asio::error::operation_aborted);
  if (t->error())
    co_return core::unexpected(t->error());
  co_return std::move(t->response());
}

core::Task<core::Result<std::unique_ptr<HttpBodyReader>>> CurlService::open(HttpRequest request,
                                                                            std::size_t window) {
  window = std::max(window, kCurlChunk);
  auto t = std::make_unique<Transfer>(*this, std::move(request), true, window);
  if (auto ec = t->start())
    co_return core::unexpected(ec);
  const Until until = Until::headers;
  bool arrived = co_await wait_for(*t, until);
  if (!arrived)
    co_return core::unexpected(asio::error::operation_aborted);
  if (t->error())
    co_return core::unexpected(t->error());
  std::unique_ptr<HttpBodyReader> reader = std::make_unique<BodyReader>(std::move(t));
  co_return reader;
}

} // namespace

const std::string* HttpResponse::header(std::string_view name) const {
  for (const auto& h : headers)
    if (h.name == name)
      return &h.value;
  return nullptr;
}

HttpClient& HttpClient::of(const asio::any_io_executor& ex) {
  // The loops are io_contexts, and coroutines run on their plain executors.
  const auto* io = ex.target<asio::io_context::executor_type>();
  BERTH_CHECK(io != nullptr);
  return asio::use_service<CurlService>(io->context());
}

const std::error_category& http_category() noexcept {
  static const Category category;
  return category;
}

} // namespace berth::net
