#include "ftp/commands.hpp"

#include "ftp/codec.hpp"
#include "ftp/handlers/handlers.hpp"
#include "ftp/session.hpp"

#include <algorithm>
#include <array>

namespace berth::ftp {
namespace {

using A = ArgRule;
using T = TlsRule;

// Sorted by verb (checked at compile time below).
constexpr std::array kTable = std::to_array<CommandSpec>({
    {"ABOR", handle_abor, A::none, false, T::none, "", "ABOR"},
    {"ALLO", handle_allo, A::required, true, T::none, "", "ALLO <size>"},
    {"APPE", handle_appe, A::required, true, T::data, "", "APPE <path>"},
    {"AUTH", handle_auth, A::required, false, T::none, "AUTH TLS", "AUTH TLS"},
    {"AVBL", handle_avbl, A::optional, true, T::none, "AVBL", "AVBL [<path>]"},
    {"CCC", handle_ccc, A::none, false, T::none, "", "CCC"},
    {"CDUP", handle_cdup, A::none, true, T::none, "", "CDUP"},
    {"CLNT", handle_clnt, A::required, false, T::none, "CLNT", "CLNT <client name>"},
    {"CWD", handle_cwd, A::optional, true, T::none, "", "CWD <path>"},
    {"DELE", handle_dele, A::required, true, T::none, "", "DELE <path>"},
    {"EPRT", handle_eprt, A::required, true, T::none, "EPRT", "EPRT |proto|addr|port|"},
    {"EPSV", handle_epsv, A::optional, true, T::none, "EPSV", "EPSV [1|2|ALL]"},
    {"FEAT", handle_feat, A::none, false, T::none, "", "FEAT"},
    {"HASH", handle_hash, A::required, true, T::none, "HASH SHA-256*;SHA-512;SHA-1;MD5",
     "HASH <path>"},
    {"HELP", handle_help, A::optional, false, T::none, "", "HELP [<verb>]"},
    {"HOST", handle_host, A::required, false, T::none, "HOST", "HOST <name>"},
    {"LANG", handle_lang, A::optional, false, T::none, "LANG EN*", "LANG [EN]"},
    {"LIST", handle_list, A::optional, true, T::data, "", "LIST [<path>]"},
    {"MDTM", handle_mdtm, A::required, true, T::none, "MDTM", "MDTM <path>"},
    {"MFF", handle_mff, A::required, true, T::none, "MFF modify;UNIX.mode;",
     "MFF <fact>=<value>; <path>"},
    {"MFMT", handle_mfmt, A::required, true, T::none, "MFMT", "MFMT <YYYYMMDDHHMMSS> <path>"},
    {"MKD", handle_mkd, A::required, true, T::none, "", "MKD <path>"},
    {"MLSD", handle_mlsd, A::optional, true, T::data, "", "MLSD [<path>]"},
    {"MLST", handle_mlst, A::optional, true, T::none, "MLST", "MLST [<path>]"},
    {"MODE", handle_mode, A::required, false, T::none, "MODE Z", "MODE S | Z"},
    {"NLST", handle_nlst, A::optional, true, T::data, "", "NLST [<path>]"},
    {"NOOP", handle_noop, A::none, false, T::none, "", "NOOP"},
    {"OPTS", handle_opts, A::required, false, T::none, "UTF8",
     "OPTS UTF8 ON | HASH [<alg>] | MLST <facts> | MODE Z LEVEL <1-9>"},
    {"PASS", handle_pass, A::optional, false, T::control, "", "PASS <password>"},
    {"PASV", handle_pasv, A::none, true, T::none, "", "PASV"},
    {"PBSZ", handle_pbsz, A::required, false, T::none, "PBSZ", "PBSZ 0"},
    {"PORT", handle_port, A::required, true, T::none, "", "PORT h1,h2,h3,h4,p1,p2"},
    {"PROT", handle_prot, A::required, false, T::none, "PROT", "PROT P | C"},
    {"PWD", handle_pwd, A::none, true, T::none, "", "PWD"},
    {"QUIT", handle_quit, A::none, false, T::none, "", "QUIT"},
    {"RANG", handle_rang, A::required, true, T::none, "RANG STREAM", "RANG <start> <end>"},
    {"REIN", handle_rein, A::none, false, T::none, "", "REIN"},
    {"REST", handle_rest, A::required, true, T::none, "REST STREAM", "REST <offset>"},
    {"RETR", handle_retr, A::required, true, T::data, "", "RETR <path>"},
    {"RMD", handle_rmd, A::required, true, T::none, "", "RMD <path>"},
    {"RNFR", handle_rnfr, A::required, true, T::none, "", "RNFR <path>"},
    {"RNTO", handle_rnto, A::required, true, T::none, "", "RNTO <path>"},
    {"SITE", handle_site, A::required, true, T::none, "", "SITE <command> [<arguments>]"},
    {"SIZE", handle_size, A::required, true, T::none, "SIZE", "SIZE <path>"},
    {"STAT", handle_stat, A::optional, false, T::none, "", "STAT [<path>]"},
    {"STOR", handle_stor, A::required, true, T::data, "", "STOR <path>"},
    {"STOU", handle_stou, A::optional, true, T::data, "", "STOU [<name>]"},
    {"STRU", handle_stru, A::required, false, T::none, "", "STRU F"},
    {"SYST", handle_syst, A::none, false, T::none, "", "SYST"},
    {"TYPE", handle_type, A::required, false, T::none, "", "TYPE A | I"},
    {"USER", handle_user, A::required, false, T::control, "", "USER <name>"},
    {"XCRC", handle_xcrc, A::required, true, T::none, "XCRC", "XCRC <path> [<start> [<end>]]"},
    {"XCUP", handle_cdup, A::none, true, T::none, "", "XCUP"},
    {"XCWD", handle_cwd, A::optional, true, T::none, "", "XCWD <path>"},
    {"XMD5", handle_xmd5, A::required, true, T::none, "XMD5", "XMD5 <path> [<start> [<end>]]"},
    {"XMKD", handle_mkd, A::required, true, T::none, "", "XMKD <path>"},
    {"XPWD", handle_pwd, A::none, true, T::none, "", "XPWD"},
    {"XRMD", handle_rmd, A::required, true, T::none, "", "XRMD <path>"},
    {"XSHA1", handle_xsha1, A::required, true, T::none, "XSHA1", "XSHA1 <path> [<start> [<end>]]"},
    {"XSHA256", handle_xsha256, A::required, true, T::none, "XSHA256",
     "XSHA256 <path> [<start> [<end>]]"},
    {"XSHA512", handle_xsha512, A::required, true, T::none, "XSHA512",
     "XSHA512 <path> [<start> [<end>]]"},
});

static_assert(std::is_sorted(kTable.begin(), kTable.end(),
                             [](const CommandSpec& a, const CommandSpec& b) {
                               return a.verb < b.verb;
                             }),
              "command table must be sorted by verb");

} // namespace

std::span<const CommandSpec> command_table() {
  return kTable;
}

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
  } else if (s.tls_policy() == core::TlsPolicy::required && spec->tls == TlsRule::control &&
             !s.control_is_tls()) {
    r = Reply::of(530, "TLS required: use AUTH TLS first.");
  } else if (s.tls_policy() == core::TlsPolicy::required && spec->tls == TlsRule::data &&
             !s.prot_private) {
    r = Reply::of(521, "Data connections must be encrypted: use PBSZ 0 and PROT P.");
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
