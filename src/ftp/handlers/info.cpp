// Informational commands: SYST, FEAT (RFC 2389), OPTS, HELP, NOOP, LANG (RFC
// 2640), CLNT; HASH and RANG (draft-bryan-ftpext-hash, draft-bryan-ftp-range).
#include "ftp/handlers/handlers.hpp"

#include "core/log.hpp"
#include "ftp/commands.hpp"
#include "ftp/listing.hpp"
#include "ftp/session.hpp"
#include "vfs/file_ranges.hpp"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>

#include <charconv>
#include <memory>
#include <vector>

namespace berth::ftp {
namespace {

struct HashAlgorithm {
  std::string_view name;
  vfs::Digest digest;
};
constexpr HashAlgorithm kHashes[] = {{"SHA-256", vfs::Digest::sha256},
                                     {"SHA-512", vfs::Digest::sha512},
                                     {"SHA-1", vfs::Digest::sha1},
                                     {"MD5", vfs::Digest::md5}};

const HashAlgorithm* find_hash(std::string_view name) {
  std::string upper(name);
  for (char& c : upper)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const auto& h : kHashes)
    if (h.name == upper)
      return &h;
  return nullptr;
}

std::string hash_feature(std::string_view current) {
  std::string out = "HASH ";
  for (const auto& h : kHashes) {
    if (out.size() > 5)
      out += ';';
    out += h.name;
    if (h.name == current)
      out += '*';
  }
  return out;
}

} // namespace

core::Task<Reply> handle_syst(Session&, std::string_view) {
  co_return Reply::of(215, "UNIX Type: L8");
}

core::Task<Reply> handle_noop(Session&, std::string_view) {
  co_return Reply::of(200, "NOOP ok.");
}

core::Task<Reply> handle_feat(Session& s, std::string_view) {
  std::vector<std::string> lines{" TVFS"};
  for (const auto& c : command_table()) {
    if (c.feat.empty())
      continue;
    bool tls_feature = c.verb == "AUTH" || c.verb == "PBSZ" || c.verb == "PROT";
    if (tls_feature && !s.tls_available())
      continue;
    if (c.verb == "HASH")
      lines.push_back(" " + hash_feature(s.hash_algorithm));
    else if (c.verb == "MLST")
      lines.push_back(" MLST " + mlst_feature(s.mlst_facts, true));
    else
      lines.push_back(" " + std::string(c.feat));
  }
  std::sort(lines.begin(), lines.end());
  co_return Reply::multi(211, "Features:", std::move(lines), "End");
}

core::Task<Reply> handle_opts(Session& s, std::string_view arg) {
  auto space = arg.find(' ');
  std::string name(arg.substr(0, space));
  std::string_view value = space == std::string_view::npos ? "" : arg.substr(space + 1);
  for (char& c : name)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (name == "UTF8" || name == "UTF-8") {
    // Paths are always UTF-8 (RFC 2640); OFF is accepted and changes nothing.
    co_return Reply::of(200, "Always in UTF8 mode.");
  }
  if (name == "MLST") {
    s.mlst_facts = parse_mlst_opts(value);
    std::string enabled;
    for (std::string_view f : {"type", "size", "modify", "perm", "unique", "unix.mode"})
      if ((parse_mlst_opts(f) & s.mlst_facts) != 0)
        enabled += std::string(f) + ";";
    co_return Reply::of(200, "MLST OPTS " + enabled);
  }
  if (name == "MODE")
    co_return opts_mode(s, value);
  if (name == "HASH") {
    if (value.empty())
      co_return Reply::of(200, s.hash_algorithm);
    const HashAlgorithm* h = find_hash(value);
    if (h == nullptr)
      co_return Reply::of(501, "Unknown algorithm, current selection not changed.");
    s.hash_algorithm = std::string(h->name);
    co_return Reply::of(200, s.hash_algorithm);
  }
  co_return Reply::of(501, "Option not understood.");
}

