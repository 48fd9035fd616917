#pragma once
// The control lines of the legacy scp protocol (OpenSSH scp.c, "rcp"
// protocol): pure parsing and encoding, no I/O. The peer that sends files
// (source) writes `T` (times), `C` (a file), `D` (a directory) and `E` (its
// end); the receiver (sink) answers each with one byte: 0 (ok), 1 (a warning
// line follows) or 2 (a fatal line follows). The same warning and fatal lines
// may come from either side in place of a control line.

#include "core/result.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace berth::sftp::scp {

/// The longest control line taken or sent, '\n' included (OpenSSH's sink
/// reads into a 2048-byte buffer; its names are at most 1024 bytes).
inline constexpr std::size_t kMaxLine = 2048;

/// The acknowledgement bytes.
inline constexpr std::uint8_t kOk = 0;
inline constexpr std::uint8_t kWarning = 1;
inline constexpr std::uint8_t kFatal = 2;

enum class Errc {
  too_long = 1, ///< A control line longer than kMaxLine.
  bad_type,     ///< The line starts with none of C, D, E, T, \1, \2.
  bad_mode,     ///< The mode is not four octal digits followed by a space.
  bad_size,     ///< The size is missing, not decimal, out of range or not followed by a space.
  bad_time,     ///< A T line's fields are missing, not decimal or out of range.
  bad_name,     ///< Empty, ".", "..", or holding '/', '\n' or NUL.
  trailing,     ///< Bytes after a line that has none (E).
};
const std::error_category& scp_category() noexcept;
inline std::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), scp_category()};
}

/// One control line, decoded.
struct Record {
  enum class Kind { file, directory, end, times, warning, fatal };
  Kind kind = Kind::end;
  std::uint32_t mode = 0;  ///< C, D: the permission bits sent (07777).
  std::uint64_t size = 0;  ///< C: the bytes that follow the line; D: as sent (ignored).
  std::string name;        ///< C, D: the entry's name; warning, fatal: the message.
  std::uint64_t mtime = 0; ///< T: seconds since the epoch.
  std::uint64_t atime = 0;
  friend bool operator==(const Record&, const Record&) = default;
};

/// Whether `name` may name one entry of a directory: not empty, not "." or
/// "..", without '/', '\n' or NUL, and short enough for a control line.
bool valid_name(std::string_view name);

/// Parses one control line, given without its final '\n' (`line` must not be
/// longer than kMaxLine - 1). Never reads past `line`.
core::Result<Record> parse_line(std::string_view line);

/// A C line: "C0644 <size> <name>\n". Precondition: valid_name(name).
std::string encode_file(std::uint32_t mode, std::uint64_t size, std::string_view name);
/// A D line: "D0755 0 <name>\n". Precondition: valid_name(name).
std::string encode_directory(std::uint32_t mode, std::string_view name);
/// "E\n".
std::string encode_end();
/// "T<mtime> 0 <atime> 0\n".
std::string encode_times(std::uint64_t mtime, std::uint64_t atime);
/// A warning (\1) or fatal (\2) line: "scp: <message>\n", its control
/// characters replaced by '?' and cut to fit kMaxLine.
std::string encode_error(bool fatal, std::string_view message);

} // namespace berth::sftp::scp

template <> struct std::is_error_code_enum<berth::sftp::scp::Errc> : std::true_type {};
