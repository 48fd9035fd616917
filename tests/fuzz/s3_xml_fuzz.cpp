// Fuzzes the S3 XML codecs (vfs/s3/xml): the first byte picks the reply
// parser, the rest is the body. Every parser must return a value or an error
// (never crash, never read out of bounds); a parsed listing's keys and
// ETags must survive build_delete/build_complete_multipart and parse back.
#include "vfs/s3/xml.hpp"

#include "core/check.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace berth::vfs::s3;

// A key build_delete accepted parses back to itself from the DeleteResult
// form (the same escaping S3 echoes).
void check_round_trip(const std::vector<std::string>& keys) {
  if (keys.empty())
    return;
  for (const auto& k : keys)
    if (k.size() > xml::kMaxText / 8)
      return; // escaped, it could pass the parser's bounds
  auto body = xml::build_delete(keys);
  if (!body)
    return;
  std::string reply = "<DeleteResult>";
  for (const auto& k : keys) {
    std::string escaped;
    BERTH_CHECK(xml::escape(k, escaped));
    reply += "<Error><Key>" + escaped + "</Key><Code>X</Code></Error>";
  }
  reply += "</DeleteResult>";
  auto back = xml::parse_delete_result(reply);
  BERTH_CHECK(back.has_value());
  BERTH_CHECK(back->size() == keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i)
    BERTH_CHECK((*back)[i].key == keys[i]);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 8) {
  case 0: {
    auto page = xml::parse_list_objects(body);
    if (page) {
      BERTH_CHECK(page->objects.size() + page->prefixes.size() <= 1000);
      std::vector<std::string> keys;
      for (const auto& o : page->objects)
        keys.push_back(o.key);
      check_round_trip(keys);
    }
    break;
  }
  case 1: {
    auto id = xml::parse_initiate_multipart(body);
    if (id)
      BERTH_CHECK(!id->empty());
    break;
  }
  case 2: {
    auto etag = xml::parse_etag_result(body);
    if (etag)
      BERTH_CHECK(!etag->empty());
    break;
  }
  case 3: {
    auto page = xml::parse_list_parts(body);
    if (page) {
      for (const auto& p : page->parts)
        BERTH_CHECK(p.number >= 1 && p.number <= 10'000);
      if (!page->parts.empty())
        (void)xml::build_complete_multipart(page->parts);
    }
    break;
  }
  case 4: {
    auto failures = xml::parse_delete_result(body);
    if (failures) {
      std::vector<std::string> keys;
      for (const auto& f : *failures)
        if (!f.key.empty())
          keys.push_back(f.key);
      check_round_trip(keys);
    }
    break;
  }
  case 5:
    (void)xml::parse_error(body);
    break;
  case 6:
    (void)xml::parse_iso8601(body);
    (void)xml::parse_http_date(body);
    break;
  default: {
    // The body as one key.
    std::vector<std::string> keys = {std::string(body)};
    check_round_trip(keys);
    break;
  }
  }
  return 0;
}
