#include "vfs/s3/sigv4.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>

namespace berth::vfs::s3 {
namespace {

using namespace std::chrono_literals;

std::span<const std::byte> bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

std::string header(const std::vector<net::HttpHeader>& headers, std::string_view name) {
  for (const auto& h : headers)
    if (h.name == name)
      return h.value;
  return "(absent)";
}

std::chrono::system_clock::time_point utc(int y, unsigned m, unsigned d, std::chrono::seconds t) {
  return std::chrono::sys_days(std::chrono::year(y) / std::chrono::month(m) / std::chrono::day(d)) +
         t;
}

SignInput request(std::string_view host, std::string_view method, std::string_view uri,
                  std::string_view query, std::vector<net::HttpHeader> headers,
                  std::string_view payload_sha256) {
  return {.method = method,
          .host = host,
          .canonical_uri = uri,
          .canonical_query = query,
          .headers = std::move(headers),
          .payload_sha256 = payload_sha256};
}

const std::string kEmptySha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// The AWS Signature Version 4 test suite: AKIDEXAMPLE, us-east-1, service
// "service", 2015-08-30T12:36:00Z, host example.amazonaws.com.
class SigV4Suite : public ::testing::Test {
protected:
  SigV4Suite() {
    profile_.access_key = "AKIDEXAMPLE";
    profile_.secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    profile_.region = "us-east-1";
  }
  std::vector<net::HttpHeader> sign(const SignInput& in) {
    return sign_v4(in, profile_, utc(2015, 8, 30, 12h + 36min), "service");
  }
  core::S3Profile profile_;
};

TEST_F(SigV4Suite, GetVanilla) {
  SignInput in = request("example.amazonaws.com", "GET", "/", "", {}, kEmptySha);
  auto headers = sign(in);
  EXPECT_EQ(header(headers, "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  EXPECT_EQ(header(headers, "x-amz-date"), "20150830T123600Z");
  // Only S3 takes the payload hash as a header.
  EXPECT_EQ(header(headers, "x-amz-content-sha256"), "(absent)");
  EXPECT_EQ(header(headers, "x-amz-security-token"), "(absent)");
}

TEST_F(SigV4Suite, GetVanillaQueryOrderKeyCase) {
  // GET /?Param2=value2&Param1=value1
  std::string query = canonical_query({{"Param2", "value2"}, {"Param1", "value1"}});
  EXPECT_EQ(query, "Param1=value1&Param2=value2");
  SignInput in = request("example.amazonaws.com", "GET", "/", query, {}, kEmptySha);
  EXPECT_EQ(header(sign(in), "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

TEST_F(SigV4Suite, PostVanilla) {
  SignInput in = request("example.amazonaws.com", "POST", "/", "", {}, kEmptySha);
  EXPECT_EQ(header(sign(in), "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

TEST_F(SigV4Suite, PostXWwwFormUrlencoded) {
  std::string body_sha = sha256_hex(bytes("Param1=value1"));
  EXPECT_EQ(body_sha, "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
  SignInput in = request("example.amazonaws.com", "POST", "/", "",
                         {{"Content-Type", "application/x-www-form-urlencoded"}}, body_sha);
  EXPECT_EQ(header(sign(in), "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-date, "
            "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
}

// The Amazon S3 API Reference's examples of signing in the Authorization
// header: AKIAIOSFODNN7EXAMPLE, us-east-1, 2013-05-24T00:00:00Z, bucket
// examplebucket (virtual-host style). The reference prints the header without
// the blank after each comma; S3 takes both forms.
class SigV4S3 : public ::testing::Test {
protected:
  SigV4S3() {
    profile_.access_key = "AKIAIOSFODNN7EXAMPLE";
    profile_.secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    profile_.region = "us-east-1";
  }
  std::vector<net::HttpHeader> sign(const SignInput& in) {
    return sign_v4(in, profile_, utc(2013, 5, 24, 0s));
  }
  static constexpr std::string_view kHost = "examplebucket.s3.amazonaws.com";
  core::S3Profile profile_;
};

TEST_F(SigV4S3, GetObjectWithRange) {
  SignInput in = request(kHost, "GET", "/test.txt", "", {{"Range", "bytes=0-9"}}, kEmptySha);
  auto headers = sign(in);
  EXPECT_EQ(header(headers, "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_EQ(header(headers, "x-amz-date"), "20130524T000000Z");
  EXPECT_EQ(header(headers, "x-amz-content-sha256"), kEmptySha);
}

TEST_F(SigV4S3, PutObject) {
  std::string body_sha = sha256_hex(bytes("Welcome to Amazon S3."));
  EXPECT_EQ(body_sha, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  std::string uri = uri_encode("/test$file.text", false);
  EXPECT_EQ(uri, "/test%24file.text");
  SignInput in = request(
      kHost, "PUT", uri, "",
      {{"Date", "Fri, 24 May 2013 00:00:00 GMT"}, {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
      body_sha);
  auto headers = sign(in);
  EXPECT_EQ(header(headers, "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
            "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
  EXPECT_EQ(header(headers, "x-amz-content-sha256"), body_sha);
}

TEST_F(SigV4S3, GetBucketLifecycle) {
  // GET /?lifecycle: a parameter without a value is signed "lifecycle=".
  std::string query = canonical_query({{"lifecycle", ""}});
  EXPECT_EQ(query, "lifecycle=");
  SignInput in = request(kHost, "GET", "/", query, {}, kEmptySha);
  EXPECT_EQ(header(sign(in), "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
            "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST_F(SigV4S3, ListObjects) {
  // GET /?max-keys=2&prefix=J, given out of order.
  std::string query = canonical_query({{"prefix", "J"}, {"max-keys", "2"}});
  EXPECT_EQ(query, "max-keys=2&prefix=J");
  SignInput in = request(kHost, "GET", "/", query, {}, kEmptySha);
  EXPECT_EQ(header(sign(in), "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
            "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST_F(SigV4S3, SessionTokenIsSentAndSigned) {
  profile_.session_token = "token/with+chars=";
  SignInput in = request(kHost, "GET", "/", "", {}, kEmptySha);
  auto headers = sign(in);
  EXPECT_EQ(header(headers, "x-amz-security-token"), "token/with+chars=");
  auto auth = header(headers, "authorization");
  EXPECT_NE(auth.find("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"),
            std::string::npos)
      << auth;
  // A different token is a different signature.
  profile_.session_token = "other";
  EXPECT_NE(header(sign(in), "authorization"), auth);
}

TEST_F(SigV4S3, HeaderValuesAreTrimmedAndNamesLowered) {
  SignInput plain = request(kHost, "GET", "/test.txt", "", {{"range", "bytes=0-9"}}, kEmptySha);
  SignInput spaced = plain;
  spaced.headers = {{"RANGE", "  bytes=0-9 \t"}};
  EXPECT_EQ(header(sign(spaced), "authorization"), header(sign(plain), "authorization"));
}

TEST(SigV4Encoding, UriEncode) {
  EXPECT_EQ(uri_encode("A-Za-z0-9-._~", true), "A-Za-z0-9-._~");
  EXPECT_EQ(uri_encode("a b+c", true), "a%20b%2Bc");
  EXPECT_EQ(uri_encode("dir/file name", false), "dir/file%20name");
  EXPECT_EQ(uri_encode("dir/file", true), "dir%2Ffile");
  EXPECT_EQ(uri_encode("!'()*=&?#%", true), "%21%27%28%29%2A%3D%26%3F%23%25");
  EXPECT_EQ(uri_encode("\xc3\xa9t\xc3\xa9", true), "%C3%A9t%C3%A9"); // "été" in UTF-8
  EXPECT_EQ(uri_encode("", true), "");
}

TEST(SigV4Encoding, CanonicalQuerySortsEncodedNamesThenValues) {
  EXPECT_EQ(canonical_query({}), "");
  EXPECT_EQ(canonical_query({{"prefix", "a b/c"}, {"list-type", "2"}, {"delimiter", "/"}}),
            "delimiter=%2F&list-type=2&prefix=a%20b%2Fc");
  EXPECT_EQ(canonical_query({{"uploadId", "x+y"}, {"partNumber", "10"}}),
            "partNumber=10&uploadId=x%2By");
  EXPECT_EQ(canonical_query({{"a", "2"}, {"a", "1"}}), "a=1&a=2");
}

TEST(SigV4Encoding, Sha256Hex) {
  EXPECT_EQ(sha256_hex({}), kEmptySha);
  EXPECT_EQ(sha256_hex(bytes("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

} // namespace
} // namespace berth::vfs::s3
