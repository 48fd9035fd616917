#pragma once
// FTP control-connection codec: bytes to command lines, lines to commands, and
// the PORT/EPRT/PASV argument formats. Pure: no I/O.

#include "core/result.hpp"

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

namespace berth::ftp {

/// One line from the control connection, or the news that a line was too long.
struct Line {
  std::string text; ///< Without the line terminator and Telnet commands.
  bool too_long = false;
};

/// Splits control-connection bytes into lines. Telnet commands (IAC IP, IAC DM,
/// option negotiation) are removed and IAC IAC becomes one 0xFF byte, so that
/// "IAC IP IAC DM ABOR" (RFC 959 4.1.3) reads as "ABOR". Lines end at LF; a
/// preceding CR is dropped. A line longer than `max_line` is discarded up to its
/// LF and reported once as too_long.
class LineReader {
public:
  explicit LineReader(std::size_t max_line) : max_line_(max_line) {}

  /// Adds received bytes.
  void feed(std::string_view bytes);
  /// The next complete line, if any.
  std::optional<Line> next();
  /// Lines complete and waiting.
  std::size_t pending() const { return lines_.size(); }

private:
  enum class Telnet { data, iac, option };
  std::size_t max_line_;
  Telnet telnet_ = Telnet::data;
  std::string current_;
  bool overflow_ = false;
  std::deque<Line> lines_;
};

/// A command: verb (upper case) and argument (after the first space, verbatim).
struct Command {
  std::string verb;
  std::string arg;
  bool has_arg = false;
};

/// Splits a line into verb and argument. The verb is upper-cased.
Command parse_command(std::string_view line);

/// `line` as a log may show it: "PASS ****" for a password (whatever the case
/// of the verb and whatever precedes it but letters), control characters as
/// '?'. Pure.
std::string loggable_command(std::string_view line);

/// An address and port from PORT or EPRT.
struct DataAddress {
  std::string ip; ///< Textual IPv4 or IPv6 address.
  std::uint16_t port = 0;
  bool v6 = false;
};

/// Parses the PORT argument "h1,h2,h3,h4,p1,p2". Errors: std::errc::invalid_argument.
core::Result<DataAddress> parse_port_arg(std::string_view arg);

/// Parses the EPRT argument "|1|1.2.3.4|5282|" or "|2|::1|5282|" (RFC 2428; any
/// delimiter in 33..126). Errors: invalid_argument; protocol_not_supported for
/// a network protocol other than 1 and 2.
core::Result<DataAddress> parse_eprt_arg(std::string_view arg);

/// The value of `OPTS MODE <value>` (draft-preston-ftpext-deflate): "Z LEVEL n",
/// case-insensitive, n from 1 to 9; returns n. Errors: std::errc::invalid_argument.
core::Result<int> parse_mode_z_opts(std::string_view value);

/// "Entering Passive Mode (h1,h2,h3,h4,p1,p2)." for an IPv4 address.
std::string format_pasv(std::string_view ipv4, std::uint16_t port);

/// "Entering Extended Passive Mode (|||port|)".
std::string format_epsv(std::uint16_t port);

} // namespace berth::ftp
