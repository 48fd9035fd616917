#include "ftp/commands.hpp"

#include "ftp/codec.hpp"
#include "ftp/handlers/handlers.hpp"
#include "ftp/session.hpp"

#include <algorithm>
#include <array>

namespace berth::ftp {
namespace {

using A = ArgRule;

// Sorted by verb (checked at compile time below).
constexpr std::array kTable = std::to_array<CommandSpec>({
    {"ABOR", handle_abor, A::none, false, "", "ABOR"},
    {"ALLO", handle_allo, A::required, true, "", "ALLO <size>"},
    {"APPE", handle_appe, A::required, true, "", "APPE <path>"},
    {"CDUP", handle_cdup, A::none, true, "", "CDUP"},
    {"CWD", handle_cwd, A::optional, true, "", "CWD <path>"},
    {"DELE", handle_dele, A::required, true, "", "DELE <path>"},
    {"EPRT", handle_eprt, A::required, true, "EPRT", "EPRT |proto|addr|port|"},
    {"EPSV", handle_epsv, A::optional, true, "EPSV", "EPSV [1|2|ALL]"},
    {"FEAT", handle_feat, A::none, false, "", "FEAT"},
    {"HASH", handle_hash, A::required, true, "HASH SHA-256*;SHA-512;SHA-1;MD5", "HASH <path>"},
    {"HELP", handle_help, A::optional, false, "", "HELP [<verb>]"},
    {"LIST", handle_list, A::optional, true, "", "LIST [<path>]"},
    {"MDTM", handle_mdtm, A::required, true, "MDTM", "MDTM <path>"},
    {"MFF", handle_mff, A::required, true, "MFF modify;UNIX.mode;", "MFF <fact>=<value>; <path>"},
    {"MFMT", handle_mfmt, A::required, true, "MFMT", "MFMT <YYYYMMDDHHMMSS> <path>"},
    {"MKD", handle_mkd, A::required, true, "", "MKD <path>"},
    {"MLSD", handle_mlsd, A::optional, true, "", "MLSD [<path>]"},
    {"MLST", handle_mlst, A::optional, true, "MLST", "MLST [<path>]"},
    {"MODE", handle_mode, A::required, false, "", "MODE S"},
    {"NLST", handle_nlst, A::optional, true, "", "NLST [<path>]"},
    {"NOOP", handle_noop, A::none, false, "", "NOOP"},
    {"OPTS", handle_opts, A::required, false, "UTF8", "OPTS UTF8 ON | HASH [<alg>] | MLST <facts>"},
    {"PASS", handle_pass, A::optional, false, "", "PASS <password>"},
    {"PASV", handle_pasv, A::none, true, "", "PASV"},
    {"PORT", handle_port, A::required, true, "", "PORT h1,h2,h3,h4,p1,p2"},
    {"PWD", handle_pwd, A::none, true, "", "PWD"},
    {"QUIT", handle_quit, A::none, false, "", "QUIT"},
    {"RANG", handle_rang, A::required, true, "RANG STREAM", "RANG <start> <end>"},
    {"REIN", handle_rein, A::none, false, "", "REIN"},
    {"REST", handle_rest, A::required, true, "REST STREAM", "REST <offset>"},
    {"RETR", handle_retr, A::required, true, "", "RETR <path>"},
    {"RMD", handle_rmd, A::required, true, "", "RMD <path>"},
    {"RNFR", handle_rnfr, A::required, true, "", "RNFR <path>"},
    {"RNTO", handle_rnto, A::required, true, "", "RNTO <path>"},
    {"SIZE", handle_size, A::required, true, "SIZE", "SIZE <path>"},
    {"STAT", handle_stat, A::optional, false, "", "STAT [<path>]"},
    {"STOR", handle_stor, A::required, true, "", "STOR <path>"},
    {"STOU", handle_stou, A::optional, true, "", "STOU [<name>]"},
    {"STRU", handle_stru, A::required, false, "", "STRU F"},
    {"SYST", handle_syst, A::none, false, "", "SYST"},
    {"TYPE", handle_type, A::required, false, "", "TYPE A | I"},
    {"USER", handle_user, A::required, false, "", "USER <name>"},
    {"XCUP", handle_cdup, A::none, true, "", "XCUP"},
    {"XCWD", handle_cwd, A::optional, true, "", "XCWD <path>"},
    {"XMKD", handle_mkd, A::required, true, "", "XMKD <path>"},
    {"XPWD", handle_pwd, A::none, true, "", "XPWD"},
    {"XRMD", handle_rmd, A::required, true, "", "XRMD <path>"},
});

static_assert(std::is_sorted(kTable.begin(), kTable.end(),
                             [](const CommandSpec& a, const CommandSpec& b) {
                               return a.verb < b.verb;
                             }),
              "command table must be sorted by verb");

} // namespace

std::span<const CommandSpec> command_table() { return kTable; }

const CommandSpec* find_command(std::string_view verb) {
  auto it = std::lower_bound(kTable.begin(), kTable.end(), verb,
                             [](const CommandSpec& c, std::string_view v) { return c.verb < v; });
  if (it == kTable.end() || it->verb != verb)
    return nullptr;
  return &*it;
}

core::Task<Reply> dispatch(Session& s, std::string_view line) {
  Command c = parse_command(line);
  const CommandSpec* spec = find_command(c.verb);
  Reply r;
  if (spec == nullptr) {
    r = Reply::of(500, "Unknown command.");
  } else if (spec->arg == ArgRule::none && c.has_arg) {
    r = Reply::of(501, "This command takes no argument.");
  } else if (spec->arg == ArgRule::required && !c.has_arg) {
    r = Reply::of(501, "Syntax error in parameters or arguments.");
  } else if (spec->needs_login && !s.logged_in()) {
    r = Reply::of(530, "Please login with USER and PASS.");
  } else if (c.arg.find('\0') != std::string::npos) {
    r = Reply::of(501, "Invalid character in argument.");
  } else {
    r = co_await spec->handler(s, c.arg);
  }
  // Sequences last exactly one command (RFC 959 4.1.1, 4.1.3; RFC 3659 5.1).
  Handler h = spec != nullptr ? spec->handler : nullptr;
  if (h != handle_user && h != handle_pass)
    s.pending_user.reset();
  if (h != handle_rnfr)
    s.rename_from.reset();
  if (h != handle_rest)
    s.restart_offset = 0;
  if (h != handle_rang)
    s.hash_range.reset();
  co_return r;
}

} // namespace berth::ftp
