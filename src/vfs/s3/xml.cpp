#include "vfs/s3/xml.hpp"

#include <expat.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <limits>
#include <memory>

namespace berth::vfs::s3::xml {
namespace {

constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();
// ListObjectsV2 answers at most 1000 entries a page, DeleteObjects takes 1000
// keys; ListParts pages are 1000 parts, but a whole upload has at most 10,000.
constexpr std::size_t kMaxListEntries = 1000;
constexpr std::size_t kMaxParts = 10'000;
constexpr std::string_view kNamespace = "http://s3.amazonaws.com/doc/2006-03-01/";

core::Unexpected bad() {
  return core::unexpected(std::make_error_code(std::errc::bad_message));
}

/// A parsed document as a flat tree: element local names (the namespace
/// prefix dropped; S3 puts its namespace on the root) and their text.
struct Node {
  std::string name;
  std::string text;
  std::size_t first_child = kNone;
  std::size_t last_child = kNone;
  std::size_t next_sibling = kNone;
};

class Doc {
public:
  /// Parses `body`; the root is node 0.
  static core::Result<Doc> parse(std::string_view body);

  const Node& root() const { return nodes_[0]; }
  /// The first child of `n` named `name`, or null.
  const Node* child(const Node& n, std::string_view name) const {
    for (std::size_t i = n.first_child; i != kNone; i = nodes_[i].next_sibling)
      if (nodes_[i].name == name)
        return &nodes_[i];
    return nullptr;
  }
  /// Calls f(child) for each child of `n` named `name` until f returns false.
  template <class F> bool each(const Node& n, std::string_view name, F&& f) const {
    for (std::size_t i = n.first_child; i != kNone; i = nodes_[i].next_sibling)
      if (nodes_[i].name == name && !f(nodes_[i]))
        return false;
    return true;
  }
  /// The text of the first child named `name`, or null.
  const std::string* text(const Node& n, std::string_view name) const {
    const Node* c = child(n, name);
    return c ? &c->text : nullptr;
  }

private:
  struct Builder;
  std::vector<Node> nodes_;
};

struct Doc::Builder {
  XML_Parser parser = nullptr;
  std::vector<Node> nodes;
  std::vector<std::size_t> open; // the elements not yet closed, innermost last
  std::error_code error;

  void fail(std::errc e) {
    if (!error)
      error = std::make_error_code(e);
    XML_StopParser(parser, XML_FALSE);
  }

  static void on_start(void* self, const XML_Char* name, const XML_Char** /*attrs*/) {
    auto& b = *static_cast<Builder*>(self);
    if (b.error)
      return;
    if (b.nodes.size() >= kMaxElements || b.open.size() >= kMaxDepth)
      return b.fail(std::errc::message_size);
    if (b.open.empty() && !b.nodes.empty())
      return b.fail(std::errc::bad_message); // expat refuses a second root first
    std::string_view local(name);
    if (auto colon = local.rfind(':'); colon != std::string_view::npos)
      local.remove_prefix(colon + 1);
    const std::size_t idx = b.nodes.size();
    b.nodes.push_back(Node{std::string(local), {}, kNone, kNone, kNone});
    if (!b.open.empty()) {
      Node& parent = b.nodes[b.open.back()];
      // S3 has no mixed content: a container's text is indentation.
      parent.text.clear();
      if (parent.last_child == kNone)
        parent.first_child = idx;
      else
        b.nodes[parent.last_child].next_sibling = idx;
      parent.last_child = idx;
    }
    b.open.push_back(idx);
  }

  static void on_end(void* self, const XML_Char* /*name*/) {
    auto& b = *static_cast<Builder*>(self);
    if (!b.error && !b.open.empty())
      b.open.pop_back();
  }

