#pragma once
// AWS Signature Version 4 for S3 requests (header signing), on OpenSSL's
// SHA-256 and HMAC. Pure functions: the clock is passed in.

#include "core/config.hpp"
#include "net/http_client.hpp"

#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth::vfs::s3 {

/// What of a request the signature covers.
struct SignInput {
  std::string_view method;          ///< "GET", "PUT", ...
  std::string_view host;            ///< The Host header's value: host[:port].
  std::string_view canonical_uri;   ///< The URI-encoded path; "/" for none.
  std::string_view canonical_query; ///< Sorted, URI-encoded "a=b&c=d"; empty for none.
  /// Extra headers to sign (x-amz-*, content-md5, range, ...); any case, any order.
  std::vector<net::HttpHeader> headers;
  std::string_view payload_sha256; ///< Lower-case hex of the body, or "UNSIGNED-PAYLOAD".
};

/// The headers to add to the request: authorization, x-amz-date,
/// x-amz-content-sha256, and x-amz-security-token when the profile has a
/// session token. Uses the profile's access_key, secret_key and region.
std::vector<net::HttpHeader> sign_v4(const SignInput& in, const core::S3Profile& profile,
                                     std::chrono::system_clock::time_point now,
                                     std::string_view service = "s3");

/// RFC 3986 encoding as SigV4 wants it: unreserved characters (A-Z a-z 0-9
/// - . _ ~) kept, every other byte %XX in upper case; '/' kept unless
/// `encode_slash`.
std::string uri_encode(std::string_view s, bool encode_slash);

/// The canonical query string of `params` (names and values not yet encoded):
/// each encoded, sorted by name then value, joined "a=b&c=d".
std::string canonical_query(std::vector<std::pair<std::string, std::string>> params);

/// SHA-256 of `data` in lower-case hex.
std::string sha256_hex(std::span<const std::byte> data);

} // namespace berth::vfs::s3
