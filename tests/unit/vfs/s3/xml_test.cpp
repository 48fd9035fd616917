#include "vfs/s3/xml.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace {

using namespace berth::vfs::s3;
using namespace berth::vfs::s3::xml;
using namespace std::chrono;

// As radosgw (Ceph 16) sends it: one line, the S3 namespace, quoted ETags
// escaped as &quot;, an entity-escaped key.
constexpr std::string_view kRgwList =
    R"(<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bucket</Name><Prefix>dir/</Prefix><MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><IsTruncated>false</IsTruncated><Contents><Key>dir/a&amp;b</Key><LastModified>2026-12-07T21:42:45.123Z</LastModified><ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag><Size>0</Size><StorageClass>STANDARD</StorageClass><Owner><ID>tester</ID><DisplayName>Tester</DisplayName></Owner><Type>Normal</Type></Contents><Contents><Key>dir/big &lt;1&gt;</Key><LastModified>2026-12-07T21:42:46.000Z</LastModified><ETag>&quot;0123456789abcdef0123456789abcdef-3&quot;</ETag><Size>20971520</Size><StorageClass>STANDARD</StorageClass></Contents><CommonPrefixes><Prefix>dir/sub/</Prefix></CommonPrefixes><KeyCount>3</KeyCount></ListBucketResult>)";

// As AWS S3 sends it: indented, literal quotes, truncated with a token.
constexpr std::string_view kAwsList = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name>
  <Prefix></Prefix>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <KeyCount>2</KeyCount>
  <MaxKeys>2</MaxKeys>
  <IsTruncated>true</IsTruncated>
  <Contents>
    <Key> lead space</Key>
    <LastModified>2009-10-12T17:50:30.000Z</LastModified>
    <ETag>"fba9dede5f27731c9771645a39863328"</ETag>
    <Size>434234</Size>
    <StorageClass>STANDARD</StorageClass>
  </Contents>
  <Contents>
    <Key>caf&#xE9;/&#233;t&#233;</Key>
    <LastModified>2009-10-12T17:50:31Z</LastModified>
    <ETag>"fba9dede5f27731c9771645a39863329"</ETag>
    <Size>1</Size>
  </Contents>
</ListBucketResult>
)";

TEST(S3Xml, ParsesRadosgwListing) {
  auto page = parse_list_objects(kRgwList);
  ASSERT_TRUE(page) << page.error().message();
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "dir/a&b");
  EXPECT_EQ(page->objects[0].size, 0u);
  EXPECT_EQ(page->objects[0].etag, "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(page->objects[0].last_modified,
            sys_days{2026y / December / 7} + 21h + 42min + 45s + 123ms);
  EXPECT_EQ(page->objects[1].key, "dir/big <1>");
  EXPECT_EQ(page->objects[1].size, 20971520u);
  EXPECT_EQ(page->objects[1].etag, "0123456789abcdef0123456789abcdef-3");
  EXPECT_EQ(page->prefixes, std::vector<std::string>{"dir/sub/"});
  EXPECT_EQ(page->next_token, "");
}

TEST(S3Xml, ParsesAwsListingWithTokenAndKeepsKeyWhitespace) {
  auto page = parse_list_objects(kAwsList);
  ASSERT_TRUE(page) << page.error().message();
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, " lead space");
  EXPECT_EQ(page->objects[0].etag, "fba9dede5f27731c9771645a39863328");
  EXPECT_EQ(page->objects[1].key, "caf\xC3\xA9/\xC3\xA9t\xC3\xA9");
  EXPECT_EQ(page->objects[1].last_modified, sys_days{2009y / October / 12} + 17h + 50min + 31s);
  EXPECT_TRUE(page->prefixes.empty());
  EXPECT_EQ(page->next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
}

TEST(S3Xml, DecodesUrlEncodedListing) {
  constexpr std::string_view body =
      R"(<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated><Contents><Key>a%01b+c%2Bd%20e</Key><Size>5</Size></Contents><CommonPrefixes><Prefix>p%0A/</Prefix></CommonPrefixes></ListBucketResult>)";
  auto page = parse_list_objects(body);
  ASSERT_TRUE(page) << page.error().message();
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, std::string("a\x01") + "b c+d e");
  EXPECT_EQ(page->prefixes, std::vector<std::string>{"p\n/"});
  EXPECT_FALSE(parse_list_objects(
      R"(<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>a%2</Key><Size>1</Size></Contents></ListBucketResult>)"));
}