  static void on_text(void* self, const XML_Char* s, int len) {
    auto& b = *static_cast<Builder*>(self);
    if (b.error || b.open.empty() || len <= 0)
      return;
    Node& n = b.nodes[b.open.back()];
    if (n.first_child != kNone)
      return;
    if (n.text.size() + static_cast<std::size_t>(len) > kMaxText)
      return b.fail(std::errc::message_size);
    n.text.append(s, static_cast<std::size_t>(len));
  }

  // SECURITY: S3 replies never carry a DTD; refusing one means no entity is
  // ever declared, so none can expand (billion laughs) or load a file.
  static void on_doctype(void* self, const XML_Char*, const XML_Char*, const XML_Char*, int) {
    static_cast<Builder*>(self)->fail(std::errc::bad_message);
  }
};

core::Result<Doc> Doc::parse(std::string_view body) {
  if (body.size() > kMaxBody)
    return core::unexpected(std::make_error_code(std::errc::message_size));
  std::unique_ptr<XML_ParserStruct, decltype(&XML_ParserFree)> parser(XML_ParserCreate(nullptr),
                                                                      &XML_ParserFree);
  if (!parser)
    return core::unexpected(std::make_error_code(std::errc::not_enough_memory));
  Builder b;
  b.parser = parser.get();
  XML_SetUserData(b.parser, &b);
  XML_SetElementHandler(b.parser, &Builder::on_start, &Builder::on_end);
  XML_SetCharacterDataHandler(b.parser, &Builder::on_text);
  XML_SetStartDoctypeDeclHandler(b.parser, &Builder::on_doctype);
  XML_SetParamEntityParsing(b.parser, XML_PARAM_ENTITY_PARSING_NEVER);
  const auto status =
      XML_Parse(b.parser, body.data(), static_cast<int>(body.size()), /*isFinal=*/XML_TRUE);
  if (b.error)
    return core::unexpected(b.error);
  if (status != XML_STATUS_OK || b.nodes.empty())
    return bad();
  Doc d;
  d.nodes_ = std::move(b.nodes);
  return d;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

template <class T> std::optional<T> to_number(std::string_view s) {
  s = trim(s);
  T v{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || s.empty())
    return std::nullopt;
  return v;
}

std::optional<bool> to_bool(const std::string* s) {
  if (!s)
    return false; // absent: not truncated
  auto t = trim(*s);
  if (t == "true")
    return true;
  if (t == "false")
    return false;
  return std::nullopt;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

// EncodingType=url: form encoding as S3 writes it ('+' is a space, as the
// AWS SDKs decode it; a literal '+' comes as %2B).
std::optional<std::string> url_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%') {
      if (i + 2 >= s.size())
        return std::nullopt;
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0)
        return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool expect_root(const Doc& d, std::string_view name) {
  return d.root().name == name;
}

void open_document(std::string& out, std::string_view root) {
  out += R"(<?xml version="1.0" encoding="UTF-8"?>)";
  out += '<';
  out += root;
  out += " xmlns=\"";
  out += kNamespace;
  out += "\">";
}

// One UTF-8 sequence at s[i]: its code point and length, or nullopt.
std::optional<std::pair<char32_t, std::size_t>> next_code_point(std::string_view s, std::size_t i) {
  const auto c0 = static_cast<unsigned char>(s[i]);
  if (c0 < 0x80)
    return std::pair<char32_t, std::size_t>{c0, 1};
  std::size_t len = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if ((c0 & 0xE0) == 0xC0) {
    len = 2, cp = c0 & 0x1F, min = 0x80;
  } else if ((c0 & 0xF0) == 0xE0) {
    len = 3, cp = c0 & 0x0F, min = 0x800;
  } else if ((c0 & 0xF8) == 0xF0) {
    len = 4, cp = c0 & 0x07, min = 0x10000;
  } else {
    return std::nullopt;
  }
  if (i + len > s.size())
    return std::nullopt;
  for (std::size_t k = 1; k < len; ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80)
      return std::nullopt;
    cp = (cp << 6) | (c & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return std::nullopt;
  return std::pair<char32_t, std::size_t>{cp, len};
}

// Digits of a fixed-width unsigned field, or -1.
int digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size())
    return -1;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

std::optional<std::chrono::system_clock::time_point> make_time(int y, int mo, int d, int h, int mi,
                                                               int s) {
  using namespace std::chrono;
  // system_clock counts nanoseconds: years past 2262 overflow it.
  if (y < 1970 || y > 2200 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
      s < 0 || s > 60)
    return std::nullopt;
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                           day{static_cast<unsigned>(d)}};
  if (!ymd.ok())
    return std::nullopt;
  return time_point_cast<system_clock::duration>(sys_days{ymd} + hours{h} + minutes{mi} +
                                                 seconds{s});
}

} // namespace

bool escape(std::string_view text, std::string& out) {
  for (std::size_t i = 0; i < text.size();) {
    auto cp = next_code_point(text, i);
    if (!cp)
      return false;
    const auto [c, len] = *cp;
    // XML 1.0 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
    if ((c < 0x20 && c != 0x9 && c != 0xA && c != 0xD) || c == 0xFFFE || c == 0xFFFF)
      return false;
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    case '\'':
      out += "&apos;";
      break;
    // As references, so that the server's parser does not normalise them
    // (XML 1.0 §2.11 turns a literal CR into LF).
    case 0x9:
      out += "&#9;";
      break;
    case 0xA:
      out += "&#10;";
      break;
    case 0xD:
      out += "&#13;";
      break;
    default:
      out.append(text.substr(i, len));
    }
    i += len;
  }
  return true;
}

