#pragma once
// The FTP command table: one row per verb, and the dispatcher that alone
// answers 500, 501 and 530 before a handler runs.

#include "core/task.hpp"
#include "ftp/reply.hpp"

#include <span>
#include <string_view>

namespace berth::ftp {

class Session;

using Handler = core::Task<Reply> (*)(Session&, std::string_view arg);

enum class ArgRule { none, required, optional };

/// What `tls = "required"` demands of a verb (RFC 4217).
enum class TlsRule {
  none,
  control, ///< The control connection must be TLS (login: 530 otherwise).
  data,    ///< Data connections must be TLS (PROT P; 521 otherwise).
};

/// One verb. Aliases (XPWD...) are rows sharing a handler.
struct CommandSpec {
  std::string_view verb;
  Handler handler;
  ArgRule arg;
  bool needs_login;
  TlsRule tls;
  std::string_view feat; ///< Line for FEAT, or empty.
  std::string_view help; ///< Syntax for HELP.
};

/// Every verb berth knows, sorted by verb.
std::span<const CommandSpec> command_table();

/// The row for `verb` (upper case), or nullptr.
const CommandSpec* find_command(std::string_view verb);

/// Parses and runs one command line and returns its final reply.
core::Task<Reply> dispatch(Session& s, std::string_view line);

} // namespace berth::ftp
