// Directory listings: LIST, NLST (RFC 959), MLSD, MLST (RFC 3659), STAT.
#include "ftp/handlers/handlers.hpp"

#include "core/errc.hpp"
#include "ftp/glob.hpp"
#include "ftp/listing.hpp"
#include "ftp/session.hpp"
#include "vfs/errc.hpp"

#include <algorithm>

namespace berth::ftp {
namespace {

// The longest name pattern matched against a directory's names: NAME_MAX,
// so one pattern costs at most 255 x 255 steps a name (glob_match).
constexpr std::size_t kMaxPattern = 255;

/// A LIST, NLST or STAT argument: ls-style options ("-la") and the path.
struct ListArg {
  std::string_view path;
  bool all = false; ///< -a: patterns match hidden names too.
};

// LIST and NLST accept ls-style options before the path, as vsftpd does: every
// name is listed already, dotfiles too, and the format is fixed, so "-l" and
// the others change nothing; "-a" lets a pattern match dotfiles.
ListArg parse_list_arg(std::string_view arg) {
  ListArg out;
  while (arg.starts_with('-')) {
    auto space = arg.find(' ');
    std::string_view opts = arg.substr(0, space);
    out.all = out.all || opts.find('a') != std::string_view::npos;
    arg = space == std::string_view::npos ? std::string_view() : arg.substr(space + 1);
  }
  out.path = arg;
  return out;
}

/// What a listing shows: a directory's entries, or one file.
struct Target {
  std::vector<vfs::DirEntry> entries;
  bool is_directory = false;
};

void sort_by_name(std::vector<vfs::DirEntry>& entries) {
  std::sort(entries.begin(), entries.end(),
            [](const vfs::DirEntry& a, const vfs::DirEntry& b) { return a.name < b.name; });
}

// The entries of the directory before `given`'s last component whose names
// match that component, a pattern (one level: no recursion). Shown as the
// client wrote the directory, so "NLST sub/*.txt" gives names RETR takes.
core::Task<core::Result<Target>> match(Session& s, const vfs::VirtualPath& p,
                                       std::string_view given, bool all) {
  std::string_view pattern = p.name();
  if (pattern.size() > kMaxPattern || !valid_pattern(pattern))
    co_return core::unexpected(std::make_error_code(std::errc::invalid_argument));
  const vfs::VirtualPath dir = p.parent(); // named: no temporary in a co_await (GCC 12)
  auto list = co_await s.fs().list(dir);
  if (!list)
    co_return core::unexpected(list.error());
  auto slash = given.rfind('/');
  const std::string prefix(slash == std::string_view::npos ? "" : given.substr(0, slash + 1));
  Target t;
  // The result is part of one directory's listing, the bound every listing has.
  for (auto& e : *list) {
    if (!listable_name(e.name) || !glob_match(pattern, e.name, all))
      continue;
    e.name = prefix + e.name;
    t.entries.push_back(std::move(e));
  }
  sort_by_name(t.entries);
  co_return t;
}

core::Task<core::Result<Target>> collect(Session& s, const vfs::VirtualPath& p,
                                         std::string_view shown_name, bool glob, bool all) {
  auto st = co_await s.fs().stat(p);
  // A name that exists as written wins over a pattern ("*.txt" can be a file).
  if (!st && st.error() == vfs::Errc::not_found && glob && has_wildcard(p.name()))
    co_return co_await match(s, p, shown_name, all);
  if (!st)
    co_return core::unexpected(st.error());
  Target t;
  if (st->type != vfs::FileType::directory) {
    t.entries.push_back(vfs::DirEntry{std::string(shown_name), *st});
    co_return t;
  }
  auto list = co_await s.fs().list(p);
  if (!list)
    co_return core::unexpected(list.error());
  t.is_directory = true;
  for (auto& e : *list)
    if (listable_name(e.name))
      t.entries.push_back(std::move(e));
  sort_by_name(t.entries);
  co_return t;
}

enum class Format { list, nlst, mlsd };

core::Task<Reply> send_listing(Session& s, std::string_view arg, Format format) {
  // RFC 3659 7.2.1: MLSD takes a directory, never options or a pattern.
  ListArg given = format == Format::mlsd ? ListArg{arg} : parse_list_arg(arg);
  auto p = s.path(given.path);
  if (!p)
    co_return reply_for(p.error());
  auto target = co_await collect(s, *p, given.path.empty() ? p->name() : given.path,
                                 format != Format::mlsd, given.all);
  if (!target && target.error() == std::errc::invalid_argument)
    co_return Reply::of(501,
                        "Bad name pattern: a '[' class is not closed or its range is reversed.");
  if (!target)
    co_return reply_for(target.error());
  if (format == Format::mlsd && !target->is_directory)
    co_return Reply::of(501, "MLSD needs a directory.");
  auto now = std::chrono::system_clock::now();
  auto text = std::make_shared<std::string>();
  for (const auto& e : target->entries) {
    switch (format) {
    case Format::list:
      *text += list_line(e, now);
      break;
    case Format::nlst:
      *text += e.name;
      break;
    case Format::mlsd:
      *text += mlsx_line(e.stat, e.name, s.mlst_facts);
      break;
    }
    *text += "\r\n";
  }
  const std::string opening = "Here comes the directory listing.";
  const TransferBody body = [text](net::Stream& sock,
                                   std::uint64_t& progress) -> core::Task<core::Result<void>> {
    auto w = co_await sock.write_all(asio::buffer(*text));
    if (!w)
      co_return w;
    progress += text->size();
    co_return core::Result<void>{};
  };
  co_return co_await s.transfer(opening, body);
}

} // namespace

core::Task<Reply> handle_list(Session& s, std::string_view arg) {
  co_return co_await send_listing(s, arg, Format::list);
}

core::Task<Reply> handle_nlst(Session& s, std::string_view arg) {
  co_return co_await send_listing(s, arg, Format::nlst);
}

core::Task<Reply> handle_mlsd(Session& s, std::string_view arg) {
  co_return co_await send_listing(s, arg, Format::mlsd);
}

core::Task<Reply> handle_mlst(Session& s, std::string_view arg) {
  auto target = co_await s.stat_path(arg);
  if (!target)
    co_return reply_for(target.error());
  const auto& [p, st] = *target;
  // RFC 3659 7.2: the pathname in MLST is the full path.
  co_return Reply::multi(250, "Listing " + p.str(), {" " + mlsx_line(st, p.str(), s.mlst_facts)},
                         "End");
}

core::Task<Reply> handle_stat(Session& s, std::string_view arg) {
  if (arg.empty()) {
    std::vector<std::string> lines;
    lines.push_back(" Connected to " + s.peer().address().to_string());
    lines.push_back(s.logged_in() ? " Logged in as " + s.user() : std::string(" Not logged in"));
    lines.push_back(s.type == TransferType::binary ? " TYPE: BINARY" : " TYPE: ASCII");
    lines.push_back(s.data().configured() ? " Data connection prepared" : " No data connection");
    co_return Reply::multi(211, "FTP server status:", std::move(lines), "End of status");
  }
  if (!s.logged_in())
    co_return Reply::of(530, "Please login with USER and PASS.");
  auto p = s.path(parse_list_arg(arg).path);
  if (!p)
    co_return reply_for(p.error());
  auto target = co_await collect(s, *p, p->name(), false, false);
  if (!target)
    co_return reply_for(target.error());
  auto now = std::chrono::system_clock::now();
  std::vector<std::string> lines;
  for (const auto& e : target->entries)
    lines.push_back(" " + list_line(e, now));
  co_return Reply::multi(213, "Status of " + p->str() + ":", std::move(lines), "End of status");
}

} // namespace berth::ftp
