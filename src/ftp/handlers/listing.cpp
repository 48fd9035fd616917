// Directory listings: LIST, NLST (RFC 959), MLSD, MLST (RFC 3659), STAT.
#include "ftp/handlers/handlers.hpp"

#include "core/errc.hpp"
#include "ftp/listing.hpp"
#include "ftp/listing_reader.hpp"
#include "ftp/session.hpp"
#include "vfs/errc.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace berth::ftp {
namespace {

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

enum class Format { list, nlst, mlsd };

/// How one batch of a listing goes over the data connection.
struct BatchFormat {
  Format format = Format::list;
  unsigned facts = fact_all;
  std::chrono::system_clock::time_point now;
};

std::string format_batch(const std::vector<vfs::DirEntry>& entries, const BatchFormat& how) {
  std::string text;
  for (const auto& e : entries) {
    switch (how.format) {
    case Format::list:
      text += list_line(e, how.now);
      break;
    case Format::nlst:
      text += e.name;
      break;
    case Format::mlsd:
      text += mlsx_line(e.stat, e.name, how.facts);
      break;
    }
    text += "\r\n";
  }
  return text;
}

// Sends the listing batch by batch as the filesystem hands them out: one
// batch's text in memory at a time, whatever the directory's size.
core::Task<core::Result<void>> stream_listing(ListingReader& reader, BatchFormat how,
                                              net::Stream& sock, std::uint64_t& progress) {
  core::Result<void> r;
  bool more = true;
  while (more) {
    auto batch = co_await reader.next();
    if (!batch) {
      r = core::unexpected(batch.error());
      break;
    }
    more = !batch->empty();
    const std::string text = format_batch(*batch, how);
    if (text.empty())
      continue;
    r = co_await sock.write_all(asio::buffer(text));
    if (!r)
      break;
    progress += text.size();
  }
  co_return r;
}

core::Task<Reply> send_listing(Session& s, std::string_view arg, Format format) {
  // RFC 3659 7.2.1: MLSD takes a directory, never options or a pattern.
  ListArg given = format == Format::mlsd ? ListArg{arg} : parse_list_arg(arg);
  auto p = s.path(given.path);
  if (!p)
    co_return reply_for(p.error());
  auto target = co_await ListingReader::open(
      s.fs(), *p, given.path.empty() ? p->name() : given.path, format != Format::mlsd, given.all);
  if (!target && target.error() == std::errc::invalid_argument)
    co_return Reply::of(501,
                        "Bad name pattern: a '[' class is not closed or its range is reversed.");
  if (!target)
    co_return reply_for(target.error());
  if (format == Format::mlsd && !target->is_directory())
    co_return Reply::of(501, "MLSD needs a directory.");
  const BatchFormat how{format, s.mlst_facts, std::chrono::system_clock::now()};
  ListingReader* reader = &*target; // outlives the transfer, awaited here
  const std::string opening = "Here comes the directory listing.";
  const TransferBody body = [reader, how](net::Stream& sock, std::uint64_t& progress) {
    return stream_listing(*reader, how, sock, progress);
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
  auto target = co_await ListingReader::open(s.fs(), *p, p->name(), false, false);
  if (!target)
    co_return reply_for(target.error());
  auto batch = co_await target->next();
  if (!batch)
    co_return reply_for(batch.error());
  // Sent a batch at a time as the filesystem hands them out: a directory of
  // any size never sits in memory whole. A batch goes out once the next one
  // is read, so one batch (a local disk's listing) is one write, as before.
  const auto now = std::chrono::system_clock::now();
  std::string out = encode_first(213, "Status of " + p->str() + ":");
  std::string last = "End of status";
  while (!batch->empty() && !s.quit) {
    std::vector<std::string> lines;
    lines.reserve(batch->size());
    for (const auto& e : *batch)
      lines.push_back(" " + list_line(e, now));
    out += encode_middle(lines);
    batch = co_await target->next();
    if (!batch) {
      // The reply has begun: it ends with its own code, saying what happened.
      last = "End of status: listing incomplete: " + reply_for(batch.error()).text;
      break;
    }
    if (!batch->empty()) {
      co_await s.send_encoded(out);
      out.clear();
    }
  }
  out += encode_last(213, last);
  if (!s.quit)
    co_await s.send_encoded(out);
  co_return Reply::already_sent(213);
}

} // namespace berth::ftp
