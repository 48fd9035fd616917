// SFTP extended requests: OpenSSH's extensions (PROTOCOL file of OpenSSH) and
// the filexfer-extensions drafts (copy-data, home-directory, check-file).
#include "sftp/handlers.hpp"

#include "core/log.hpp"
#include "sftp/session.hpp"
#include "vfs/file_ranges.hpp"

#include <fmt/format.h>

#include <array>
#include <memory>
#include <vector>

namespace berth::sftp {
namespace {

using R = core::Result<void>;
core::Unexpected bad() {
  return core::unexpected(Errc::truncated);
}

void begin_reply(Session& s, std::uint32_t id) {
  s.out.start(Type::extended_reply);
  s.out.u32(id);
}

core::Task<R> ext_posix_rename(Session& s, std::uint32_t id, Reader& r) {
  auto from = read_path(s, r);
  auto to = read_path(s, r);
  if (auto e = expect_end(r); !e)
    co_return e;
  if (!from || !to) {
    s.reply_status(id, !from ? from.error() : to.error());
    co_return R{};
  }
  auto res = co_await s.fs.rename(*from, *to, vfs::RenameMode::replace);
  spdlog::debug("sftp: {} posix-rename {} to {}: {}", s.user(), core::printable(from->str()),
                core::printable(to->str()), res ? "ok" : res.error().message());
  s.reply_status(id, res ? std::error_code{} : res.error());
  co_return R{};
}

void encode_fs_stats(Session& s, std::uint32_t id, const vfs::FsStats& st) {
  begin_reply(s, id);
  for (std::uint64_t v :
       {st.block_size, st.fragment_size, st.blocks, st.blocks_free, st.blocks_available, st.files,
        st.files_free, st.files_available, st.fsid, st.flags, st.name_max})
    s.out.u64(v);
  s.out.finish();
}

core::Task<R> ext_statvfs(Session& s, std::uint32_t id, Reader& r) {
  auto p = read_path(s, r);
  if (auto e = expect_end(r); !e)
    co_return e;
  if (!p) {
    s.reply_status(id, p.error());
    co_return R{};
  }
  auto st = co_await s.fs.fs_stats(*p);
  if (!st)
    s.reply_status(id, st.error());
  else
    encode_fs_stats(s, id, *st);
  co_return R{};
}

core::Task<R> ext_fstatvfs(Session& s, std::uint32_t id, Reader& r) {
  auto h = r.string();
  if (!h)
    co_return bad();
  if (auto e = expect_end(r); !e)
    co_return e;
  HandleEntry* entry = find_handle(s, id, *h, false);
  if (entry == nullptr)
    co_return R{};
  auto st = co_await s.fs.fs_stats(entry->path);
  if (!st)
    s.reply_status(id, st.error());
  else
    encode_fs_stats(s, id, *st);
  co_return R{};
}

core::Task<R> ext_hardlink(Session& s, std::uint32_t id, Reader& r) {
  auto target = read_path(s, r);
  auto link = read_path(s, r);
  if (auto e = expect_end(r); !e)
    co_return e;
  if (!target || !link) {
    s.reply_status(id, !target ? target.error() : link.error());
    co_return R{};
  }
  auto res = co_await s.fs.make_hard_link(*target, *link);
  s.reply_status(id, res ? std::error_code{} : res.error());
  co_return R{};
}

core::Task<R> ext_fsync(Session& s, std::uint32_t id, Reader& r) {
  auto h = r.string();
  if (!h)
    co_return bad();
  if (auto e = expect_end(r); !e)
    co_return e;
  HandleEntry* entry = find_handle(s, id, *h, true);
  if (entry == nullptr)
    co_return R{};
  auto res = co_await entry->file->sync();
  s.reply_status(id, res ? std::error_code{} : res.error());
  co_return R{};
}

core::Task<R> ext_lsetstat(Session& s, std::uint32_t id, Reader& r) {
  // Same as SETSTAT: our setters act on what the path names inside the jail.
  auto p = read_path(s, r);
  auto a = r.attrs();
  if (!a)
    co_return bad();
  if (auto e = expect_end(r); !e)
    co_return e;
  if (!p) {
    s.reply_status(id, p.error());
    co_return R{};
  }
  if (a->uid_gid) {
    s.reply_status(id, std::make_error_code(std::errc::operation_not_supported));
    co_return R{};
  }
  std::error_code ec;
  if (a->permissions) {
    auto res = co_await s.fs.set_mode(*p, *a->permissions & 07777);
    if (!res)
      ec = res.error();
  }
  if (!ec && a->atime_mtime) {
    auto t = [](std::uint32_t v) {
      return std::chrono::system_clock::time_point(std::chrono::seconds(v));
    };
    auto res = co_await s.fs.set_times(*p, t(a->atime_mtime->first), t(a->atime_mtime->second));
    if (!res)
      ec = res.error();
  }
  s.reply_status(id, ec);
  co_return R{};
}

core::Task<R> ext_limits(Session& s, std::uint32_t id, Reader& r) {
  if (auto e = expect_end(r); !e)
    co_return e;
  begin_reply(s, id);
  s.out.u64(s.limits.max_packet);
  s.out.u64(s.limits.max_read);
  s.out.u64(s.limits.max_read); // max write length
  s.out.u64(s.limits.max_handles);
  s.out.finish();
  co_return R{};
}

core::Task<R> ext_expand_path(Session& s, std::uint32_t id, Reader& r) {
  auto p = r.string();
  if (!p)
    co_return bad();
  if (auto e = expect_end(r); !e)
    co_return e;
  // "~" and "~/x" name the user's home, which is "/" inside the jail.
  std::string_view text = *p;
  std::string expanded(text);
  if (text == "~" || text.starts_with("~/"))
    expanded = "/" + std::string(text.substr(std::min<std::size_t>(2, text.size())));
  auto path = s.path(expanded);
  if (!path) {
    s.reply_status(id, path.error());
    co_return R{};
  }
  encode_name(s.out, id, {NameEntry{path->str(), path->str(), Attrs{}}});
  co_return R{};
}

core::Task<R> ext_home_directory(Session& s, std::uint32_t id, Reader& r) {
  auto user = r.string();
  if (!user)
    co_return bad();
  if (auto e = expect_end(r); !e)
    co_return e;
  encode_name(s.out, id, {NameEntry{"/", "/", Attrs{}}});
  co_return R{};
}

core::Task<R> ext_users_groups_by_id(Session& s, std::uint32_t id, Reader& r) {
  // The user's name for the server's own ids, empty (unknown, as OpenSSH
  // answers for ids without a name) for any other: host accounts stay unnamed.
  auto users = r.string();
  auto groups = users ? r.string() : users;
  if (!users || !groups || users->size() % 4 != 0 || groups->size() % 4 != 0)
    co_return bad();
  if (auto e = expect_end(r); !e)
    co_return e;
  begin_reply(s, id);
  Writer names;
  const std::string_view lists[] = {*users, *groups};
  for (std::size_t i = 0; i < 2; ++i) {
    Reader each(lists[i]);
    while (auto one = each.u32())
      names.string(owner_name(s, *one, i == 1));
    s.out.string(names.bytes());
    names.clear();
  }
  s.out.finish();
  co_return R{};
}

core::Task<R> ext_copy_data(Session& s, std::uint32_t id, Reader& r) {
  auto from = r.string();
  auto from_offset = r.u64();
  auto length = r.u64();
  auto to = r.string();
  auto to_offset = r.u64();
  if (!from || !from_offset || !length || !to || !to_offset)
    co_return bad();
  if (auto e = expect_end(r); !e)
    co_return e;
  HandleEntry* src = s.handles.find(*from);
  HandleEntry* dst = s.handles.find(*to);
  if (src == nullptr || dst == nullptr || !src->file || !dst->file) {
    s.reply_status(id, std::make_error_code(std::errc::bad_file_descriptor));
    co_return R{};
  }
  // SECURITY: a copy onto its own source (one handle twice, or the file opened
  // twice) can chase its own output until the disk is full; OpenSSH's
  // sftp-server refuses it too.
  auto src_stat = co_await src->file->stat();
  auto dst_stat = co_await dst->file->stat();
  if (src == dst || (src_stat && dst_stat && src_stat->device == dst_stat->device &&
                     src_stat->inode == dst_stat->inode)) {
    s.reply_status(id, Status::failure, "Source and destination are the same file");
    co_return R{};
  }
  if (!src_stat) {
    s.reply_status(id, src_stat.error());
    co_return R{};
  }
  // The range that exists (length 0: to the end of the source). Issue 17: a
  // copy is bounded, and gives the loop back as it goes (vfs::copy_range).
  const std::uint64_t size = src_stat->size;
  const std::uint64_t rest = *from_offset < size ? size - *from_offset : 0;
  const std::uint64_t range = *length == 0 ? rest : std::min(*length, rest);
  if (range > vfs::kMaxCopyBytes) {
    s.reply_status(id, Status::failure,
                   fmt::format("Range over {} GiB: copy it in parts", vfs::kMaxCopyBytes >> 30));
    co_return R{};
  }
  auto copied = co_await vfs::copy_range(*src->file, *from_offset, *dst->file, *to_offset, range);
  s.reply_status(id, copied ? std::error_code{} : copied.error());
  co_return R{};
}

struct HashAlgorithm {
  std::string_view name;
  vfs::Digest digest;
};
constexpr HashAlgorithm kHashes[] = {{"sha256", vfs::Digest::sha256},
                                     {"sha512", vfs::Digest::sha512},
                                     {"sha1", vfs::Digest::sha1},
                                     {"md5", vfs::Digest::md5}};

// check-file-name / check-file-handle (draft-ietf-secsh-filexfer-extensions-00 3):
// hash a range, whole or in blocks, with the first algorithm of the client's list we know.
core::Task<R> check_file(Session& s, std::uint32_t id, Reader& r, bool by_handle) {
  auto target = r.string();
  auto algorithms = r.string();
  auto start = r.u64();
  auto length = r.u64();
  auto block = r.u32();
  if (!target || !algorithms || !start || !length || !block)
    co_return bad();
  if (auto e = expect_end(r); !e)
    co_return e;
  const HashAlgorithm* algo = nullptr;
  std::string_view list = *algorithms;
  while (!list.empty() && algo == nullptr) {
    auto comma = list.find(',');
    std::string_view name = list.substr(0, comma);
    for (const auto& h : kHashes)
      if (h.name == name)
        algo = &h;
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  if (algo == nullptr) {
    s.reply_status(id, Status::failure, "No supported hash algorithm");
    co_return R{};
  }
  // filexfer-extensions-00 3.1: a block size, if not 0, is at least 256. The
  // hashes must also fit one reply: a tiny block over a large (or sparse)
  // file would otherwise build a reply far beyond the packet limit.
  if (*block != 0 && *block < 256) {
    s.reply_status(id, Status::failure, "Block size below 256");
    co_return R{};
  }
  const std::size_t max_digests = (s.limits.max_packet - 1024) / vfs::digest_size(algo->digest);
  std::unique_ptr<vfs::File> opened;
  vfs::File* file = nullptr;
  if (by_handle) {
    HandleEntry* entry = s.handles.find(*target);
    if (entry == nullptr || !entry->file) {
      s.reply_status(id, std::make_error_code(std::errc::bad_file_descriptor));
      co_return R{};
    }
    file = entry->file.get();
  } else {
    auto p = s.path(*target);
    if (!p) {
      s.reply_status(id, p.error());
      co_return R{};
    }
    auto f = co_await s.fs.open_read(*p, 0);
    if (!f) {
      s.reply_status(id, f.error());
      co_return R{};
    }
    opened = std::move(*f);
    file = opened.get();
  }
  // The range that exists (length 0: to the end of the file), at most
  // kMaxHashBytes of it. Issue 17: one hash of a 10 GiB sparse file held
  // every session of its loop for 15 s; vfs::hash_range gives the loop back
  // as it goes.
  auto st = co_await file->stat();
  if (!st) {
    s.reply_status(id, st.error());
    co_return R{};
  }
  const std::uint64_t rest = *start < st->size ? st->size - *start : 0;
  const std::uint64_t range = *length == 0 ? rest : std::min(*length, rest);
  if (range > vfs::kMaxHashBytes) {
    s.reply_status(id, Status::failure,
                   fmt::format("Range over {} GiB: hash it in parts", vfs::kMaxHashBytes >> 30));
    co_return R{};
  }
  auto digests = co_await vfs::hash_range(*file, algo->digest, *start, range, *block, max_digests);
  if (!digests) {
    s.reply_status(id, digests.error());
    co_return R{};
  }
  if (!*digests) {
    s.reply_status(id, Status::failure, "Too many blocks for one reply");
    co_return R{};
  }
  begin_reply(s, id);
  s.out.string("check-file");
  s.out.string(algo->name);
  for (const auto& d : **digests)
    s.out.raw(d); // the hashes follow back to back, without lengths
  s.out.finish();
  co_return R{};
}

core::Task<R> ext_check_file_name(Session& s, std::uint32_t id, Reader& r) {
  co_return co_await check_file(s, id, r, false);
}

core::Task<R> ext_check_file_handle(Session& s, std::uint32_t id, Reader& r) {
  co_return co_await check_file(s, id, r, true);
}

constexpr std::array kExtensions = std::to_array<ExtensionSpec>({
    {"posix-rename@openssh.com", "1", ext_posix_rename, true},
    {"statvfs@openssh.com", "2", ext_statvfs, false},
    {"fstatvfs@openssh.com", "2", ext_fstatvfs, false},
    {"hardlink@openssh.com", "1", ext_hardlink, true},
    {"fsync@openssh.com", "1", ext_fsync, true},
    {"lsetstat@openssh.com", "1", ext_lsetstat, true},
    {"limits@openssh.com", "1", ext_limits, false},
    {"expand-path@openssh.com", "1", ext_expand_path, false},
    {"copy-data", "1", ext_copy_data, true},
    {"home-directory", "1", ext_home_directory, false},
    {"users-groups-by-id@openssh.com", "1", ext_users_groups_by_id, false},
    {"check-file-name", "md5,sha1,sha256,sha512", ext_check_file_name, false},
    {"check-file-handle", "md5,sha1,sha256,sha512", ext_check_file_handle, false},
    // paramiko (SFTPFile.check, and its own server) names check-file-handle "check-file".
    {"check-file", "", ext_check_file_handle, false},
});

} // namespace

std::span<const ExtensionSpec> extension_table() {
  return kExtensions;
}

core::Task<core::Result<void>> handle_extended(Session& s, std::uint32_t id, Reader& r) {
  auto name = r.string();
  if (!name)
    co_return bad();
  for (const auto& e : kExtensions)
    if (e.name == *name)
      co_return co_await e.handler(s, id, r);
  s.reply_status(id, Status::op_unsupported, "Unsupported extension");
  co_return R{};
}

} // namespace berth::sftp