core::Result<ListPage> parse_list_objects(std::string_view body) {
  auto doc = Doc::parse(body);
  if (!doc)
    return core::unexpected(doc.error());
  const Doc& d = *doc;
  if (!expect_root(d, "ListBucketResult"))
    return bad();
  const std::string* encoding = d.text(d.root(), "EncodingType");
  const bool url = encoding && trim(*encoding) == "url";
  auto decode = [url](const std::string& s) -> std::optional<std::string> {
    return url ? url_decode(s) : std::optional<std::string>(s);
  };
  ListPage page;
  std::size_t entries = 0;
  bool ok = d.each(d.root(), "Contents", [&](const Node& c) {
    if (++entries > kMaxListEntries)
      return false;
    const std::string* key = d.text(c, "Key");
    const std::string* size = d.text(c, "Size");
    if (!key || !size)
      return false;
    ObjectInfo info;
    auto k = decode(*key);
    auto n = to_number<std::uint64_t>(*size);
    if (!k || k->empty() || !n)
      return false;
    info.key = std::move(*k);
    info.size = *n;
    if (const std::string* lm = d.text(c, "LastModified")) {
      auto t = parse_iso8601(trim(*lm));
      if (!t)
        return false;
      info.last_modified = *t;
    }
    if (const std::string* etag = d.text(c, "ETag"))
      info.etag = unquote_etag(trim(*etag));
    page.objects.push_back(std::move(info));
    return true;
  });
  ok = ok && d.each(d.root(), "CommonPrefixes", [&](const Node& c) {
    if (++entries > kMaxListEntries)
      return false;
    const std::string* prefix = d.text(c, "Prefix");
    if (!prefix)
      return false;
    auto p = decode(*prefix);
    if (!p || p->empty())
      return false;
    page.prefixes.push_back(std::move(*p));
    return true;
  });
  if (!ok)
    return entries > kMaxListEntries
               ? core::unexpected(std::make_error_code(std::errc::message_size))
               : bad();
  auto truncated = to_bool(d.text(d.root(), "IsTruncated"));
  if (!truncated)
    return bad();
  if (*truncated) {
    const std::string* token = d.text(d.root(), "NextContinuationToken");
    if (!token || token->empty())
      return bad();
    page.next_token = *token;
  }
  return page;
}

