// RFC 4217: securing FTP with TLS (AUTH, PBSZ, PROT, CCC).
#include "ftp/handlers/handlers.hpp"

#include "ftp/session.hpp"

#include <string>

namespace berth::ftp {
namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

} // namespace

core::Task<Reply> handle_auth(Session& s, std::string_view arg) {
  if (!s.tls_available() || s.tls_policy() == core::TlsPolicy::off)
    co_return Reply::of(502, "TLS is not available on this server.");
  std::string mech = upper(arg);
  if (mech != "TLS" && mech != "SSL" && mech != "TLS-C" && mech != "TLS-P")
    co_return Reply::of(504, "Unknown AUTH mechanism; use AUTH TLS.");
  if (s.control_is_tls())
    co_return Reply::of(503, "Already using TLS.");
  if (!s.tls_handshake_allowed()) {
    s.quit = true;
    co_return Reply::of(421, kTooManyHandshakes);
  }
  const Reply proceed = Reply::of(234, "Proceed with negotiation.");
  co_await s.send(proceed);
  co_await s.upgrade_control();
  // Old clients' "AUTH SSL" and "AUTH TLS-P" also mean protected data.
  if (!s.quit && (mech == "SSL" || mech == "TLS-P")) {
    s.pbsz = true;
    s.prot_private = true;
  }
  co_return Reply::already_sent(proceed.code);
}

core::Task<Reply> handle_pbsz(Session& s, std::string_view arg) {
  if (!s.control_is_tls())
    co_return Reply::of(503, "PBSZ needs a TLS control connection (AUTH TLS first).");
  s.pbsz = true;
  // RFC 4217 8: a streaming protocol has no buffer; the size is always 0.
  co_return Reply::of(200, arg == "0" ? "PBSZ=0" : "PBSZ=0 (only 0 is meaningful for TLS)");
}

core::Task<Reply> handle_prot(Session& s, std::string_view arg) {
  if (!s.control_is_tls())
    co_return Reply::of(503, "PROT needs a TLS control connection (AUTH TLS first).");
  if (!s.pbsz)
    co_return Reply::of(503, "PROT needs PBSZ first.");
  std::string level = upper(arg);
  if (level == "P") {
    s.prot_private = true;
    co_return Reply::of(200, "Protection level set to Private.");
  }
  if (level == "C") {
    if (s.tls_policy() == core::TlsPolicy::required)
      co_return Reply::of(534, "Clear data connections are refused by policy.");
    s.prot_private = false;
    co_return Reply::of(200, "Protection level set to Clear.");
  }
  if (level == "S" || level == "E")
    co_return Reply::of(536, "Only PROT P and PROT C are supported.");
  co_return Reply::of(504, "Unknown protection level.");
}

core::Task<Reply> handle_ccc(Session& s, std::string_view) {
  if (!s.control_is_tls())
    co_return Reply::of(533, "The command channel is not protected.");
  // SECURITY: a clear command channel lets a middlebox read and rewrite what
  // follows (not the password: CCC needs a login first); only where the
  // configuration asks for it, for firewalls that must see PASV replies.
  if (!s.config().allow_ccc)
    co_return Reply::of(534, "CCC is refused by policy.");
  if (!s.logged_in()) // the password crosses under TLS (RFC 4217 12.2)
    co_return Reply::of(530, "Please login with USER and PASS.");
  const Reply ok = Reply::of(200, "Command channel cleared; data connections keep their PROT.");
  co_await s.send(ok);
  co_await s.clear_control();
  co_return Reply::already_sent(ok.code);
}

} // namespace berth::ftp
