#pragma once
// Listing formats: `ls -l` lines for LIST/STAT, MLSx facts (RFC 3659) and
// timestamps. Pure: no I/O.

#include "core/result.hpp"
#include "vfs/filesystem.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace berth::ftp {

/// The MLSx facts berth knows, as bits.
enum Fact : unsigned {
  fact_type = 1,
  fact_size = 2,
  fact_modify = 4,
  fact_perm = 8,
  fact_unique = 16,
  fact_unix_mode = 32,
  fact_all = 63,
};

/// One `ls -l` line without terminator: "-rw-r--r-- 1 ftp ftp 5 Nov 24 10:00 name".
/// Files older than about six months (or in the future) show the year instead of the time.
/// A symlink is shown as itself, "l... name -> target", as vsftpd shows it.
std::string list_line(const vfs::DirEntry& e, std::chrono::system_clock::time_point now);

/// MLSx facts and name: "type=file;size=5;modify=20261124100000;...; name".
std::string mlsx_line(const vfs::Stat& st, std::string_view name, unsigned facts);

/// "type*;size*;..." for FEAT and OPTS MLST, '*' marking the enabled facts.
std::string mlst_feature(unsigned facts, bool with_stars);

/// Parses an OPTS MLST argument ("type;size;") into fact bits; unknown facts are ignored.
unsigned parse_mlst_opts(std::string_view arg);

/// "YYYYMMDDHHMMSS" in UTC (RFC 3659 time-val).
std::string format_time_val(std::chrono::system_clock::time_point t);

/// Parses a time-val "YYYYMMDDHHMMSS[.sss]" (UTC). Errors: invalid_argument.
core::Result<std::chrono::system_clock::time_point> parse_time_val(std::string_view s);

/// True if a name can be sent in a listing line (no CR, LF or NUL).
bool listable_name(std::string_view name);

/// A path in double quotes for 257 replies, a '"' inside doubled (RFC 959 appendix II).
std::string quote_path(std::string_view path);

} // namespace berth::ftp
