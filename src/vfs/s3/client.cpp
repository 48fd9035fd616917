#include "vfs/s3/client.hpp"

#include "vfs/s3/request.hpp"

#include "core/timeout.hpp"
#include "net/http_client.hpp"
#include "vfs/errc.hpp"
#include "vfs/s3/sigv4.hpp"
#include "vfs/s3/xml.hpp"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <string_view>

namespace berth::vfs::s3 {
namespace {

using namespace std::chrono_literals;

/// S3's longest key, in bytes of UTF-8.
constexpr std::size_t kMaxKey = 1024;
constexpr std::size_t kMaxListKeys = 1000;
constexpr int kMaxPartNumber = 10'000;
constexpr std::size_t kMaxPartPages = 11; // 10,000 parts in pages of 1000, and one empty

bool valid_key(std::string_view key) {
  return !key.empty() && key.size() <= kMaxKey;
}

// SECURITY: metadata become request headers; a CR or LF would let a value
// inject headers, so names are tokens and values printable ASCII (S3 keeps
// metadata in US-ASCII).
bool add_metadata(const Metadata& m, std::vector<net::HttpHeader>& headers) {
  for (const auto& [name, value] : m) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](char ch) {
          return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
                 ch == '.';
        }))
      return false;
    if (!std::all_of(value.begin(), value.end(), [](char ch) { return ch >= 0x20 && ch < 0x7f; }))
      return false;
    headers.push_back({"x-amz-meta-" + name, value});
  }
  return true;
}

Metadata metadata_of(const net::HttpResponse& r) {
  constexpr std::string_view prefix = "x-amz-meta-";
  Metadata m;
  for (const auto& h : r.headers)
    if (h.name.starts_with(prefix) && h.name.size() > prefix.size())
      m.emplace(h.name.substr(prefix.size()), h.value);
  return m;
}

std::optional<std::uint64_t> to_u64(std::string_view s) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || s.empty())
    return std::nullopt;
  return v;
}

/// The total of a Content-Range "bytes a-b/total" or "bytes */total".
std::optional<std::uint64_t> range_total(const net::HttpResponse& r) {
  const std::string* cr = r.header("content-range");
  if (!cr)
    return std::nullopt;
  auto slash = cr->rfind('/');
  if (slash == std::string::npos)
    return std::nullopt;
  return to_u64(std::string_view(*cr).substr(slash + 1));
}

std::string etag_of(const net::HttpResponse& r) {
  const std::string* e = r.header("etag");
  return e ? xml::unquote_etag(*e) : std::string();
}

std::string copy_source(const Client& c, std::string_view key) {
  return "/" + uri_encode(c.bucket(), true) + "/" + uri_encode(key, false);
}

std::string md5_base64(std::span<const std::byte> data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_md5(), nullptr);
  std::array<unsigned char, 4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1> out{};
  const int n = EVP_EncodeBlock(out.data(), md.data(), static_cast<int>(len));
  return std::string(reinterpret_cast<const char*>(out.data()), static_cast<std::size_t>(n));
}

/// A 200 reply that carries an <Error> (CopyObject, UploadPartCopy and
/// CompleteMultipartUpload may fail after their status line was sent).
std::optional<std::error_code> late_error(const Client& c, const Call& call,
                                          const net::HttpResponse& r) {
  auto e = xml::parse_error(r.body);
  if (!e)
    return std::nullopt;
  net::HttpResponse as_refusal = r;
  // InternalError, SlowDown: the server's trouble, as a 5xx would say.
  as_refusal.status =
      (e->code == "InternalError" || e->code == "SlowDown" || e->code == "ServiceUnavailable")
          ? 503
          : 400;
  if (e->code == "AccessDenied")
    as_refusal.status = 403;
  if (e->code == "NoSuchKey" || e->code == "NoSuchUpload")
    as_refusal.status = 404;
  return refuse(c, call, as_refusal);
}

class Reader final : public ObjectReader {
public:
  Reader(std::unique_ptr<net::HttpBodyReader> body, std::uint64_t object_size, std::uint64_t length,
         std::chrono::milliseconds idle)
      : body_(std::move(body)), size_(object_size), remaining_(length), idle_(idle) {}