core::Result<std::string> parse_initiate_multipart(std::string_view body) {
  auto doc = Doc::parse(body);
  if (!doc)
    return core::unexpected(doc.error());
  if (!expect_root(*doc, "InitiateMultipartUploadResult"))
    return bad();
  const std::string* id = doc->text(doc->root(), "UploadId");
  if (!id || trim(*id).empty())
    return bad();
  return std::string(trim(*id));
}

core::Result<std::string> parse_etag_result(std::string_view body) {
  auto doc = Doc::parse(body);
  if (!doc)
    return core::unexpected(doc.error());
  const auto& root = doc->root().name;
  if (root != "CompleteMultipartUploadResult" && root != "CopyObjectResult" &&
      root != "CopyPartResult")
    return bad();
  const std::string* etag = doc->text(doc->root(), "ETag");
  if (!etag)
    return bad();
  std::string e = unquote_etag(trim(*etag));
  if (e.empty())
    return bad();
  return e;
}

core::Result<std::string> parse_complete_multipart(std::string_view body) {
  auto doc = Doc::parse(body);
  if (!doc)
    return core::unexpected(doc.error());
  if (!expect_root(*doc, "CompleteMultipartUploadResult"))
    return bad();
  const std::string* etag = doc->text(doc->root(), "ETag");
  return etag ? unquote_etag(trim(*etag)) : std::string();
}

