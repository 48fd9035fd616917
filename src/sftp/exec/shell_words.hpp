#pragma once
// Splits a command line a client sends with an SSH "exec" request into words,
// as a POSIX shell would quote them, and nothing more: no variables, globs,
// redirections or pipes, and never a shell to run them (docs/SECURITY.md).

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace berth::sftp::exec {

/// The longest command line split; a longer one is refused.
inline constexpr std::size_t kMaxCommandLine = 64 * 1024;
/// The most words a command line may hold.
inline constexpr std::size_t kMaxWords = 256;

/// A command line's words, or why it has none.
struct Words {
  std::vector<std::string> words;
  std::string_view error; ///< Empty when the line was split; else the reason, for the client.
};

/// Splits `line` at unquoted blanks (space, tab, newline). Quoting as POSIX
/// sh (XCU 2.2): 'single quotes' keep every byte; "double quotes" keep every
/// byte but \ before $ ` " \ or a newline; an unquoted \ keeps the next byte
/// (and a \ before a newline joins the lines). `$`, `*`, `?`, `~`, `#` and
/// `[` are plain bytes. Errors: a line longer than kMaxCommandLine or of more
/// than kMaxWords words, a quote left open, a \ at the end, and the unquoted
/// shell operators ; & | < > ( ) ` that only a shell could honour. Pure.
Words split_words(std::string_view line);

} // namespace berth::sftp::exec
