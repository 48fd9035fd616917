#pragma once
// SFTP version 3 (draft-ietf-secsh-filexfer-02) wire format: a bounded reader
// that errors instead of reading past the end, a writer, packet framing and
// the attribute block. Pure: no I/O.

#include "core/result.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace berth::sftp {

/// Packet types (filexfer-02 section 3).
enum class Type : std::uint8_t {
  init = 1,
  version = 2,
  open = 3,
  close = 4,
  read = 5,
  write = 6,
  lstat = 7,
  fstat = 8,
  setstat = 9,
  fsetstat = 10,
  opendir = 11,
  readdir = 12,
  remove = 13,
  mkdir = 14,
  rmdir = 15,
  realpath = 16,
  stat = 17,
  rename = 18,
  readlink = 19,
  symlink = 20,
  status = 101,
  handle = 102,
  data = 103,
  name = 104,
  attrs = 105,
  extended = 200,
  extended_reply = 201,
};

/// Status codes (filexfer-02 section 7).
enum class Status : std::uint32_t {
  ok = 0,
  eof = 1,
  no_such_file = 2,
  permission_denied = 3,
  failure = 4,
  bad_message = 5,
  no_connection = 6,
  connection_lost = 7,
  op_unsupported = 8,
};

/// OPEN pflags.
enum PFlags : std::uint32_t {
  pflag_read = 0x01,
  pflag_write = 0x02,
  pflag_append = 0x04,
  pflag_creat = 0x08,
  pflag_trunc = 0x10,
  pflag_excl = 0x20,
};

/// Codec errors.
enum class Errc {
  truncated = 1, ///< A field runs past the end of the packet.
  too_long,      ///< A packet longer than the configured maximum.
  empty_packet,  ///< A packet of length 0 (no type byte).
  trailing_data, ///< A request left bytes unread.
};
const std::error_category& sftp_category() noexcept;
inline std::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), sftp_category()};
}

/// The attribute block (filexfer-02 section 5). Absent fields are nullopt.
struct Attrs {
  std::optional<std::uint64_t> size;
  std::optional<std::pair<std::uint32_t, std::uint32_t>> uid_gid;
  std::optional<std::uint32_t> permissions; ///< Type bits (S_IFMT) and mode bits.
  std::optional<std::pair<std::uint32_t, std::uint32_t>> atime_mtime;
  std::vector<std::pair<std::string, std::string>> extended;

  friend bool operator==(const Attrs&, const Attrs&) = default;
};

/// Reads SSH wire types from one packet. Every read checks the bounds first.
class Reader {
public:
  explicit Reader(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}
  explicit Reader(std::string_view bytes)
      : bytes_(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()) {}

  core::Result<std::uint8_t> u8();
  core::Result<std::uint32_t> u32();
  core::Result<std::uint64_t> u64();
  /// A uint32 length and that many bytes; the view points into the packet.
  core::Result<std::string_view> string();
  core::Result<Attrs> attrs();

  std::size_t remaining() const { return bytes_.size() - pos_; }
  bool at_end() const { return remaining() == 0; }

private:
  std::span<const std::uint8_t> bytes_;
  std::size_t pos_ = 0;
};

/// Builds packets: `start(type)` writes a length placeholder, `finish()`
/// patches it. Several packets may be built back to back in one buffer.
class Writer {
public:
  void start(Type type);
  void u8(std::uint8_t v) { buf_.push_back(static_cast<char>(v)); }
  void u32(std::uint32_t v);
  void u64(std::uint64_t v);
  void string(std::string_view s);
  void attrs(const Attrs& a);
  /// Appends bytes without a length prefix.
  void raw(std::string_view bytes) { buf_.append(bytes); }
  /// Patches the length of the packet begun by the last start().
  void finish();

  const std::string& bytes() const { return buf_; }
  std::string take() { return std::exchange(buf_, {}); }
  /// Moves the bytes written so far into `into` and keeps `into`'s storage,
  /// cleared, for what is written next: two strings handed back and forth
  /// keep their capacity, so a stream of DATA replies is not copied again
  /// each time the buffer grows.
  void take_into(std::string& into) {
    into.clear();
    buf_.swap(into);
  }
  void clear() { buf_.clear(); }

private:
  std::string buf_;
  std::size_t start_ = 0;
};

/// The length of the first whole packet in `buf` (4-byte length prefix
/// included), or nullopt if more bytes are needed. Errors: too_long when the
/// announced length exceeds `max_packet` (checked before anything is
/// allocated), empty_packet for a zero length.
core::Result<std::optional<std::size_t>> frame(std::span<const std::uint8_t> buf,
                                               std::size_t max_packet);

/// Encoders for the server's replies, appended to `w`.
void encode_status(Writer& w, std::uint32_t id, Status code, std::string_view message);
void encode_handle(Writer& w, std::uint32_t id, std::string_view handle);
void encode_data(Writer& w, std::uint32_t id, std::string_view data);
void encode_attrs(Writer& w, std::uint32_t id, const Attrs& attrs);

/// One NAME entry: filename, long name (`ls -l` form), attributes.
struct NameEntry {
  std::string filename;
  std::string longname;
  Attrs attrs;
};
void encode_name(Writer& w, std::uint32_t id, const std::vector<NameEntry>& entries);

/// VERSION 3 with the given extensions (name, data).
void encode_version(Writer& w, const std::vector<std::pair<std::string, std::string>>& extensions);

/// The default message for a status code ("No such file", ...).
std::string_view status_message(Status code);

} // namespace berth::sftp

template <> struct std::is_error_code_enum<berth::sftp::Errc> : std::true_type {};
