#pragma once
// Arguments of the FTP extensions that take more than a path: permission
// modes (MFF UNIX.mode, SITE CHMOD), SITE UTIME's two forms and the X* hash
// verbs' byte ranges. Pure: no I/O.

#include "core/result.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth::ftp {

/// `arg`'s first word and the rest after its space ("644 my file" -> "644",
/// "my file"), or nullopt when either is empty. For verbs whose path comes last.
std::optional<std::pair<std::string_view, std::string_view>> split_word(std::string_view arg);

/// An octal permission mode ("644", "0755"). Errors: invalid_argument (not
/// octal, or past 07777); operation_not_supported (a setuid, setgid or sticky
/// bit: berth never sets them, and says so rather than drop them quietly).
core::Result<std::uint32_t> parse_unix_mode(std::string_view text);

/// SITE UTIME's times and path.
struct UtimeArgs {
  std::string path;
  std::chrono::system_clock::time_point atime;
  std::chrono::system_clock::time_point mtime;
};

/// SITE UTIME in the forms clients send: "YYYYMMDDhhmmss path" (ProFTPD's
/// mod_site_misc; both times set) and "path atime mtime ctime UTC" (the
/// five-argument form of FileZilla and tnftp; ctime can not be set and is
/// checked only). Times are RFC 3659 time-vals in UTC. Errors:
/// invalid_argument (a bad time, a missing path).
core::Result<UtimeArgs> parse_site_utime(std::string_view arg);

/// One reading of an XCRC/XMD5/XSHA* argument: a path and a byte range.
struct HashArgs {
  std::string path;
  std::uint64_t start = 0;
  std::optional<std::uint64_t> end; ///< Where hashing stops (exclusive); none: the file's end.
};

/// The readings of "path [start [end]]", most literal first: the whole text
/// as a path, then with one, then two trailing numbers taken as the range (a
/// name may end in digits after a space). A path in double quotes
/// ("\"a b\" 0 10", as CuteFTP sends) has one reading. Empty: malformed (an
/// unclosed quote, something not a number after a quoted path, start > end).
std::vector<HashArgs> parse_hash_args(std::string_view arg);

} // namespace berth::ftp
