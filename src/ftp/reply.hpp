#pragma once
// FTP replies: one value per reply, encoded in one place.

#include <string>
#include <system_error>
#include <vector>

namespace berth::ftp {

/// A reply: code, first line, optional middle lines (sent verbatim; RFC 959
/// multi-line replies start them with a space) and last line.
struct Reply {
  int code = 0;
  std::string text;
  std::vector<std::string> lines; ///< Middle lines of a multi-line reply.
  std::string last;               ///< Last line text of a multi-line reply.

  /// A one-line reply.
  static Reply of(int code, std::string text) { return Reply{code, std::move(text), {}, {}}; }
  /// A multi-line reply "code-text", lines..., "code last".
  static Reply multi(int code, std::string text, std::vector<std::string> lines, std::string last) {
    return Reply{code, std::move(text), std::move(lines), std::move(last)};
  }
  bool is_multi() const { return !lines.empty() || !last.empty(); }
  /// A handler that already sent its reply (AUTH TLS) returns none().
  static Reply none() { return Reply{}; }
};

/// The wire form, CRLF-terminated. CR and LF inside texts are replaced by spaces
/// so that no reply can inject another.
std::string encode(const Reply& r);

/// The reply for an error of any layer (vfs, core, system). Never carries host
/// paths or internal text.
Reply reply_for(std::error_code ec);

} // namespace berth::ftp
