#pragma once
// FTP replies: one value per reply, encoded in one place.

#include <string>
#include <string_view>
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
  bool sent = false;              ///< The handler sent it already; only logged.

  /// A one-line reply.
  static Reply of(int code, std::string text) {
    return Reply{code, std::move(text), {}, {}, false};
  }
  /// A multi-line reply "code-text", lines..., "code last".
  static Reply multi(int code, std::string text, std::vector<std::string> lines, std::string last) {
    return Reply{code, std::move(text), std::move(lines), std::move(last), false};
  }
  bool is_multi() const { return !lines.empty() || !last.empty(); }
  /// What a handler that already sent its reply `code` (AUTH TLS: 234, before
  /// the handshake) returns: nothing more is sent, and the log shows `code`.
  static Reply already_sent(int code) { return Reply{code, {}, {}, {}, true}; }
};

/// The wire form, CRLF-terminated. CR and LF inside texts are replaced by spaces
/// so that no reply can inject another.
std::string encode(const Reply& r);

/// The parts of a multi-line reply, for one sent as it is made (STAT of a large
/// directory): encode(Reply::multi(code, text, lines, last)) is
/// encode_first(code, text) + encode_middle(lines) + encode_last(code, last).
std::string encode_first(int code, std::string_view text);
std::string encode_middle(const std::vector<std::string>& lines);
std::string encode_last(int code, std::string_view text);

/// The reply for an error of any layer (vfs, core, system). Never carries host
/// paths or internal text.
Reply reply_for(std::error_code ec);

} // namespace berth::ftp
