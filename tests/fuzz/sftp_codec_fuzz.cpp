// Fuzzes the SFTP wire codec (sftp/codec.hpp) on its own: the input is a
// stream of packets as a client sends them. Each framed packet is decoded
// field by field with the layout of its type (filexfer-02 section 6 and the
// replies of section 7), re-encoded with the Writer and decoded again; every
// read is checked against the bytes it consumed.
#include "sftp/codec.hpp"

#include "core/check.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace {

using namespace berth::sftp;

enum class Field { u8, u32, u64, string, attrs, optional_u32, string_pairs };

/// The fields after the type byte, per packet type. Unknown types and the
/// bodies of EXTENDED requests are read with a layout picked by the type byte.
std::vector<Field> layout_of(std::uint8_t type) {
  using F = Field;
  switch (static_cast<Type>(type)) {
  case Type::init:
  case Type::version:
    return {F::u32, F::string_pairs};
  case Type::open:
    return {F::u32, F::string, F::u32, F::attrs};
  case Type::close:
  case Type::fstat:
  case Type::opendir:
  case Type::readdir:
  case Type::remove:
  case Type::rmdir:
  case Type::realpath:
  case Type::readlink:
  case Type::handle:
  case Type::data:
    return {F::u32, F::string};
  case Type::read:
    return {F::u32, F::string, F::u64, F::u32};
  case Type::write:
    return {F::u32, F::string, F::u64, F::string};
  case Type::lstat:
  case Type::stat:
    return {F::u32, F::string, F::optional_u32};
  case Type::setstat:
  case Type::fsetstat:
  case Type::mkdir:
    return {F::u32, F::string, F::attrs};
  case Type::rename:
  case Type::symlink:
    return {F::u32, F::string, F::string};
  case Type::status:
    return {F::u32, F::u32, F::string, F::string};
  case Type::attrs:
    return {F::u32, F::attrs};
  case Type::name:
    // count, then (filename, longname, attrs) while bytes remain.
    return {F::u32, F::u32, F::string, F::string, F::attrs, F::string, F::string, F::attrs};
  case Type::extended:
  case Type::extended_reply:
    return {F::u32, F::string, F::string, F::u64, F::u64, F::string, F::u64};
  }
  static constexpr Field kAny[] = {F::u8, F::u32, F::u64, F::string, F::attrs};
  std::vector<Field> any;
  for (std::size_t i = 0; i < 8; ++i)
    any.push_back(kAny[(type + i * 3) % 5]);
  return any;
}

using Value = std::variant<std::uint8_t, std::uint32_t, std::uint64_t, std::string, Attrs>;

std::uint32_t be32(std::span<const std::uint8_t> b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) |
         (std::uint32_t{b[at + 2]} << 8) | std::uint32_t{b[at + 3]};
}

/// The number of bytes an attribute block at `at` occupies, computed from the
/// raw bytes (independently of Reader::attrs); 0 if it does not fit.
std::size_t attrs_size(std::span<const std::uint8_t> b, std::size_t at) {
  auto need = [&](std::size_t n) { return at + n <= b.size(); };
  if (!need(4))
    return 0;
  std::uint32_t flags = be32(b, at);
  std::size_t n = 4;
  if ((flags & 0x1) != 0)
    n += 8;
  if ((flags & 0x2) != 0)
    n += 8;
  if ((flags & 0x4) != 0)
    n += 4;
  if ((flags & 0x8) != 0)
    n += 8;
  if ((flags & 0x80000000) != 0) {
    if (!need(n + 4))
      return 0;
    std::uint32_t count = be32(b, at + n);
    n += 4;
    for (std::uint32_t i = 0; i < count; ++i) {
      for (int s = 0; s < 2; ++s) {
        if (!need(n + 4))
          return 0;
        n += 4 + std::size_t{be32(b, at + n)};
      }
    }
  }
  return need(n) ? n : 0;
}

/// Decodes `packet` (type byte onwards) with its layout; stops at the first
/// error. Checks each read against the raw bytes.
std::vector<Value> decode(std::span<const std::uint8_t> packet) {
  std::vector<Value> values;
  Reader r(packet);
  auto type = r.u8();
  BERTH_CHECK(type && *type == packet[0] && r.remaining() == packet.size() - 1);
  values.emplace_back(*type);
  for (Field f : layout_of(*type)) {
    std::size_t at = packet.size() - r.remaining();
    std::size_t before = r.remaining();
    switch (f) {
    case Field::u8: {
      auto v = r.u8();
      BERTH_CHECK(v.has_value() == (before >= 1));
      if (!v)
        return values;
      BERTH_CHECK(*v == packet[at] && r.remaining() == before - 1);
      values.emplace_back(*v);
      break;
    }
    case Field::optional_u32:
      if (r.at_end())
        break;
      [[fallthrough]];
    case Field::u32: {
      auto v = r.u32();
      BERTH_CHECK(v.has_value() == (before >= 4));
      if (!v)
        return values;
      BERTH_CHECK(*v == be32(packet, at) && r.remaining() == before - 4);
      values.emplace_back(*v);
      break;
    }
    case Field::u64: {
      auto v = r.u64();
      BERTH_CHECK(v.has_value() == (before >= 8));
      if (!v)
        return values;
      BERTH_CHECK(*v == ((std::uint64_t{be32(packet, at)} << 32) | be32(packet, at + 4)));
      BERTH_CHECK(r.remaining() == before - 8);
      values.emplace_back(*v);
      break;
    }
    case Field::string_pairs:
      while (!r.at_end()) {
        auto name = r.string();
        auto data = name ? r.string() : name;
        if (!name || !data)
          return values;
        values.emplace_back(std::string(*name));
        values.emplace_back(std::string(*data));
      }
      break;
    case Field::string: {
      auto v = r.string();
      bool fits = before >= 4 && before - 4 >= be32(packet, at);
      BERTH_CHECK(v.has_value() == fits);
      if (!v) {
        BERTH_CHECK(v.error() == Errc::truncated);
        return values;
      }
      // The view points into the packet, right after its length.
      BERTH_CHECK(reinterpret_cast<const std::uint8_t*>(v->data()) == packet.data() + at + 4);
      BERTH_CHECK(r.remaining() == before - 4 - v->size());
      values.emplace_back(std::string(*v));
      break;
    }
    case Field::attrs: {
      std::size_t size = attrs_size(packet, at);
      auto v = r.attrs();
      BERTH_CHECK(v.has_value() == (size != 0));
      if (!v) {
        BERTH_CHECK(!v.error().message().empty());
        return values;
      }
      BERTH_CHECK(r.remaining() == before - size);
      values.emplace_back(std::move(*v));
      break;
    }
    }
  }
  return values;
}