TEST(S3Xml, RefusesBrokenListings) {
  const std::vector<std::string_view> bad = {
      "",
      "not xml",
      "<ListBucketResult>",                              // unclosed
      "<Other><IsTruncated>false</IsTruncated></Other>", // wrong root
      "<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
      // truncated without a token: the caller would loop on the first page
      "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
      "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
      "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
      "<ListBucketResult><Contents><Key>k</Key><Size>1</Size>"
      "<LastModified>yesterday</LastModified></Contents></ListBucketResult>",
      "<ListBucketResult><Contents><Key>a&bogus;</Key><Size>1</Size></Contents></ListBucketResult>",
      "<a/><b/>",
  };
  for (auto body : bad)
    EXPECT_FALSE(parse_list_objects(body)) << body;
}

TEST(S3Xml, RefusesDoctypeAndEntities) {
  constexpr std::string_view laughs =
      R"(<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><ListBucketResult><Contents><Key>&b;</Key><Size>1</Size></Contents></ListBucketResult>)";
  auto page = parse_list_objects(laughs);
  ASSERT_FALSE(page);
  EXPECT_EQ(page.error(), std::errc::bad_message);
  constexpr std::string_view external =
      R"(<!DOCTYPE r SYSTEM "file:///etc/passwd"><Error><Code>&x;</Code></Error>)";
  EXPECT_FALSE(parse_error(external));
}

TEST(S3Xml, BoundsDepthCountAndSize) {
  std::string deep;
  for (int i = 0; i < 100'000; ++i)
    deep += "<a>";
  auto r = parse_list_objects(deep);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::message_size);

  std::string many = "<ListBucketResult><IsTruncated>false</IsTruncated>";
  for (int i = 0; i < 1001; ++i)
    many += "<CommonPrefixes><Prefix>p" + std::to_string(i) + "/</Prefix></CommonPrefixes>";
  many += "</ListBucketResult>";
  r = parse_list_objects(many);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::errc::message_size);

  std::string wide = "<r>";
  for (std::size_t i = 0; i <= kMaxElements; ++i)
    wide += "<x/>";
  wide += "</r>";
  EXPECT_FALSE(parse_list_objects(wide));

  std::string huge =
      "<Error><Code>x</Code><Message>" + std::string(kMaxText + 1, 'm') + "</Message></Error>";
  EXPECT_FALSE(parse_error(huge));
  EXPECT_FALSE(parse_list_objects(std::string(kMaxBody + 1, ' ')));
}

TEST(S3Xml, ParsesMultipartReplies) {
  auto id = parse_initiate_multipart(
      R"(<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Tenant></Tenant><Bucket>bucket</Bucket><Key>a&amp;b</Key><UploadId>2~fJkLRPTXdnTYo0ZsDo2bk0OQ8Np_7gE</UploadId></InitiateMultipartUploadResult>)");
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, "2~fJkLRPTXdnTYo0ZsDo2bk0OQ8Np_7gE");
  EXPECT_FALSE(parse_initiate_multipart("<InitiateMultipartUploadResult/>"));

  auto etag = parse_etag_result(
      R"(<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Location>http://127.0.0.1/bucket/k</Location><Bucket>bucket</Bucket><Key>k</Key><ETag>&quot;9b2cf535f27731c974343645a3985328-2&quot;</ETag></CompleteMultipartUploadResult>)");
  ASSERT_TRUE(etag);
  EXPECT_EQ(*etag, "9b2cf535f27731c974343645a3985328-2");
  etag = parse_etag_result(
      R"(<CopyObjectResult><LastModified>2026-12-07T21:42:45.000Z</LastModified><ETag>"abc"</ETag></CopyObjectResult>)");
  ASSERT_TRUE(etag);
  EXPECT_EQ(*etag, "abc");
  etag = parse_etag_result(
      R"(<CopyPartResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LastModified>2026-12-07T21:42:45.000Z</LastModified><ETag>&quot;def&quot;</ETag></CopyPartResult>)");
  ASSERT_TRUE(etag);
  EXPECT_EQ(*etag, "def");
  EXPECT_FALSE(parse_etag_result("<Error><Code>InternalError</Code></Error>"));
  // radosgw (Ceph 16) completes with an empty ETag.
  auto done = parse_complete_multipart(
      R"(<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Location>127.0.0.1/b/k</Location><Bucket>b</Bucket><Key>k</Key><ETag></ETag></CompleteMultipartUploadResult>)");
  ASSERT_TRUE(done);
  EXPECT_EQ(*done, "");
  EXPECT_FALSE(parse_complete_multipart("<CopyObjectResult><ETag>x</ETag></CopyObjectResult>"));
  EXPECT_FALSE(parse_etag_result("<CopyObjectResult></CopyObjectResult>"));
}

