// RFC 959 4.1.3 file management; RFC 3659 SIZE/MDTM; MFMT and MFF
// (draft-somers-ftp-mfxx).
#include "ftp/handlers/handlers.hpp"

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
  auto space = arg.find(' ');
  if (space == std::string_view::npos || space + 1 >= arg.size())
    co_return Reply::of(501, "Syntax: MFMT YYYYMMDDHHMMSS path");
  auto t = parse_time_val(arg.substr(0, space));
  if (!t)
    co_return Reply::of(501, "Invalid time value.");
  auto p = s.path(arg.substr(space + 1));
  if (!p)
    co_return reply_for(p.error());
  auto r = co_await s.fs().set_mtime(*p, *t);
  if (!r)
    co_return reply_for(r.error());
  co_return Reply::of(213,
                      fmt::format("Modify={}; {}", format_time_val(*t), arg.substr(space + 1)));
}

core::Task<Reply> handle_mff(Session& s, std::string_view arg) {
  // "fact=value;fact=value; path": facts end at the "; " before the path.
  auto sep = arg.find("; ");
  if (sep == std::string_view::npos)
    co_return Reply::of(501, "Syntax: MFF fact=value;... path");
  std::string_view facts = arg.substr(0, sep + 1);
  std::string_view name = arg.substr(sep + 2);
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
      std::uint32_t m = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), m, 8);
      if (ec != std::errc{} || end != value.data() + value.size() || m > 07777)
        co_return Reply::of(501, "Invalid mode.");
      // SECURITY: setuid, setgid and sticky bits are never set (vfs set_mode
      // keeps 0777): refused rather than answered as applied.
      if (m > 0777)
        co_return Reply::of(504, "UNIX.mode sets permission bits only (0-777).");
      mode = m;
    } else {
      co_return Reply::of(504, fmt::format("Fact {} can not be modified.", key));
    }
    applied += std::string(fact) + ";";
  }
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