  // vfs::s3::ObjectReader
  std::uint64_t object_size() const override { return size_; }
  core::Task<core::Result<std::size_t>> read_some(std::span<std::byte> buf) override {
    if (remaining_ == 0 || buf.empty())
      co_return std::size_t{0};
    if (buf.size() > remaining_)
      buf = buf.first(static_cast<std::size_t>(remaining_));
    auto read = body_->read_some(buf);
    auto r = co_await core::with_timeout(std::move(read), idle_);
    if (!r) {
      spdlog::warn("s3: GetObject body failed after {} bytes short: {}", remaining_,
                   r.error().message());
      remaining_ = 0;
      co_return core::unexpected(Errc::unavailable);
    }
    if (*r == 0) {
      spdlog::warn("s3: GetObject body ended {} bytes short", remaining_);
      remaining_ = 0;
      co_return core::unexpected(Errc::io_error);
    }
    remaining_ -= *r;
    co_return *r;
  }

private:
  std::unique_ptr<net::HttpBodyReader> body_; // null for an empty range
  std::uint64_t size_;
  std::uint64_t remaining_;
  std::chrono::milliseconds idle_;
};

} // namespace

std::optional<std::string> multipart_etag(std::span<const Part> parts) {
  std::string digests;
  for (const Part& p : parts) {
    const std::string e = xml::unquote_etag(p.etag);
    if (e.size() != 32)
      return std::nullopt;
    for (std::size_t i = 0; i < 32; i += 2) {
      unsigned v = 0;
      auto [end, ec] = std::from_chars(e.data() + i, e.data() + i + 2, v, 16);
      if (ec != std::errc{} || end != e.data() + i + 2)
        return std::nullopt;
      digests += static_cast<char>(v);
    }
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  EVP_Digest(digests.data(), digests.size(), md.data(), &len, EVP_md5(), nullptr);
  std::string hex;
  constexpr std::string_view digits = "0123456789abcdef";
  for (unsigned i = 0; i < len; ++i) {
    hex += digits[md[i] >> 4];
    hex += digits[md[i] & 15];
  }
  return hex + "-" + std::to_string(parts.size());
}

Client::Client(core::S3Profile profile, std::string bucket)
    : profile_(std::move(profile)), bucket_(std::move(bucket)) {}

core::Task<core::Result<void>> Client::check_bucket() {
  Call call{.op = "HeadBucket", .method = "HEAD", .payload_sha256 = empty_sha256()};
  auto r = co_await exchange(*this, call);
  if (!r)
    co_return core::unexpected(r.error());
  co_return core::Result<void>{};
}

core::Task<core::Result<ObjectInfo>> Client::head(std::string key) {
  if (!valid_key(key))
    co_return core::unexpected(Errc::invalid_name);
  Call call{.op = "HeadObject", .method = "HEAD", .key = key, .payload_sha256 = empty_sha256()};
  auto reply = co_await exchange(*this, call);
  if (!reply)
    co_return core::unexpected(reply.error());
  const net::HttpResponse& r = *reply;
  ObjectInfo info;
  info.key = std::move(key);
  const std::string* length = r.header("content-length");
  auto size = length ? to_u64(*length) : std::nullopt;
  if (!size)
    co_return core::unexpected(malformed(*this, call, make_error_code(std::errc::bad_message)));
  info.size = *size;
  if (const std::string* lm = r.header("last-modified"))
    info.last_modified =
        xml::parse_http_date(*lm).value_or(std::chrono::system_clock::time_point{});
  info.etag = etag_of(r);
  info.metadata = metadata_of(r);
  co_return info;
}

core::Task<core::Result<std::unique_ptr<ObjectReader>>>
Client::get(std::string key, std::uint64_t offset, std::optional<std::uint64_t> length,
            std::size_t window) {
  if (!valid_key(key))
    co_return core::unexpected(Errc::invalid_name);
  const auto idle = std::chrono::duration_cast<std::chrono::milliseconds>(profile_.request_timeout);
  if (length && *length == 0) {
    // Nothing to read: the size alone.
    auto info = co_await head(std::move(key));
    if (!info)
      co_return core::unexpected(info.error());
    co_return std::make_unique<Reader>(nullptr, info->size, 0, idle);
  }
  Call call{.op = "GetObject", .method = "GET", .key = key, .payload_sha256 = empty_sha256()};
  if (offset > 0 || length) {
    std::string range = "bytes=" + std::to_string(offset) + "-";
    if (length)
      range += std::to_string(offset + *length - 1);
    call.headers.push_back({"range", std::move(range)});
  }
  auto s = co_await send(*this, call, std::max<std::size_t>(window, 1));
  if (!s)
    co_return core::unexpected(s.error());
  const net::HttpResponse& r = s->response;
  if (r.status == 416) {
    // A range starting at or past the end: an empty read, as pread gives.
    // AWS sends the size ("bytes */size"), radosgw does not.
    auto total = range_total(r);
    if (!total) {
      auto info = co_await head(std::move(key));
      if (!info)
        co_return core::unexpected(info.error());
      total = info->size;
    }
    if (offset >= *total)
      co_return std::make_unique<Reader>(nullptr, *total, 0, idle);
    co_return core::unexpected(refuse(*this, call, r));
  }
  if (r.status != 200 && r.status != 206)
    co_return core::unexpected(refuse(*this, call, r));
  const std::string* cl = r.header("content-length");
  auto body_length = cl ? to_u64(*cl) : std::nullopt;
  auto total = r.status == 206 ? range_total(r) : body_length;
  if (!body_length || !total || (r.status == 200 && offset > 0))
    co_return core::unexpected(malformed(*this, call, make_error_code(std::errc::bad_message)));
  co_return std::make_unique<Reader>(std::move(s->reader), *total, *body_length, idle);
}

core::Task<core::Result<std::string>> Client::put(std::string key, std::span<const std::byte> body,
                                                  Metadata metadata, bool if_none_match) {
  if (!valid_key(key))
    co_return core::unexpected(Errc::invalid_name);
  Call call{.op = "PutObject", .method = "PUT", .key = std::move(key), .body = body};
  if (!add_metadata(metadata, call.headers))
    co_return core::unexpected(Errc::invalid_name);
  if (if_none_match)
    call.headers.push_back({"if-none-match", "*"});
  call.payload_sha256 = sha256_hex(body);
  auto r = co_await exchange(*this, call);
  if (!r)
    co_return core::unexpected(r.error());
  co_return etag_of(*r);
}

core::Task<core::Result<void>> Client::remove(std::string key) {
  if (!valid_key(key))
    co_return core::unexpected(Errc::invalid_name);
  Call call{.op = "DeleteObject",
            .method = "DELETE",
            .key = std::move(key),
            .payload_sha256 = empty_sha256()};
  auto r = co_await exchange(*this, call, Accept::gone_too);
  if (!r)
    co_return core::unexpected(r.error());
  co_return core::Result<void>{};
}

core::Task<core::Result<void>> Client::remove_many(std::vector<std::string> keys) {
  if (keys.empty())
    co_return core::Result<void>{};
  if (keys.size() > kMaxListKeys || !std::all_of(keys.begin(), keys.end(), valid_key))
    co_return core::unexpected(Errc::invalid_name);
  auto body = xml::build_delete(keys);
  if (!body)
    co_return core::unexpected(Errc::invalid_name);
  const auto bytes = std::as_bytes(std::span(*body));
  Call call{.op = "DeleteObjects",
            .method = "POST",
            .query = {{"delete", ""}},
            .headers = {{"content-type", "application/xml"}, {"content-md5", md5_base64(bytes)}},
            .body = bytes,
            .payload_sha256 = sha256_hex(bytes)};
  auto r = co_await exchange(*this, call);
  if (!r)
    co_return core::unexpected(r.error());
  auto failures = xml::parse_delete_result(r->body);
  if (!failures)
    co_return core::unexpected(malformed(*this, call, failures.error()));
  std::error_code first;
  for (const auto& f : *failures) {
    if (f.code == "NoSuchKey")
      continue; // already gone: what a delete wants
    spdlog::warn("s3: DeleteObjects {}/{} refused: {} \"{}\"", bucket_, f.key, f.code, f.message);
    if (!first)
      first = make_error_code(f.code == "AccessDenied" ? Errc::permission_denied : Errc::io_error);
  }
  if (first)
    co_return core::unexpected(first);
  co_return core::Result<void>{};
}

core::Task<core::Result<ListPage>> Client::list(std::string prefix, std::string delimiter,
                                                std::string continuation, std::size_t max_keys) {
  max_keys = std::clamp<std::size_t>(max_keys, 1, kMaxListKeys);
  Call call{.op = "ListObjectsV2",
            .method = "GET",
            .query = {{"list-type", "2"},
                      {"max-keys", std::to_string(max_keys)},
                      // keys with characters XML 1.0 can not carry still list
                      {"encoding-type", "url"}},
            .payload_sha256 = empty_sha256()};
  if (!prefix.empty())
    call.query.emplace_back("prefix", std::move(prefix));
  if (!delimiter.empty())
    call.query.emplace_back("delimiter", std::move(delimiter));
  if (!continuation.empty())
    call.query.emplace_back("continuation-token", std::move(continuation));
  auto r = co_await exchange(*this, call);
  if (!r)
    co_return core::unexpected(r.error());
  auto page = xml::parse_list_objects(r->body);
  if (!page)
    co_return core::unexpected(malformed(*this, call, page.error()));
  co_return std::move(*page);
}

core::Task<core::Result<void>> Client::copy(std::string from, std::string to,
                                            std::optional<Metadata> metadata) {
  if (!valid_key(from) || !valid_key(to))
    co_return core::unexpected(Errc::invalid_name);
  Call call{.op = "CopyObject",
            .method = "PUT",
            .key = std::move(to),
            .headers = {{"x-amz-copy-source", copy_source(*this, from)}},
            .payload_sha256 = empty_sha256()};
  if (metadata) {
    call.headers.push_back({"x-amz-metadata-directive", "REPLACE"});
    if (!add_metadata(*metadata, call.headers))
      co_return core::unexpected(Errc::invalid_name);
  }
  auto r = co_await exchange(*this, call);
  if (!r)
    co_return core::unexpected(r.error());
  if (auto late = late_error(*this, call, *r))
    co_return core::unexpected(*late);
  co_return core::Result<void>{};
}

core::Task<core::Result<std::string>> Client::create_multipart(std::string key, Metadata metadata) {
  if (!valid_key(key))
    co_return core::unexpected(Errc::invalid_name);
  // Not retried once sent: a second try after a lost answer would leave an
  // upload nobody knows of (the bucket's lifecycle rule must reap those).
  Call call{.op = "CreateMultipartUpload",
            .method = "POST",
            .key = std::move(key),
            .query = {{"uploads", ""}},
            .payload_sha256 = empty_sha256(),
            .retry = Retry::unsent_only};
  if (!add_metadata(metadata, call.headers))
    co_return core::unexpected(Errc::invalid_name);
  auto r = co_await exchange(*this, call);
  if (!r)
    co_return core::unexpected(r.error());
  auto id = xml::parse_initiate_multipart(r->body);
  if (!id)
    co_return core::unexpected(malformed(*this, call, id.error()));
  co_return std::move(*id);
}

core::Task<core::Result<std::string>> Client::upload_part(std::string key, std::string upload_id,
                                                          int number,
                                                          std::span<const std::byte> body) {
  if (!valid_key(key) || number < 1 || number > kMaxPartNumber)
    co_return core::unexpected(Errc::invalid_name);
  Call call{.op = "UploadPart",
            .method = "PUT",
            .key = std::move(key),
            .query = {{"partNumber", std::to_string(number)}, {"uploadId", std::move(upload_id)}},
            .body = body,
            .payload_sha256 = sha256_hex(body)};
  auto r = co_await exchange(*this, call);
  if (!r)
    co_return core::unexpected(r.error());
  std::string etag = etag_of(*r);
  if (etag.empty())
    co_return core::unexpected(malformed(*this, call, make_error_code(std::errc::bad_message)));
  co_return etag;
}

core::Task<core::Result<std::string>>
Client::upload_part_copy(std::string key, std::string upload_id, int number, std::string source,
                         std::uint64_t first, std::uint64_t last) {
  if (!valid_key(key) || !valid_key(source) || number < 1 || number > kMaxPartNumber ||
      last < first)
    co_return core::unexpected(Errc::invalid_name);
  Call call{.op = "UploadPartCopy",
            .method = "PUT",
            .key = std::move(key),
            .query = {{"partNumber", std::to_string(number)}, {"uploadId", std::move(upload_id)}},
            .headers = {{"x-amz-copy-source", copy_source(*this, source)},
                        {"x-amz-copy-source-range",
                         "bytes=" + std::to_string(first) + "-" + std::to_string(last)}},
            .payload_sha256 = empty_sha256()};
  auto r = co_await exchange(*this, call);
  if (!r)
    co_return core::unexpected(r.error());
  if (auto late = late_error(*this, call, *r))
    co_return core::unexpected(*late);
  auto etag = xml::parse_etag_result(r->body);
  if (!etag)
    co_return core::unexpected(malformed(*this, call, etag.error()));
  co_return std::move(*etag);
}

core::Task<core::Result<void>> Client::complete_multipart(std::string key, std::string upload_id,
                                                          std::vector<Part> parts) {
  if (!valid_key(key))
    co_return core::unexpected(Errc::invalid_name);
  auto body = xml::build_complete_multipart(parts);
  if (!body)
    co_return core::unexpected(Errc::invalid_name);
  const auto bytes = std::as_bytes(std::span(*body));
  Call call{.op = "CompleteMultipartUpload",
            .method = "POST",
            .key = key,
            .query = {{"uploadId", std::move(upload_id)}},
            .headers = {{"content-type", "application/xml"}},
            .body = bytes,
            .payload_sha256 = sha256_hex(bytes)};
  // Retried like the others, with one care: once a try may have reached the
  // server (its answer lost: timeout, reset, 5xx), a later NoSuchUpload can
  // mean that try completed it. Then the object's ETag decides: S3 derives a
  // multipart ETag from the parts' ETags, so ours is recognisable.
  bool maybe_done = false;
  Sent s;
  for (int n = 1;; ++n) {
    s = co_await attempt(*this, call, 0);
    std::optional<std::error_code> late;
    if (!s.ec && s.response.status == 200) {
      late = late_error(*this, call, s.response);
      if (!late) {
        auto etag = xml::parse_complete_multipart(s.response.body);
        if (!etag)
          co_return core::unexpected(malformed(*this, call, etag.error()));
        co_return core::Result<void>{};
      }
      if (*late != make_error_code(Errc::unavailable))
        co_return core::unexpected(*late);
    }
    if (!s.ec && s.response.status == 404 && maybe_done) {
      auto expected = multipart_etag(parts);
      auto info = co_await head(key);
      if (expected && info && info->etag == *expected) {
        spdlog::info("s3: CompleteMultipartUpload {}/{}: an earlier try completed it", bucket_,
                     key);
        co_return core::Result<void>{};
      }
      co_return core::unexpected(refuse(*this, call, s.response));
    }
    const bool transient = late.has_value() || s.ec || server_busy(s.response);
    if (!transient)
      co_return core::unexpected(refuse(*this, call, s.response));
    if (!late && !unsent(s.ec))
      maybe_done = true;
    if (late)
      maybe_done = true;
    if (n >= kAttempts)
      break;
    co_await backoff(n);
  }
  if (s.ec)
    co_return core::unexpected(unanswered(*this, call, s.ec));
  co_return core::unexpected(refuse(*this, call, s.response));
}

core::Task<core::Result<void>> Client::abort_multipart(std::string key, std::string upload_id) {
  if (!valid_key(key))
    co_return core::unexpected(Errc::invalid_name);
  Call call{.op = "AbortMultipartUpload",
            .method = "DELETE",
            .key = std::move(key),
            .query = {{"uploadId", std::move(upload_id)}},
            .payload_sha256 = empty_sha256()};
  auto r = co_await exchange(*this, call, Accept::gone_too);
  if (!r)
    co_return core::unexpected(r.error());
  co_return core::Result<void>{};
}

core::Task<core::Result<std::vector<Part>>> Client::list_parts(std::string key,
                                                               std::string upload_id) {
  if (!valid_key(key))
    co_return core::unexpected(Errc::invalid_name);
  std::vector<Part> parts;
  int marker = 0;
  bool done = false;
  for (std::size_t page = 0; page < kMaxPartPages && !done; ++page) {
    Call call{.op = "ListParts",
              .method = "GET",
              .key = key,
              .query = {{"uploadId", upload_id}, {"max-parts", "1000"}},
              .payload_sha256 = empty_sha256()};
    if (marker > 0)
      call.query.emplace_back("part-number-marker", std::to_string(marker));
    auto r = co_await exchange(*this, call);
    if (!r)
      co_return core::unexpected(r.error());
    auto got = xml::parse_list_parts(r->body);
    if (!got)
      co_return core::unexpected(malformed(*this, call, got.error()));
    for (Part& p : got->parts) {
      // In number order, each once, after the marker: anything else would
      // make the caller resume from the wrong byte.
      if (p.number <= marker || (!parts.empty() && p.number <= parts.back().number))
        co_return core::unexpected(malformed(*this, call, make_error_code(std::errc::bad_message)));
      parts.push_back(std::move(p));
    }
    if (got->truncated && got->next_marker <= marker)
      co_return core::unexpected(malformed(*this, call, make_error_code(std::errc::bad_message)));
    done = !got->truncated;
    marker = got->next_marker;
  }
  if (!done) {
    spdlog::warn("s3: ListParts {}/{}: more than {} parts", bucket_, key, kMaxPartNumber);
    co_return core::unexpected(Errc::io_error);
  }
  co_return parts;
}

} // namespace berth::vfs::s3
