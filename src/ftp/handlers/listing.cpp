// Directory listings: LIST, NLST (RFC 959), MLSD, MLST (RFC 3659), STAT.
#include "ftp/handlers/handlers.hpp"

#include "core/errc.hpp"
#include "ftp/listing.hpp"
#include "ftp/session.hpp"

#include <algorithm>

namespace berth::ftp {
namespace {

// LIST and NLST accept ls-style options ("-la") before the path; they change nothing.
std::string_view strip_options(std::string_view arg) {
  while (arg.starts_with('-')) {
    auto space = arg.find(' ');
    arg = space == std::string_view::npos ? std::string_view() : arg.substr(space + 1);
  }
  return arg;
}

/// What a listing shows: a directory's entries, or one file.
struct Target {
  std::vector<vfs::DirEntry> entries;
  bool is_directory = false;
};

core::Task<core::Result<Target>> collect(Session& s, const vfs::VirtualPath& p,
                                         std::string_view shown_name) {
  auto st = co_await s.fs().stat(p);
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
  std::sort(t.entries.begin(), t.entries.end(),
            [](const vfs::DirEntry& a, const vfs::DirEntry& b) { return a.name < b.name; });
  co_return t;
}

enum class Format { list, nlst, mlsd };

core::Task<Reply> send_listing(Session& s, std::string_view arg, Format format) {
  std::string_view given = format == Format::mlsd ? arg : strip_options(arg);
  auto p = s.path(given);
  if (!p)
    co_return reply_for(p.error());
  auto target = co_await collect(s, *p, given.empty() ? p->name() : given);
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
  auto p = s.path(strip_options(arg));
  if (!p)
    co_return reply_for(p.error());
  auto target = co_await collect(s, *p, p->name());
  if (!target)
    co_return reply_for(target.error());
  auto now = std::chrono::system_clock::now();
  std::vector<std::string> lines;
  for (const auto& e : target->entries)
    lines.push_back(" " + list_line(e, now));
  co_return Reply::multi(213, "Status of " + p->str() + ":", std::move(lines), "End of status");
}

} // namespace berth::ftp
