// The hash verbs clients use besides HASH: XCRC, XMD5, XSHA1, XSHA256 and
// XSHA512 (Serv-U, GlobalScape and ProFTPD's mod_digest; SmartFTP, FTP Voyager
// and CuteFTP send them), and AVBL
// (draft-peterson-streamlined-ftp-command-extensions).
#include "ftp/handlers/handlers.hpp"

#include "ftp/args.hpp"
#include "ftp/session.hpp"
#include "vfs/errc.hpp"
#include "vfs/file_ranges.hpp"

#include <fmt/format.h>

#include <limits>

namespace berth::ftp {
namespace {

// "X... path [start [end]]": start is the first byte hashed, end the position
// where hashing stops (exclusive: "0 <size>" is the whole file, as CuteFTP's
// "XCRC file 0 42575" is); past the end of the file, the file's end.
core::Task<Reply> x_hash(Session& s, std::string_view arg, vfs::Digest digest) {
  auto readings = parse_hash_args(arg);
  if (readings.empty())
    co_return Reply::of(501, "Syntax: <verb> <path> [<start> [<end>]]");
  // The most literal reading that names something wins: "file 10" is a name
  // when it exists, else "file" from byte 10.
  std::optional<std::pair<vfs::VirtualPath, vfs::Stat>> found;
  const HashArgs* args = nullptr;
  std::error_code first_error;
  for (const auto& r : readings) {
    auto t = co_await s.stat_path(r.path);
    if (t) {
      found = std::move(*t);
      args = &r;
      break;
    }
    if (!first_error)
      first_error = t.error();
  }
  if (!found)
    co_return reply_for(first_error);
  const vfs::Stat& st = found->second;
  if (st.type != vfs::FileType::regular)
    co_return Reply::of(550, "Not a regular file.");
  const std::uint64_t end = std::min(args->end.value_or(st.size), st.size);
  if (args->start > end)
    co_return Reply::of(550, "The range starts after the end of the file.");
  Reply refusal;
  const std::uint64_t length = end - args->start;
  auto hex = co_await hex_digest(s, found->first, digest, args->start, length, refusal);
  if (!hex)
    co_return refusal;
  co_return Reply::of(250, *hex);
}

} // namespace

core::Task<std::optional<std::string>> hex_digest(Session& s, const vfs::VirtualPath& p,
                                                  vfs::Digest digest, std::uint64_t start,
                                                  std::uint64_t length, Reply& refusal) {
  // Issue 17: one HASH of a 10 GiB sparse file held every session of its
  // loop for 15 s. The range is bounded, and vfs::hash_range gives the loop
  // back as it goes.
  if (length > vfs::kMaxHashBytes) {
    refusal = Reply::of(
        501, fmt::format("Range over {} GiB: hash the file in parts (RANG, or a start and an end).",
                         vfs::kMaxHashBytes >> 30));
    co_return std::nullopt;
  }
  auto f = co_await s.fs().open_read(p, start);
  if (!f) {
    refusal = reply_for(f.error());
    co_return std::nullopt;
  }
  auto digests = co_await vfs::hash_range(**f, digest, start, length, 0, 1);
  if (!digests) {
    refusal = reply_for(digests.error());
    co_return std::nullopt;
  }
  std::string hex;
  for (char c : (**digests)[0])
    hex += fmt::format("{:02x}", static_cast<unsigned char>(c));
  co_return hex;
}

core::Task<Reply> handle_xcrc(Session& s, std::string_view arg) {
  co_return co_await x_hash(s, arg, vfs::Digest::crc32);
}

core::Task<Reply> handle_xmd5(Session& s, std::string_view arg) {
  co_return co_await x_hash(s, arg, vfs::Digest::md5);
}

core::Task<Reply> handle_xsha1(Session& s, std::string_view arg) {
  co_return co_await x_hash(s, arg, vfs::Digest::sha1);
}

core::Task<Reply> handle_xsha256(Session& s, std::string_view arg) {
  co_return co_await x_hash(s, arg, vfs::Digest::sha256);
}

core::Task<Reply> handle_xsha512(Session& s, std::string_view arg) {
  co_return co_await x_hash(s, arg, vfs::Digest::sha512);
}

core::Task<Reply> handle_avbl(Session& s, std::string_view arg) {
  // The space a STOR into the directory may use: the filesystem's, or what is
  // left of the user's quota (vfs::Filesystem::fs_stats answers either).
  auto target = co_await s.stat_path(arg);
  if (!target)
    co_return reply_for(target.error());
  if (target->second.type != vfs::FileType::directory)
    co_return Reply::of(550, "AVBL needs a directory.");
  auto st = co_await s.fs().fs_stats(target->first);
  if (!st)
    co_return reply_for(st.error());
  const std::uint64_t unit = st->fragment_size != 0 ? st->fragment_size : st->block_size;
  const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  const std::uint64_t bytes =
      unit != 0 && st->blocks_available > max / unit ? max : st->blocks_available * unit;
  co_return Reply::of(213, std::to_string(bytes));
}

} // namespace berth::ftp
