// RFC 959 4.1.3 file management; RFC 3659 SIZE/MDTM; MFMT and MFF
// (draft-somers-ftp-mfxx).
#include "ftp/handlers/handlers.hpp"

#include "ftp/args.hpp"
#include "ftp/listing.hpp"
#include "ftp/session.hpp"

#include <fmt/format.h>

#include <charconv>

namespace berth::ftp {
namespace {

using PathOp = core::Task<core::Result<void>> (vfs::Filesystem::*)(const vfs::VirtualPath&);

// Resolves `arg` and applies one filesystem operation to it.
core::Task<core::Result<vfs::VirtualPath>> apply(Session& s, std::string_view arg, PathOp op) {
  auto p = s.path(arg);
  if (!p)
    co_return core::unexpected(p.error());
  auto r = co_await (s.fs().*op)(*p);
  if (!r)
    co_return core::unexpected(r.error());
  co_return std::move(*p);
}

} // namespace

Reply mode_refusal(std::error_code ec) {
  if (ec == std::errc::operation_not_supported)
    return Reply::of(504, "Only permission bits can be set (0-777): no setuid, setgid or sticky.");
  return Reply::of(501, "Invalid mode: octal permission bits expected (e.g. 644).");
}

core::Task<Reply> handle_pwd(Session& s, std::string_view) {
  co_return Reply::of(257, quote_path(s.cwd.str()) + " is the current directory");
}

core::Task<Reply> handle_mkd(Session& s, std::string_view arg) {
  auto p = s.path(arg);
  if (!p)
    co_return reply_for(p.error());
  auto r = co_await s.fs().make_directory(*p, 0777);
  if (!r)
    co_return reply_for(r.error());
  co_return Reply::of(257, quote_path(p->str()) + " created");
}

core::Task<Reply> handle_rmd(Session& s, std::string_view arg) {
  auto p = co_await apply(s, arg, &vfs::Filesystem::remove_directory);
  if (!p)
    co_return reply_for(p.error());
  co_return Reply::of(250, "Remove directory operation successful.");
}

core::Task<Reply> handle_dele(Session& s, std::string_view arg) {
  auto p = co_await apply(s, arg, &vfs::Filesystem::remove_file);
  if (!p)
    co_return reply_for(p.error());
  co_return Reply::of(250, "Delete operation successful.");
}

core::Task<Reply> handle_rnfr(Session& s, std::string_view arg) {
  auto target = co_await s.stat_path(arg);
  if (!target)
    co_return reply_for(target.error());
  s.rename_from = std::move(target->first);
  co_return Reply::of(350, "Ready for RNTO.");
}

core::Task<Reply> handle_rnto(Session& s, std::string_view arg) {
  if (!s.rename_from)
    co_return Reply::of(503, "RNFR required first.");
  auto p = s.path(arg);
  if (!p)
    co_return reply_for(p.error());
  auto r = co_await s.fs().rename(*s.rename_from, *p, vfs::RenameMode::replace);
  if (!r)
    co_return reply_for(r.error());
  co_return Reply::of(250, "Rename successful.");
}

core::Task<Reply> handle_size(Session& s, std::string_view arg) {
  auto target = co_await s.stat_path(arg);
  if (!target)
    co_return reply_for(target.error());
  if (target->second.type != vfs::FileType::regular)
    co_return Reply::of(550, "Could not get file size.");
  co_return Reply::of(213, std::to_string(target->second.size));
}

core::Task<Reply> handle_mdtm(Session& s, std::string_view arg) {
  auto target = co_await s.stat_path(arg);
  if (!target)
    co_return reply_for(target.error());
  co_return Reply::of(213, format_time_val(target->second.mtime));
}

core::Task<Reply> handle_mfmt(Session& s, std::string_view arg) {
  auto words = split_word(arg);
  if (!words)
    co_return Reply::of(501, "Syntax: MFMT YYYYMMDDHHMMSS path");
  auto t = parse_time_val(words->first);
  if (!t)
    co_return Reply::of(501, "Invalid time value.");
  auto p = s.path(words->second);
  if (!p)
    co_return reply_for(p.error());
  auto r = co_await s.fs().set_mtime(*p, *t);
  if (!r)
    co_return reply_for(r.error());
  co_return Reply::of(213, fmt::format("Modify={}; {}", format_time_val(*t), words->second));
}

core::Task<Reply> handle_mff(Session& s, std::string_view arg) {
  // "fact=value;fact=value; path": facts end at the first space (a value
  // holds none). ncftp 3.2 leaves out the last ';' ("Modify=..;Create=.. f").
  auto words = split_word(arg);
  if (!words)
    co_return Reply::of(501, "Syntax: MFF fact=value;... path");
  std::string_view facts = words->first;
  const std::string_view name = words->second;
  auto p = s.path(name);
  if (!p)
    co_return reply_for(p.error());
  std::optional<std::chrono::system_clock::time_point> mtime;
  std::optional<std::uint32_t> mode;
  std::string applied;
  while (!facts.empty()) {
    auto semi = facts.find(';');
    std::string_view fact = facts.substr(0, semi);
    facts.remove_prefix(semi == std::string_view::npos ? facts.size() : semi + 1);
    auto eq = fact.find('=');
    if (eq == std::string_view::npos)
      co_return Reply::of(501, "Syntax: MFF fact=value;... path");
    std::string key(fact.substr(0, eq));
    for (char& c : key)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view value = fact.substr(eq + 1);
    if (key == "modify") {
      auto t = parse_time_val(value);
      if (!t)
        co_return Reply::of(501, "Invalid time value.");
      mtime = *t;
    } else if (key == "unix.mode") {
      auto m = parse_unix_mode(value);
      if (!m)
        co_return mode_refusal(m.error());
      mode = *m;
    } else {
      // ncftp sends "Modify=..;Create=..;": a fact berth does not set (Create,
      // Lang...) is left alone, and the reply names only the facts applied
      // (draft-somers-ftp-mfxx 4), rather than failing the whole command.
      continue;
    }
    applied += std::string(fact) + ";";
  }
  if (applied.empty())
    co_return Reply::of(504, "None of these facts can be modified (Modify, UNIX.mode).");
  if (mode) {
    auto r = co_await s.fs().set_mode(*p, *mode);
    if (!r)
      co_return reply_for(r.error());
  }
  if (mtime) {
    auto r = co_await s.fs().set_mtime(*p, *mtime);
    if (!r)
      co_return reply_for(r.error());
  }
  co_return Reply::of(213, fmt::format("{} {}", applied, name));
}

} // namespace berth::ftp