core::Task<Reply> handle_help(Session&, std::string_view arg) {
  if (!arg.empty()) {
    std::string verb(arg);
    for (char& c : verb)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const CommandSpec* c = find_command(verb);
    if (c == nullptr)
      co_return Reply::of(502, "Unknown command " + verb + ".");
    if (c->handler == handle_site)
      co_return Reply::multi(214, "Syntax: " + std::string(c->help), site_help_lines(), "Help OK.");
    co_return Reply::of(214, "Syntax: " + std::string(c->help));
  }
  std::vector<std::string> lines;
  std::string line;
  for (const auto& c : command_table()) {
    line += " " + std::string(c.verb);
    if (line.size() > 60) {
      lines.push_back(line);
      line.clear();
    }
  }
  if (!line.empty())
    lines.push_back(line);
  co_return Reply::multi(214, "The following commands are recognized:", std::move(lines),
                         "Help OK.");
}

core::Task<Reply> handle_lang(Session&, std::string_view arg) {
  // RFC 2640 4.1: replies are in English only. "LANG" alone selects the
  // default; a tag is accepted when its primary subtag is "en" (EN, en-US).
  std::string_view primary = arg.substr(0, arg.find('-'));
  if (arg.empty() ||
      (primary.size() == 2 && std::tolower(static_cast<unsigned char>(primary[0])) == 'e' &&
       std::tolower(static_cast<unsigned char>(primary[1])) == 'n'))
    co_return Reply::of(200, "Responses changed to English.");
  co_return Reply::of(504, "Unsupported language: only EN.");
}

core::Task<Reply> handle_clnt(Session& s, std::string_view arg) {
  // Clients name themselves (FileZilla, SmartFTP, Cyberduck); the name is only logged.
  spdlog::info("ftp: {} client says it is {}", s.peer().address().to_string(),
               core::printable(arg));
  co_return Reply::of(200, "Noted.");
}

core::Task<Reply> handle_rang(Session& s, std::string_view arg) {
  auto space = arg.find(' ');
  std::uint64_t start = 0, end = 0;
  if (space == std::string_view::npos)
    co_return Reply::of(501, "Syntax: RANG <start> <end>");
  auto a = arg.substr(0, space), b = arg.substr(space + 1);
  auto r1 = std::from_chars(a.data(), a.data() + a.size(), start);
  auto r2 = std::from_chars(b.data(), b.data() + b.size(), end);
  if (r1.ec != std::errc{} || r1.ptr != a.data() + a.size() || r2.ec != std::errc{} ||
      r2.ptr != b.data() + b.size())
    co_return Reply::of(501, "Syntax: RANG <start> <end>");
  if (start == 1 && end == 0) { // the draft's reset form
    s.hash_range.reset();
    co_return Reply::of(350, "Range reset.");
  }
  if (start > end)
    co_return Reply::of(501, "The range start is after its end.");
  s.hash_range = std::make_pair(start, end);
  co_return Reply::of(350, fmt::format("Restarting at {}. Ending at {}.", start, end));
}

core::Task<Reply> handle_hash(Session& s, std::string_view arg) {
  auto target = co_await s.stat_path(arg);
  if (!target)
    co_return reply_for(target.error());
  const vfs::VirtualPath& p = target->first;
  const vfs::Stat* st = &target->second;
  if (st->type != vfs::FileType::regular)
    co_return Reply::of(550, "Not a regular file.");
  std::uint64_t start = 0;
  std::uint64_t end = st->size == 0 ? 0 : st->size - 1; // inclusive
  if (s.hash_range) {
    start = s.hash_range->first;
    end = std::min(s.hash_range->second, end);
    if (start >= st->size && st->size > 0)
      co_return Reply::of(501, "The range starts after the end of the file.");
  }
  const std::uint64_t range = st->size == 0 ? 0 : end - start + 1;
  const HashAlgorithm* h = find_hash(s.hash_algorithm);
  Reply refusal;
  auto hex = co_await hex_digest(s, p, h->digest, start, range, refusal);
  if (!hex)
    co_return refusal;
  co_return Reply::of(213, fmt::format("{} {}-{} {} {}", h->name, start, end, *hex, arg));
}

} // namespace berth::ftp