TEST(S3Xml, ParsesListParts) {
  auto page = parse_list_parts(
      R"(<?xml version="1.0" encoding="UTF-8"?><ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket><Key>k</Key><UploadId>2~x</UploadId><StorageClass>STANDARD</StorageClass><PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>2</NextPartNumberMarker><MaxParts>2</MaxParts><IsTruncated>true</IsTruncated><Part><LastModified>2026-12-07T21:42:45.000Z</LastModified><PartNumber>1</PartNumber><ETag>&quot;e1&quot;</ETag><Size>5242880</Size></Part><Part><LastModified>2026-12-07T21:42:45.000Z</LastModified><PartNumber>2</PartNumber><ETag>&quot;e2&quot;</ETag><Size>7</Size></Part></ListPartsResult>)");
  ASSERT_TRUE(page) << page.error().message();
  ASSERT_EQ(page->parts.size(), 2u);
  EXPECT_EQ(page->parts[0].number, 1);
  EXPECT_EQ(page->parts[0].etag, "e1");
  EXPECT_EQ(page->parts[0].size, 5242880u);
  EXPECT_EQ(page->parts[1].number, 2);
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_marker, 2);

  auto last =
      parse_list_parts("<ListPartsResult><IsTruncated>false</IsTruncated></ListPartsResult>");
  ASSERT_TRUE(last);
  EXPECT_TRUE(last->parts.empty());
  EXPECT_FALSE(last->truncated);
  EXPECT_FALSE(parse_list_parts(
      "<ListPartsResult><Part><PartNumber>0</PartNumber><ETag>x</ETag><Size>1</Size></Part>"
      "</ListPartsResult>"));
  EXPECT_FALSE(
      parse_list_parts("<ListPartsResult><IsTruncated>true</IsTruncated></ListPartsResult>"));
}

TEST(S3Xml, ParsesErrors) {
  auto e = parse_error(
      R"(<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message></Message><BucketName>bucket</BucketName><RequestId>tx00000a1b2c3d4e5f6-0065-default</RequestId><HostId>1234-default-default</HostId></Error>)");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "NoSuchKey");
  EXPECT_EQ(e->message, "");
  EXPECT_EQ(e->request_id, "tx00000a1b2c3d4e5f6-0065-default");
  e = parse_error(R"(<?xml version="1.0" encoding="UTF-8"?>
<Error>
  <Code>SignatureDoesNotMatch</Code>
  <Message>The request signature we calculated does not match &amp; so on</Message>
  <RequestId>4442587FB7D0A2F9</RequestId>
</Error>)");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "SignatureDoesNotMatch");
  EXPECT_EQ(e->message, "The request signature we calculated does not match & so on");
  EXPECT_EQ(e->request_id, "4442587FB7D0A2F9");
  EXPECT_FALSE(parse_error(""));
  EXPECT_FALSE(parse_error("<html>502 Bad Gateway</html>"));
  EXPECT_FALSE(parse_error("<Error><Message>no code</Message></Error>"));
}

TEST(S3Xml, ParsesDeleteResult) {
  auto r = parse_delete_result(
      R"(<?xml version="1.0" encoding="UTF-8"?><DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Error><Key>a&amp;b</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error></DeleteResult>)");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].key, "a&b");
  EXPECT_EQ((*r)[0].code, "AccessDenied");
  auto none = parse_delete_result(
      R"(<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></DeleteResult>)");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(S3Xml, BuildsCompleteMultipart) {
  const std::vector<Part> parts = {{1, "\"e1\"", 0}, {2, "e2-x", 0}};
  auto body = build_complete_multipart(parts);
  ASSERT_TRUE(body);
  EXPECT_EQ(
      *body,
      R"(<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><PartNumber>1</PartNumber><ETag>&quot;e1&quot;</ETag></Part><Part><PartNumber>2</PartNumber><ETag>&quot;e2-x&quot;</ETag></Part></CompleteMultipartUpload>)");
  EXPECT_FALSE(build_complete_multipart({}));
  const std::vector<Part> bad = {{0, "e", 0}};
  EXPECT_FALSE(build_complete_multipart(bad));
}