core::Result<PartsPage> parse_list_parts(std::string_view body) {
  auto doc = Doc::parse(body);
  if (!doc)
    return core::unexpected(doc.error());
  const Doc& d = *doc;
  if (!expect_root(d, "ListPartsResult"))
    return bad();
  PartsPage page;
  const bool ok = d.each(d.root(), "Part", [&](const Node& p) {
    if (page.parts.size() >= kMaxParts)
      return false;
    const std::string* number = d.text(p, "PartNumber");
    const std::string* etag = d.text(p, "ETag");
    const std::string* size = d.text(p, "Size");
    if (!number || !etag || !size)
      return false;
    auto n = to_number<int>(*number);
    auto s = to_number<std::uint64_t>(*size);
    if (!n || *n < 1 || *n > 10'000 || !s)
      return false;
    page.parts.push_back(Part{*n, unquote_etag(trim(*etag)), *s});
    return true;
  });
  if (!ok)
    return bad();
  auto truncated = to_bool(d.text(d.root(), "IsTruncated"));
  if (!truncated)
    return bad();
  page.truncated = *truncated;
  if (page.truncated) {
    const std::string* marker = d.text(d.root(), "NextPartNumberMarker");
    auto m = marker ? to_number<int>(*marker) : std::nullopt;
    if (!m || *m < 1 || *m > 10'000)
      return bad();
    page.next_marker = *m;
  }
  return page;
}

core::Result<std::vector<DeleteFailure>> parse_delete_result(std::string_view body) {
  auto doc = Doc::parse(body);
  if (!doc)
    return core::unexpected(doc.error());
  const Doc& d = *doc;
  if (!expect_root(d, "DeleteResult"))
    return bad();
  std::vector<DeleteFailure> failures;
  const bool ok = d.each(d.root(), "Error", [&](const Node& e) {
    if (failures.size() >= kMaxListEntries)
      return false;
    const std::string* key = d.text(e, "Key");
    const std::string* code = d.text(e, "Code");
    const std::string* message = d.text(e, "Message");
    failures.push_back(DeleteFailure{key ? *key : std::string(),
                                     code ? std::string(trim(*code)) : std::string(),
                                     message ? *message : std::string()});
    return true;
  });
  if (!ok)
    return bad();
  return failures;
}

std::optional<Error> parse_error(std::string_view body) {
  auto doc = Doc::parse(body);
  if (!doc || !expect_root(*doc, "Error"))
    return std::nullopt;
  const std::string* code = doc->text(doc->root(), "Code");
  if (!code || trim(*code).empty())
    return std::nullopt;
  Error e;
  e.code = trim(*code);
  if (const std::string* m = doc->text(doc->root(), "Message"))
    e.message = *m;
  if (const std::string* r = doc->text(doc->root(), "RequestId"))
    e.request_id = trim(*r);
  return e;
}

core::Result<std::string> build_complete_multipart(std::span<const Part> parts) {
  if (parts.empty() || parts.size() > kMaxParts)
    return core::unexpected(std::make_error_code(std::errc::invalid_argument));
  std::string out;
  open_document(out, "CompleteMultipartUpload");
  for (const Part& p : parts) {
    if (p.number < 1 || p.number > 10'000)
      return core::unexpected(std::make_error_code(std::errc::invalid_argument));
    out += "<Part><PartNumber>";
    out += std::to_string(p.number);
    out += "</PartNumber><ETag>&quot;";
    if (!escape(unquote_etag(p.etag), out))
      return core::unexpected(std::make_error_code(std::errc::invalid_argument));
    out += "&quot;</ETag></Part>";
  }
  out += "</CompleteMultipartUpload>";
  return out;
}

core::Result<std::string> build_delete(std::span<const std::string> keys) {
  if (keys.empty() || keys.size() > kMaxListEntries)
    return core::unexpected(std::make_error_code(std::errc::invalid_argument));
  std::string out;
  open_document(out, "Delete");
  out += "<Quiet>true</Quiet>";
  for (const std::string& k : keys) {
    out += "<Object><Key>";
    if (k.empty() || !escape(k, out))
      return core::unexpected(std::make_error_code(std::errc::invalid_argument));
    out += "</Key></Object>";
  }
  out += "</Delete>";
  return out;
}

std::optional<std::chrono::system_clock::time_point> parse_iso8601(std::string_view t) {
  // YYYY-MM-DDTHH:MM:SS[.fraction]Z
  if (t.size() < 20 || t[4] != '-' || t[7] != '-' || (t[10] != 'T' && t[10] != 't') ||
      t[13] != ':' || t[16] != ':')
    return std::nullopt;
  std::size_t pos = 19;
  std::chrono::system_clock::duration fraction{};
  if (t[pos] == '.') {
    ++pos;
    const std::size_t start = pos;
    std::int64_t micros = 0;
    int scale = 0;
    while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') {
      if (scale < 6) {
        micros = micros * 10 + (t[pos] - '0');
        ++scale;
      }
      ++pos;
    }
    if (pos == start || pos - start > 12)
      return std::nullopt;
    for (; scale < 6; ++scale)
      micros *= 10;
    fraction = std::chrono::duration_cast<std::chrono::system_clock::duration>(
        std::chrono::microseconds(micros));
  }
  if (pos + 1 != t.size() || (t[pos] != 'Z' && t[pos] != 'z'))
    return std::nullopt;
  auto base = make_time(digits(t, 0, 4), digits(t, 5, 2), digits(t, 8, 2), digits(t, 11, 2),
                        digits(t, 14, 2), digits(t, 17, 2));
  if (!base)
    return std::nullopt;
  return *base + fraction;
}

std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view t) {
  // "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 §5.6.7)
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (t.size() != 29 || t.substr(3, 2) != ", " || t[7] != ' ' || t[11] != ' ' || t[16] != ' ' ||
      t[19] != ':' || t[22] != ':' || t.substr(25) != " GMT")
    return std::nullopt;
  int month = 0;
  for (std::size_t i = 0; i < kMonths.size(); ++i)
    if (t.substr(8, 3) == kMonths[i])
      month = static_cast<int>(i) + 1;
  if (month == 0)
    return std::nullopt;
  return make_time(digits(t, 12, 4), month, digits(t, 5, 2), digits(t, 17, 2), digits(t, 20, 2),
                   digits(t, 23, 2));
}

std::string unquote_etag(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"')
    etag = etag.substr(1, etag.size() - 2);
  return std::string(etag);
}

} // namespace berth::vfs::s3::xml
