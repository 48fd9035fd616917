// SITE (RFC 959 4.1.3): a second command table, one row and one handler per
// subcommand, sorted like the main table. The subcommands are those clients
// send: CHMOD (FileZilla, lftp chmod and mirror -R, curl -Q, tnftp, gftp),
// UTIME (ProFTPD's mod_site_misc form and the five-argument form), SYMLINK.
//
// Not offered: SITE MKDIR (ProFTPD makes parents; MKD per level does the
// same) and SITE RMDIR (ProFTPD removes a whole tree): one command walking a
// tree of any size has no bound on its work and no way to be aborted, and
// clients that remove trees (lftp rm -r, FileZilla) send DELE and RMD.
#include "ftp/handlers/handlers.hpp"

#include "ftp/args.hpp"
#include "ftp/commands.hpp"
#include "ftp/listing.hpp"
#include "ftp/session.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace berth::ftp {
namespace {

/// One SITE subcommand. The main table's rules (login) hold for all of them.
struct SiteSpec {
  std::string_view name;
  Handler handler;
  std::string_view help; ///< Syntax for SITE HELP and HELP SITE.
};

core::Task<Reply> site_chmod(Session& s, std::string_view arg) {
  auto words = split_word(arg);
  if (!words)
    co_return Reply::of(501, "Syntax: SITE CHMOD <octal mode> <path>");
  auto mode = parse_unix_mode(words->first);
  if (!mode)
    co_return mode_refusal(mode.error());
  auto p = s.path(words->second);
  if (!p)
    co_return reply_for(p.error());
  auto r = co_await s.fs().set_mode(*p, *mode);
  if (!r)
    co_return reply_for(r.error());
  co_return Reply::of(200, "SITE CHMOD command ok.");
}

core::Task<Reply> site_help(Session&, std::string_view) {
  co_return Reply::multi(214, "The following SITE commands are recognized:", site_help_lines(),
                         "Help OK.");
}

core::Task<Reply> site_symlink(Session& s, std::string_view arg) {
  // "SITE SYMLINK <target> <link>" (ProFTPD's mod_site_misc order, the order
  // of ln -s). The target is resolved as any client path, inside the root;
  // the vfs stores it relative to the link, as SFTP SYMLINK does.
  auto words = split_word(arg);
  if (!words)
    co_return Reply::of(501, "Syntax: SITE SYMLINK <target> <link>");
  auto target = s.path(words->first);
  auto link = s.path(words->second);
  if (!target)
    co_return reply_for(target.error());
  if (!link)
    co_return reply_for(link.error());
  auto r = co_await s.fs().make_symlink(*target, *link);
  if (!r)
    co_return reply_for(r.error());
  co_return Reply::of(200, "SITE SYMLINK command ok.");
}

core::Task<Reply> site_utime(Session& s, std::string_view arg) {
  auto u = parse_site_utime(arg);
  if (!u)
    co_return Reply::of(501, "Syntax: SITE UTIME <YYYYMMDDhhmmss> <path> | SITE UTIME <path> "
                             "<atime> <mtime> <ctime> UTC");
  auto p = s.path(u->path);
  if (!p)
    co_return reply_for(p.error());
  auto r = co_await s.fs().set_times(*p, u->atime, u->mtime);
  if (!r)
    co_return reply_for(r.error());
  co_return Reply::of(200,
                      fmt::format("SITE UTIME command ok: Modify={}.", format_time_val(u->mtime)));
}

// Sorted by name (checked at compile time below).
constexpr std::array kSite = std::to_array<SiteSpec>({
    {"CHMOD", site_chmod, "CHMOD <octal mode> <path>"},
    {"HELP", site_help, "HELP"},
    {"SYMLINK", site_symlink, "SYMLINK <target> <link>"},
    {"UTIME", site_utime,
     "UTIME <YYYYMMDDhhmmss> <path> | UTIME <path> <atime> <mtime> <ctime> UTC"},
});

static_assert(std::is_sorted(kSite.begin(), kSite.end(),
                             [](const SiteSpec& a, const SiteSpec& b) { return a.name < b.name; }),
              "SITE table must be sorted by name");

} // namespace

std::vector<std::string> site_help_lines() {
  std::vector<std::string> lines;
  for (const auto& c : kSite)
    lines.push_back(" SITE " + std::string(c.help));
  return lines;
}

core::Task<Reply> handle_site(Session& s, std::string_view arg) {
  auto space = arg.find(' ');
  std::string name(arg.substr(0, space));
  for (char& c : name)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string_view rest = space == std::string_view::npos ? "" : arg.substr(space + 1);
  auto it = std::lower_bound(kSite.begin(), kSite.end(), name,
                             [](const SiteSpec& c, std::string_view n) { return c.name < n; });
  if (it == kSite.end() || it->name != name)
    co_return Reply::of(500, fmt::format("Unknown SITE command {}: SITE HELP lists them.",
                                         listable_name(name) ? name : "?"));
  co_return co_await it->handler(s, rest);
}

} // namespace berth::ftp
