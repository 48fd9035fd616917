// RFC 959 4.1.2 transfer parameters; RFC 2428 EPRT/EPSV.
#include "ftp/handlers/handlers.hpp"

#include "core/log.hpp"
#include "ftp/codec.hpp"
#include "ftp/session.hpp"

#include <asio/this_coro.hpp>
#include <fmt/format.h>

namespace berth::ftp {
namespace {

// SECURITY: active data goes only to the control connection's client and never
// to a privileged port (RFC 2577 "bounce attack").
Reply set_active(Session& s, const DataAddress& a) {
  std::error_code ec;
  auto addr = net::unmapped(asio::ip::make_address(a.ip, ec));
  if (ec)
    return Reply::of(501, "Syntax error in parameters or arguments.");
  if (addr != net::unmapped(s.peer().address()) || a.port < 1024) {
    spdlog::warn("ftp: {} refused data connection request to {} port {}",
                 s.peer().address().to_string(), a.ip, a.port);
    return Reply::of(500, "Illegal PORT command: only your own address and a port >= 1024.");
  }
  s.data().set_active(net::Endpoint(addr, a.port));
  return Reply::of(200, a.v6 ? "EPRT command successful." : "PORT command successful.");
}

} // namespace

core::Task<Reply> handle_port(Session& s, std::string_view arg) {
  if (s.epsv_all)
    co_return Reply::of(503, "EPSV ALL in effect.");
  auto a = parse_port_arg(arg);
  if (!a)
    co_return Reply::of(501, "Syntax error in PORT argument.");
  co_return set_active(s, *a);
}

core::Task<Reply> handle_eprt(Session& s, std::string_view arg) {
  if (s.epsv_all)
    co_return Reply::of(503, "EPSV ALL in effect.");
  auto a = parse_eprt_arg(arg);
  if (!a) {
    if (a.error() == std::errc::protocol_not_supported)
      co_return Reply::of(522, "Network protocol not supported, use (1,2)");
    co_return Reply::of(501, "Syntax error in EPRT argument.");
  }
  co_return set_active(s, *a);
}

core::Task<Reply> handle_pasv(Session& s, std::string_view) {
  if (s.epsv_all)
    co_return Reply::of(503, "EPSV ALL in effect.");
  auto local = s.unmapped_local();
  std::string announce = s.config().passive_address;
  if (PassiveAddresses* by_client = s.passive_addresses()) {
    // By the client's address (after PROXY): internal clients may get an
    // internal address, others the public one; a host name is looked up.
    const net::Address client = net::unmapped(s.peer().address());
    auto chosen = co_await by_client->for_client(client, s.config().data_timeout);
    if (!chosen)
      co_return Reply::of(425, "Can't open passive connection: passive address unknown.");
    announce = chosen->value_or(std::string());
  }
  if (announce.empty()) {
    if (!local.is_v4())
      co_return Reply::of(425, "PASV needs IPv4; use EPSV.");
    announce = local.to_string();
  }
  auto port =
      s.data().listen_passive(co_await asio::this_coro::executor, local, s.config().passive_ports);
  if (!port)
    co_return Reply::of(425, "Can't open passive connection.");
  co_return Reply::of(227, format_pasv(announce, *port));
}

core::Task<Reply> handle_epsv(Session& s, std::string_view arg) {
  if (arg == "ALL" || arg == "all") {
    s.epsv_all = true;
    co_return Reply::of(200, "EPSV ALL ok.");
  }
  auto local = s.unmapped_local();
  if (!arg.empty()) {
    bool v6 = !local.is_v4();
    if (!((arg == "1" && !v6) || (arg == "2" && v6)))
      co_return Reply::of(522, v6 ? "Network protocol not supported, use (2)"
                                  : "Network protocol not supported, use (1)");
  }
  auto port =
      s.data().listen_passive(co_await asio::this_coro::executor, local, s.config().passive_ports);
  if (!port)
    co_return Reply::of(425, "Can't open passive connection.");
  co_return Reply::of(229, format_epsv(*port));
}

core::Task<Reply> handle_type(Session& s, std::string_view arg) {
  std::string t(arg);
  for (char& c : t)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (t == "A" || t == "A N") {
    s.type = TransferType::ascii;
    co_return Reply::of(200, "Switching to ASCII mode.");
  }
  if (t == "I" || t == "L 8" || t == "L8") {
    s.type = TransferType::binary;
    co_return Reply::of(200, "Switching to Binary mode.");
  }
  if (t == "E" || t.starts_with("A ") || t.starts_with("E ") || t.starts_with("L "))
    co_return Reply::of(504, "Command not implemented for that parameter.");
  co_return Reply::of(501, "Unrecognised TYPE command.");
}

core::Task<Reply> handle_mode(Session& s, std::string_view arg) {
  if (arg == "S" || arg == "s") {
    s.mode_z = false;
    co_return Reply::of(200, "Mode set to S.");
  }
  if (arg == "Z" || arg == "z") {
    // draft-preston-ftpext-deflate: each transfer's bytes are one zlib stream.
    s.mode_z = true;
    co_return Reply::of(200, "Mode set to Z.");
  }
  if (arg == "B" || arg == "C" || arg == "b" || arg == "c")
    co_return Reply::of(504, "Only stream and deflate (Z) modes are supported.");
  co_return Reply::of(501, "Unrecognised MODE.");
}

Reply opts_mode(Session& s, std::string_view value) {
  auto level = parse_mode_z_opts(value);
  if (!level)
    return Reply::of(501, "Use OPTS MODE Z LEVEL <1-9>.");
  s.deflate_level = *level;
  return Reply::of(200, fmt::format("MODE Z LEVEL set to {}.", *level));
}

core::Task<Reply> handle_stru(Session&, std::string_view arg) {
  if (arg == "F" || arg == "f")
    co_return Reply::of(200, "Structure set to F.");
  if (arg == "R" || arg == "P" || arg == "r" || arg == "p")
    co_return Reply::of(504, "Only file structure is supported.");
  co_return Reply::of(501, "Unrecognised STRU.");
}

} // namespace berth::ftp