/// Writes `values` back as one packet.
std::string encode(const std::vector<Value>& values) {
  Writer w;
  w.start(static_cast<Type>(std::get<std::uint8_t>(values[0])));
  for (std::size_t i = 1; i < values.size(); ++i) {
    const Value& v = values[i];
    if (const auto* b = std::get_if<std::uint8_t>(&v))
      w.u8(*b);
    else if (const auto* u = std::get_if<std::uint32_t>(&v))
      w.u32(*u);
    else if (const auto* q = std::get_if<std::uint64_t>(&v))
      w.u64(*q);
    else if (const auto* s = std::get_if<std::string>(&v))
      w.string(*s);
    else
      w.attrs(std::get<Attrs>(v));
  }
  w.finish();
  return w.take();
}

std::span<const std::uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

/// The reply encoders, fed with what the packet carried, decode back to it.
void check_replies(const std::vector<Value>& values) {
  std::vector<std::string> strings;
  std::vector<NameEntry> entries;
  Attrs attrs;
  for (const Value& v : values) {
    if (const auto* s = std::get_if<std::string>(&v))
      strings.push_back(*s);
    else if (const auto* a = std::get_if<Attrs>(&v))
      attrs = *a;
  }
  for (std::size_t i = 0; i + 1 < strings.size(); i += 2)
    entries.push_back(NameEntry{strings[i], strings[i + 1], attrs});
  std::string text = strings.empty() ? std::string() : strings[0];

  Writer w;
  encode_status(w, 7, Status::failure, text);
  encode_handle(w, 8, text);
  encode_data(w, 9, text);
  encode_attrs(w, 10, attrs);
  encode_name(w, 11, entries);
  std::vector<std::pair<std::string, std::string>> exts;
  for (const auto& e : entries)
    exts.emplace_back(e.filename, e.longname);
  encode_version(w, exts);

  auto out = bytes_of(w.bytes());
  std::vector<std::vector<Value>> packets;
  while (!out.empty()) {
    auto f = frame(out, out.size());
    BERTH_CHECK(f && f->has_value());
    packets.push_back(decode(out.subspan(4, **f - 4)));
    out = out.subspan(**f);
  }
  BERTH_CHECK(packets.size() == 6);
  auto str = [](const Value& v) { return std::get<std::string>(v); };
  BERTH_CHECK(str(packets[0][3]) == (text.empty() ? "Failure" : text));
  BERTH_CHECK(str(packets[1][2]) == text && str(packets[2][2]) == text);
  BERTH_CHECK(std::get<Attrs>(packets[3][2]) == attrs);
  BERTH_CHECK(std::get<std::uint32_t>(packets[4][2]) == entries.size());
  // NAME's layout reads at most two entries; the version packet reads them all.
  for (std::size_t i = 0; i < entries.size() && i < 2; ++i) {
    BERTH_CHECK(str(packets[4][3 + i * 3]) == entries[i].filename);
    BERTH_CHECK(str(packets[4][4 + i * 3]) == entries[i].longname);
    BERTH_CHECK(std::get<Attrs>(packets[4][5 + i * 3]) == attrs);
  }
  BERTH_CHECK(packets[5].size() == 2 + 2 * exts.size());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> in(data, size);
  // Frame as run_session does, with the session's bound and with a small one.
  for (std::size_t max_packet : {std::size_t{256 * 1024 + 4}, std::size_t{64}}) {
    std::span<const std::uint8_t> rest = in;
    for (;;) {
      auto f = frame(rest, max_packet);
      if (!f) {
        BERTH_CHECK(rest.size() >= 4);
        std::uint32_t len = be32(rest, 0);
        BERTH_CHECK(f.error() == (len == 0 ? Errc::empty_packet : Errc::too_long));
        BERTH_CHECK(len == 0 || len > max_packet);
        break;
      }
      if (!f->has_value()) {
        BERTH_CHECK(rest.size() < 4 || rest.size() - 4 < be32(rest, 0));
        break;
      }
      std::size_t len = **f;
      BERTH_CHECK(len >= 5 && len <= rest.size() && len - 4 == be32(rest, 0));
      // One byte less is not a whole packet yet.
      auto shorter = frame(rest.first(len - 1), max_packet);
      BERTH_CHECK(shorter && !shorter->has_value());

      auto values = decode(rest.subspan(4, len - 4));
      std::string again = encode(values);
      auto back = decode(bytes_of(again).subspan(4));
      BERTH_CHECK(back == values);
      check_replies(values);
      rest = rest.subspan(len);
    }
  }
  return 0;
}
