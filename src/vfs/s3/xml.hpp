#pragma once
// The XML bodies of the S3 REST API: replies parsed into values, request
// bodies built from values. Pure functions, no I/O. Parsing is bounded (body
// size, element count, nesting depth, text length) and refuses a DOCTYPE, so
// no entity can expand; malformed or oversized input is an error value.

#include "core/result.hpp"
#include "vfs/s3/client.hpp"

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace berth::vfs::s3::xml {

/// Largest reply body parsed (a page of 1000 long, entity-escaped keys fits).
inline constexpr std::size_t kMaxBody = 8u << 20;
/// Most elements in one reply (a page of 1000 objects has about 10,000).
inline constexpr std::size_t kMaxElements = 100'000;
/// Deepest nesting accepted (S3 replies nest 3 deep).
inline constexpr std::size_t kMaxDepth = 16;
/// Longest text of one element (keys are at most 1024 bytes).
inline constexpr std::size_t kMaxText = 64u << 10;

/// An S3 <Error> reply.
struct Error {
  std::string code;       ///< "NoSuchKey", "AccessDenied", "SlowDown", ...
  std::string message;    ///< May be empty (radosgw often sends none).
  std::string request_id; ///< RequestId, for the operator to quote.
};

/// One page of ListParts.
struct PartsPage {
  std::vector<Part> parts;
  bool truncated = false;
  int next_marker = 0; ///< NextPartNumberMarker: the part-number-marker of the next page.
};

/// One failed key of a DeleteObjects reply (Quiet mode lists only those).
struct DeleteFailure {
  std::string key;
  std::string code;
  std::string message;
};

// Errors of every parse function: std::errc::bad_message (not well-formed, a
// DOCTYPE, an unexpected root element, a missing or malformed field) or
// std::errc::message_size (past one of the bounds above).

/// ListBucketResult of ListObjectsV2. Keys and prefixes of an
/// EncodingType "url" reply are decoded. next_token is set only when the page
/// is truncated, and a truncated page without a token is an error.
core::Result<ListPage> parse_list_objects(std::string_view body);
/// InitiateMultipartUploadResult: the UploadId.
core::Result<std::string> parse_initiate_multipart(std::string_view body);
/// The ETag (without its quotes) of a CompleteMultipartUploadResult,
/// CopyObjectResult or CopyPartResult.
core::Result<std::string> parse_etag_result(std::string_view body);
/// The ETag of a CompleteMultipartUploadResult; may be empty (radosgw sends
/// an empty <ETag/> there).
core::Result<std::string> parse_complete_multipart(std::string_view body);
/// ListPartsResult.
core::Result<PartsPage> parse_list_parts(std::string_view body);
/// DeleteResult of DeleteObjects: the keys that were not deleted.
core::Result<std::vector<DeleteFailure>> parse_delete_result(std::string_view body);
/// An <Error> document; nullopt when `body` is anything else (empty, not
/// XML, another root element). S3 may send one with status 200 for
/// CopyObject, UploadPartCopy and CompleteMultipartUpload.
std::optional<Error> parse_error(std::string_view body);

/// The CompleteMultipartUpload body for `parts` (numbers and ETags).
core::Result<std::string> build_complete_multipart(std::span<const Part> parts);
/// The Delete body of DeleteObjects for `keys`, Quiet (only failures come back).
/// Error: std::errc::invalid_argument for a key XML 1.0 can not carry (a
/// control character other than tab, LF or CR, or invalid UTF-8).
core::Result<std::string> build_delete(std::span<const std::string> keys);

/// `text` escaped for XML character data and attribute values; false when
/// it holds a character XML 1.0 can not carry.
bool escape(std::string_view text, std::string& out);

/// An ISO-8601 UTC time as S3 lists them ("2026-12-07T21:42:45.000Z").
std::optional<std::chrono::system_clock::time_point> parse_iso8601(std::string_view text);
/// An HTTP date (RFC 9110 IMF-fixdate, "Mon, 07 Dec 2026 21:42:45 GMT").
std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view text);
/// An ETag without its surrounding double quotes (W/ prefixes kept).
std::string unquote_etag(std::string_view etag);

} // namespace berth::vfs::s3::xml
