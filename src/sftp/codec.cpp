#include "sftp/codec.hpp"

namespace berth::sftp {
namespace {

constexpr std::uint32_t kAttrSize = 0x1;
constexpr std::uint32_t kAttrUidGid = 0x2;
constexpr std::uint32_t kAttrPermissions = 0x4;
constexpr std::uint32_t kAttrAcModTime = 0x8;
constexpr std::uint32_t kAttrExtended = 0x80000000;

class Category final : public std::error_category {
public:
  const char* name() const noexcept override { return "berth.sftp"; }
  std::string message(int ev) const override {
    switch (static_cast<Errc>(ev)) {
    case Errc::truncated:
      return "truncated packet";
    case Errc::too_long:
      return "packet too long";
    case Errc::empty_packet:
      return "empty packet";
    case Errc::trailing_data:
      return "trailing data in packet";
    }
    return "unknown sftp codec error";
  }
};

core::Unexpected truncated() {
  return core::unexpected(Errc::truncated);
}

} // namespace

const std::error_category& sftp_category() noexcept {
  static const Category category;
  return category;
}

core::Result<std::uint8_t> Reader::u8() {
  if (remaining() < 1)
    return truncated();
  return bytes_[pos_++];
}

core::Result<std::uint32_t> Reader::u32() {
  if (remaining() < 4)
    return truncated();
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v = (v << 8) | bytes_[pos_++];
  return v;
}

core::Result<std::uint64_t> Reader::u64() {
  if (remaining() < 8)
    return truncated();
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v = (v << 8) | bytes_[pos_++];
  return v;
}

core::Result<std::string_view> Reader::string() {
  auto len = u32();
  if (!len)
    return core::unexpected(len.error());
  if (remaining() < *len)
    return truncated();
  std::string_view s(reinterpret_cast<const char*>(bytes_.data() + pos_), *len);
  pos_ += *len;
  return s;
}

core::Result<Attrs> Reader::attrs() {
  auto flags = u32();
  if (!flags)
    return core::unexpected(flags.error());
  Attrs a;
  if ((*flags & kAttrSize) != 0) {
    auto v = u64();
    if (!v)
      return core::unexpected(v.error());
    a.size = *v;
  }
  if ((*flags & kAttrUidGid) != 0) {
    auto uid = u32();
    auto gid = uid ? u32() : uid;
    if (!uid || !gid)
      return truncated();
    a.uid_gid = std::make_pair(*uid, *gid);
  }
  if ((*flags & kAttrPermissions) != 0) {
    auto v = u32();
    if (!v)
      return core::unexpected(v.error());
    a.permissions = *v;
  }
  if ((*flags & kAttrAcModTime) != 0) {
    auto at = u32();
    auto mt = at ? u32() : at;
    if (!at || !mt)
      return truncated();
    a.atime_mtime = std::make_pair(*at, *mt);
  }
  if ((*flags & kAttrExtended) != 0) {
    auto count = u32();
    if (!count)
      return core::unexpected(count.error());
    // Each pair needs at least 8 bytes: refuse counts the packet can not hold
    // before reserving anything.
    if (*count > remaining() / 8)
      return truncated();
    for (std::uint32_t i = 0; i < *count; ++i) {
      auto type = string();
      auto data = type ? string() : type;
      if (!type || !data)
        return truncated();
      a.extended.emplace_back(std::string(*type), std::string(*data));
    }
  }
  return a;
}

void Writer::start(Type type) {
  start_ = buf_.size();
  u32(0);
  u8(static_cast<std::uint8_t>(type));
}

void Writer::u32(std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    buf_.push_back(static_cast<char>((v >> shift) & 0xff));
}

void Writer::u64(std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8)
    buf_.push_back(static_cast<char>((v >> shift) & 0xff));
}

void Writer::string(std::string_view s) {
  u32(static_cast<std::uint32_t>(s.size()));
  buf_.append(s);
}

