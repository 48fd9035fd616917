#include "vfs/s3/sigv4.hpp"

#include "core/check.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>

namespace berth::vfs::s3 {
namespace {

using Digest = std::array<unsigned char, 32>;

constexpr char kHex[] = "0123456789abcdef";

std::string hex(std::span<const unsigned char> bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  return out;
}

Digest sha256(std::string_view data) {
  Digest d{};
  unsigned int len = 0;
  BERTH_CHECK(EVP_Digest(data.data(), data.size(), d.data(), &len, EVP_sha256(), nullptr) == 1);
  return d;
}

Digest hmac(std::span<const unsigned char> key, std::string_view data) {
  Digest d{};
  unsigned int len = 0;
  BERTH_CHECK(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                   reinterpret_cast<const unsigned char*>(data.data()), data.size(), d.data(),
                   &len) != nullptr);
  return d;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A header value as SigV4 signs it: leading and trailing blanks removed,
// inner runs of blanks as one space.
std::string signed_value(std::string_view v) {
  std::string out;
  bool blank = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      blank = true;
      continue;
    }
    if (blank && !out.empty())
      out.push_back(' ');
    blank = false;
    out.push_back(c);
  }
  return out;
}

// "20150830T123600Z" and "20150830".
struct Stamp {
  std::string time;
  std::string date;
};

Stamp stamp(std::chrono::system_clock::time_point now) {
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[17];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  std::string time(buf);
  return {time, time.substr(0, 8)};
}

} // namespace

std::string uri_encode(std::string_view s, bool encode_slash) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (c == '/' && !encode_slash)) {
      out.push_back(ch);
    } else {
      static constexpr char kUpper[] = "0123456789ABCDEF";
      out.push_back('%');
      out.push_back(kUpper[c >> 4]);
      out.push_back(kUpper[c & 0xf]);
    }
  }
  return out;
}

std::string canonical_query(std::vector<std::pair<std::string, std::string>> params) {
  for (auto& [name, value] : params) {
    name = uri_encode(name, true);
    value = uri_encode(value, true);
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty())
      out.push_back('&');
    out += name;
    out.push_back('=');
    out += value;
  }
  return out;
}

std::string sha256_hex(std::span<const std::byte> data) {
  return hex(sha256(std::string_view(reinterpret_cast<const char*>(data.data()), data.size())));
}

std::vector<net::HttpHeader> sign_v4(const SignInput& in, const core::S3Profile& profile,
                                     std::chrono::system_clock::time_point now,
                                     std::string_view service) {
  const Stamp when = stamp(now);
  std::vector<net::HttpHeader> added;
  added.push_back({"x-amz-date", when.time});
  // S3 wants the payload's hash in a header of its own, and signed.
  if (service == "s3")
    added.push_back({"x-amz-content-sha256", std::string(in.payload_sha256)});
  if (!profile.session_token.empty())
    added.push_back({"x-amz-security-token", profile.session_token});

  // Canonical headers: lower-case names, sorted; repeated names joined by ','.
  std::vector<std::pair<std::string, std::string>> headers;
  headers.emplace_back("host", signed_value(in.host));
  for (const auto& h : in.headers)
    headers.emplace_back(lower(h.name), signed_value(h.value));
  for (const auto& h : added)
    headers.emplace_back(h.name, h.value);
  std::stable_sort(headers.begin(), headers.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string canonical_headers;
  std::string signed_headers;
  for (std::size_t i = 0; i < headers.size(); ++i) {
    if (i > 0 && headers[i].first == headers[i - 1].first) {
      canonical_headers.pop_back(); // the '\n'
      canonical_headers += ',' + headers[i].second + '\n';
      continue;
    }
    canonical_headers += headers[i].first + ':' + headers[i].second + '\n';
    if (!signed_headers.empty())
      signed_headers.push_back(';');
    signed_headers += headers[i].first;
  }

  std::string canonical_request;
  canonical_request += in.method;
  canonical_request += '\n';
  canonical_request += in.canonical_uri.empty() ? std::string_view("/") : in.canonical_uri;
  canonical_request += '\n';
  canonical_request += in.canonical_query;
  canonical_request += '\n';
  canonical_request += canonical_headers;
  canonical_request += '\n';
  canonical_request += signed_headers;
  canonical_request += '\n';
  canonical_request += in.payload_sha256;

  std::string scope =
      when.date + '/' + profile.region + '/' + std::string(service) + "/aws4_request";
  std::string to_sign =
      "AWS4-HMAC-SHA256\n" + when.time + '\n' + scope + '\n' + hex(sha256(canonical_request));

  std::string secret = "AWS4" + profile.secret_key;
  auto key =
      hmac({reinterpret_cast<const unsigned char*>(secret.data()), secret.size()}, when.date);
  key = hmac(key, profile.region);
  key = hmac(key, service);
  key = hmac(key, "aws4_request");
  std::string signature = hex(hmac(key, to_sign));

  added.insert(added.begin(),
               {"authorization", "AWS4-HMAC-SHA256 Credential=" + profile.access_key + '/' + scope +
                                     ", SignedHeaders=" + signed_headers +
                                     ", Signature=" + signature});
  return added;
}

} // namespace berth::vfs::s3