TEST(S3Xml, BuildsDeleteWithEscapedKeys) {
  const std::vector<std::string> keys = {"a&b", "<x>\"'", "l\r\n\tf", "caf\xC3\xA9"};
  auto body = build_delete(keys);
  ASSERT_TRUE(body);
  EXPECT_EQ(
      *body,
      R"(<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet><Object><Key>a&amp;b</Key></Object><Object><Key>&lt;x&gt;&quot;&apos;</Key></Object><Object><Key>l&#13;&#10;&#9;f</Key></Object><Object><Key>caf)"
      "\xC3\xA9"
      R"(</Key></Object></Delete>)");
  // Not representable in XML 1.0, or not UTF-8: refused, not sent garbled.
  for (std::string k : {std::string("a\x01"), std::string("\xC3"), std::string("\xED\xA0\x80"),
                        std::string("\xEF\xBF\xBE"), std::string()}) {
    const std::vector<std::string> one = {k};
    EXPECT_FALSE(build_delete(one)) << k;
  }
  EXPECT_FALSE(build_delete({}));
  std::vector<std::string> many(1001, "k");
  EXPECT_FALSE(build_delete(many));
}

TEST(S3Xml, EscapedKeysParseBackToThemselves) {
  // What build_delete writes, expat reads back unchanged (CR included).
  const std::string key = "a&b <c> \"d\" 'e' \r\n\t caf\xC3\xA9 \xF0\x9F\x98\x80";
  std::string escaped;
  ASSERT_TRUE(escape(key, escaped));
  auto r = parse_delete_result("<DeleteResult><Error><Key>" + escaped +
                               "</Key><Code>X</Code></Error></DeleteResult>");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].key, key);
}

TEST(S3Xml, ParsesTimes) {
  EXPECT_EQ(parse_iso8601("2026-12-07T21:42:45Z"),
            sys_days{2026y / December / 7} + 21h + 42min + 45s);
  EXPECT_EQ(parse_iso8601("2026-12-07T21:42:45.5Z"),
            sys_days{2026y / December / 7} + 21h + 42min + 45s + 500ms);
  EXPECT_EQ(parse_iso8601("2024-02-29T00:00:00.000000Z"), sys_days{2024y / February / 29});
  for (std::string_view bad :
       {"", "2026-12-07", "2026-12-07T21:42:45", "2026-13-07T21:42:45Z", "2023-02-29T00:00:00Z",
        "2026-12-07T24:00:00Z", "2026-12-07T21:42:45.Z", "2026-12-07T21:42:45+01:00",
        "2026-12-07T21:4x:45Z"})
    EXPECT_FALSE(parse_iso8601(bad)) << bad;
  EXPECT_EQ(parse_http_date("Mon, 07 Dec 2026 21:42:45 GMT"),
            sys_days{2026y / December / 7} + 21h + 42min + 45s);
  for (std::string_view bad : {"", "Mon, 07 Dec 2026 21:42:45 UTC", "Mon, 07 Foo 2026 21:42:45 GMT",
                               "Monday, 07-Dec-26 21:42:45 GMT", "Mon, 31 Feb 2026 21:42:45 GMT",
                               // past what system_clock's nanoseconds hold (found by fuzzing)
                               "Mon, 07 Dec 9034 21:42:45 GMT"})
    EXPECT_FALSE(parse_http_date(bad)) << bad;
}

TEST(S3Xml, UnquotesEtags) {
  EXPECT_EQ(unquote_etag("\"abc\""), "abc");
  EXPECT_EQ(unquote_etag("abc"), "abc");
  EXPECT_EQ(unquote_etag("\""), "\"");
  EXPECT_EQ(unquote_etag(""), "");
}

} // namespace