void Writer::attrs(const Attrs& a) {
  std::uint32_t flags = 0;
  if (a.size)
    flags |= kAttrSize;
  if (a.uid_gid)
    flags |= kAttrUidGid;
  if (a.permissions)
    flags |= kAttrPermissions;
  if (a.atime_mtime)
    flags |= kAttrAcModTime;
  if (!a.extended.empty())
    flags |= kAttrExtended;
  u32(flags);
  if (a.size)
    u64(*a.size);
  if (a.uid_gid) {
    u32(a.uid_gid->first);
    u32(a.uid_gid->second);
  }
  if (a.permissions)
    u32(*a.permissions);
  if (a.atime_mtime) {
    u32(a.atime_mtime->first);
    u32(a.atime_mtime->second);
  }
  if (!a.extended.empty()) {
    u32(static_cast<std::uint32_t>(a.extended.size()));
    for (const auto& [type, data] : a.extended) {
      string(type);
      string(data);
    }
  }
}

void Writer::finish() {
  auto len = static_cast<std::uint32_t>(buf_.size() - start_ - 4);
  for (int i = 0; i < 4; ++i)
    buf_[start_ + static_cast<std::size_t>(i)] = static_cast<char>((len >> (24 - 8 * i)) & 0xff);
}

core::Result<std::optional<std::size_t>> frame(std::span<const std::uint8_t> buf,
                                               std::size_t max_packet) {
  if (buf.size() < 4)
    return std::optional<std::size_t>{};
  std::uint32_t len = (std::uint32_t{buf[0]} << 24) | (std::uint32_t{buf[1]} << 16) |
                      (std::uint32_t{buf[2]} << 8) | std::uint32_t{buf[3]};
  if (len == 0)
    return core::unexpected(Errc::empty_packet);
  if (len > max_packet)
    return core::unexpected(Errc::too_long);
  if (buf.size() - 4 < len)
    return std::optional<std::size_t>{};
  return std::optional<std::size_t>{std::size_t{len} + 4};
}

std::string_view status_message(Status code) {
  switch (code) {
  case Status::ok:
    return "Success";
  case Status::eof:
    return "End of file";
  case Status::no_such_file:
    return "No such file";
  case Status::permission_denied:
    return "Permission denied";
  case Status::failure:
    return "Failure";
  case Status::bad_message:
    return "Bad message";
  case Status::no_connection:
    return "No connection";
  case Status::connection_lost:
    return "Connection lost";
  case Status::op_unsupported:
    return "Operation unsupported";
  }
  return "Failure";
}

void encode_status(Writer& w, std::uint32_t id, Status code, std::string_view message) {
  w.start(Type::status);
  w.u32(id);
  w.u32(static_cast<std::uint32_t>(code));
  w.string(message.empty() ? status_message(code) : message);
  w.string("en");
  w.finish();
}

void encode_handle(Writer& w, std::uint32_t id, std::string_view handle) {
  w.start(Type::handle);
  w.u32(id);
  w.string(handle);
  w.finish();
}

void encode_data(Writer& w, std::uint32_t id, std::string_view data) {
  w.start(Type::data);
  w.u32(id);
  w.string(data);
  w.finish();
}

void encode_attrs(Writer& w, std::uint32_t id, const Attrs& attrs) {
  w.start(Type::attrs);
  w.u32(id);
  w.attrs(attrs);
  w.finish();
}

void encode_name(Writer& w, std::uint32_t id, const std::vector<NameEntry>& entries) {
  w.start(Type::name);
  w.u32(id);
  w.u32(static_cast<std::uint32_t>(entries.size()));
  for (const auto& e : entries) {
    w.string(e.filename);
    w.string(e.longname);
    w.attrs(e.attrs);
  }
  w.finish();
}

void encode_version(Writer& w, const std::vector<std::pair<std::string, std::string>>& extensions) {
  w.start(Type::version);
  w.u32(3);
  for (const auto& [name, data] : extensions) {
    w.string(name);
    w.string(data);
  }
  w.finish();
}

} // namespace berth::sftp
