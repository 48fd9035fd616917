// SFTP v3 requests (draft-ietf-secsh-filexfer-02 section 6) and the dispatcher.
#include "sftp/handlers.hpp"

#include "core/log.hpp"
#include "sftp/session.hpp"
#include "vfs/errc.hpp"
#include "vfs/long_listing.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <memory>

namespace berth::sftp {
namespace {

using R = core::Result<void>;
constexpr std::uint32_t kIfmtDir = S_IFDIR;
constexpr std::uint32_t kIfmtReg = S_IFREG;
constexpr std::uint32_t kIfmtLnk = S_IFLNK;

core::Unexpected bad() {
  return core::unexpected(Errc::truncated);
}

Attrs to_attrs(const vfs::Stat& st) {
  Attrs a;
  a.size = st.size;
  std::uint32_t type = st.type == vfs::FileType::directory ? kIfmtDir
                       : st.type == vfs::FileType::symlink ? kIfmtLnk
                                                           : kIfmtReg;
  a.permissions = type | (st.mode & 07777);
  // The host's ids, as OpenSSH sends them: sshfs and rsync show and compare them.
  a.uid_gid = std::make_pair(st.uid, st.gid);
  auto secs = [](std::chrono::system_clock::time_point t) {
    return static_cast<std::uint32_t>(
        std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
  };
  a.atime_mtime = std::make_pair(secs(st.atime), secs(st.mtime));
  return a;
}

// SECURITY: no setuid, setgid or sticky bit is ever set from a client. A
// SETSTAT asking for one is refused whole, before anything changes, and says
// why, rather than applied without those bits as if it had succeeded.
bool refuse_special_bits(Session& s, std::uint32_t id, const Attrs& a) {
  if (!a.permissions || (*a.permissions & 07000) == 0)
    return false;
  s.reply_status(id, Status::permission_denied, "setuid, setgid and sticky bits are not allowed");
  return true;
}

std::chrono::system_clock::time_point from_secs(std::uint32_t s) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(s));
}

// SETSTAT/FSETSTAT/lsetstat: size, permissions and times; owners are refused
// (host ids mean nothing to a client and changing them needs privilege).
template <class Target> core::Task<std::error_code> apply_attrs(Target&& target, const Attrs& a) {
  if (a.uid_gid)
    co_return std::make_error_code(std::errc::operation_not_supported);
  if (a.size) {
    auto r = co_await target.set_size(*a.size);
    if (!r)
      co_return r.error();
  }
  if (a.permissions) {
    auto r = co_await target.set_mode(*a.permissions & 07777);
    if (!r)
      co_return r.error();
  }
  if (a.atime_mtime) {
    auto r = co_await target.set_times(from_secs(a.atime_mtime->first),
                                       from_secs(a.atime_mtime->second));
    if (!r)
      co_return r.error();
  }
  co_return std::error_code{};
}

// Adapts path-based setters to the shape of File's.
struct PathTarget {
  vfs::Filesystem& fs;
  const vfs::VirtualPath& path;
  core::Task<core::Result<void>> set_size(std::uint64_t n) { return fs.set_size(path, n); }
  core::Task<core::Result<void>> set_mode(std::uint32_t m) { return fs.set_mode(path, m); }
  core::Task<core::Result<void>> set_times(std::chrono::system_clock::time_point a,
                                           std::chrono::system_clock::time_point m) {
    return fs.set_times(path, a, m);
  }
};

core::Task<R> handle_init(Session& s, std::uint32_t, Reader&) {
  // INIT carries the version, not an id; dispatch handles it before this table.
  s.reply_status(0, Status::bad_message, "INIT may only come first");
  co_return R{};
}

core::Task<R> handle_open(Session& s, std::uint32_t id, Reader& r) {
  auto p = read_path(s, r);
  auto pflags = r.u32();
  auto attrs = r.attrs();
  if (!pflags || !attrs)
    co_return bad();
  if (auto e = expect_end(r); !e)
    co_return e;
  if (!p) {
    s.reply_status(id, p.error());
    co_return R{};
  }
  vfs::OpenFlags f;
  f.read = (*pflags & pflag_read) != 0;
  f.write = (*pflags & pflag_write) != 0;
  f.append = (*pflags & pflag_append) != 0;
  f.create = (*pflags & pflag_creat) != 0;
  f.truncate = (*pflags & pflag_trunc) != 0;
  f.exclusive = (*pflags & pflag_excl) != 0;
  if (attrs->permissions)
    f.mode = *attrs->permissions & 0777;
  if (!f.read && !f.write) {
    s.reply_status(id, Status::bad_message, "OPEN needs READ or WRITE");
    co_return R{};
  }
  auto file = co_await s.fs.open(*p, f);
  if (!file) {
    spdlog::debug("sftp: {} open {} failed: {}", s.user(), core::printable(p->str()),
                  file.error().message());
    s.reply_status(id, file.error());
    co_return R{};
  }
  HandleEntry entry{*p, std::move(*file), std::nullopt, transfer_for(s.info, *p, f.write), {}};
  auto h = s.handles.add(std::move(entry));
  if (!h) {
    s.reply_status(id, h.error());
    co_return R{};
  }
  spdlog::debug("sftp: {} open {} ({}{}) as handle {}", s.user(), core::printable(p->str()),
                f.read ? "r" : "", f.write ? "w" : "", *h);
  encode_handle(s.out, id, *h);
  co_return R{};
}

core::Task<R> handle_close(Session& s, std::uint32_t id, Reader& r) {
  auto h = r.string();
  if (!h)
    co_return bad();
  if (auto e = expect_end(r); !e)
    co_return e;
  auto entry = s.handles.remove(*h);
  if (!entry) {
    s.reply_status(id, entry.error());
    co_return R{};
  }
  std::error_code ec = entry->write_error;
  if (entry->file && !ec) {
    // A write handle's close completes the upload (an atomic replace becomes visible).
    // SECURITY: after a failed WRITE (disk full, quota) it does not: an atomic
    // replace is discarded and the old file stays whole; in place, what was
    // written stays. The CLOSE answers with the WRITE's error.
    auto c = co_await entry->file->commit();
    if (!c)
      ec = c.error();
  }
  spdlog::debug("sftp: {} close {} (handle {}){}{}", s.user(), core::printable(entry->path.str()),
                *h, ec ? ": " : "", ec ? ec.message() : std::string());
  if (entry->transfer)
    entry->transfer->finish(ec ? core::TransferResult::failed : core::TransferResult::ok);
  s.reply_status(id, ec);
  co_return R{};
}

core::Task<R> handle_read(Session& s, std::uint32_t id, Reader& r) {
  auto h = r.string();
  auto offset = r.u64();
  auto len = r.u32();
  if (!h || !offset || !len)
    co_return bad();
  if (auto e = expect_end(r); !e)
    co_return e;
  HandleEntry* entry = find_handle(s, id, *h, true);
  if (entry == nullptr)
    co_return R{};
  std::size_t want = std::min<std::size_t>(*len, s.limits.max_read);
  // Not zeroed: read_at fills what the reply sends.
  std::unique_ptr<char[]> data(new char[want]);
  auto n =
      co_await entry->file->read_at(*offset, std::as_writable_bytes(std::span(data.get(), want)));
  // `entry` is still there: a CLOSE waits for the READs and WRITEs before it.
  if (entry->transfer) {
    if (n)
      entry->transfer->on_read(*n);
    else
      entry->transfer->on_error();
  }
  if (!n) {
    s.reply_status(id, n.error());
    co_return R{};
  }
  if (*n == 0) {
    s.reply_status(id, Status::eof);
    co_return R{};
  }
  encode_data(s.out, id, std::string_view(data.get(), *n));
  co_return R{};
}

core::Task<R> handle_write(Session& s, std::uint32_t id, Reader& r) {
  auto h = r.string();
  auto offset = r.u64();
  auto data = r.string();
  if (!h || !offset || !data)
    co_return bad();
  // Bytes after the data are ignored, as OpenSSH's sftp-server does: rclone
  // 1.60 (pkg/sftp < 1.13.6) pads the last WRITE of an upload with the rest
  // of its buffer. Every other request must end where its fields do.
  HandleEntry* entry = find_handle(s, id, *h, true);
  if (entry == nullptr)
    co_return R{};
  auto w =
      co_await entry->file->write_at(*offset, std::as_bytes(std::span(data->data(), data->size())));
  if (!w && !entry->write_error)
    entry->write_error = w.error();
  if (entry->transfer) {
    if (w)
      entry->transfer->on_write(data->size());
    else
      entry->transfer->on_error();
  }
  s.reply_status(id, w ? std::error_code{} : w.error());
  co_return R{};
}

core::Task<R> stat_common(Session& s, std::uint32_t id, Reader& r, bool follow) {
  auto p = read_path(s, r);
  // OpenSSH's client sends STAT/LSTAT without flags (v3); later versions add a u32.
  if (!r.at_end())
    (void)r.u32();
  if (auto e = expect_end(r); !e)
    co_return e;
  if (!p) {
    s.reply_status(id, p.error());
    co_return R{};
  }
  core::Result<vfs::Stat> st = core::unexpected(vfs::Errc::io_error);
  if (follow)
    st = co_await s.fs.stat(*p);
  else
    st = co_await s.fs.lstat(*p);
  if (!st) {
    s.reply_status(id, st.error());
    co_return R{};
  }
  encode_attrs(s.out, id, to_attrs(*st));
  co_return R{};
}

core::Task<R> handle_stat(Session& s, std::uint32_t id, Reader& r) {
  co_return co_await stat_common(s, id, r, true);
}

core::Task<R> handle_lstat(Session& s, std::uint32_t id, Reader& r) {
  co_return co_await stat_common(s, id, r, false);
}

core::Task<R> handle_fstat(Session& s, std::uint32_t id, Reader& r) {
  auto h = r.string();
  if (!h)
    co_return bad();
  if (!r.at_end())
    (void)r.u32();
  if (auto e = expect_end(r); !e)
    co_return e;
  HandleEntry* entry = find_handle(s, id, *h, false);
  if (entry == nullptr)
    co_return R{};
  core::Result<vfs::Stat> st = core::unexpected(vfs::Errc::io_error);
  if (entry->file)
    st = co_await entry->file->stat();
  else
    st = co_await s.fs.stat(entry->path);
  if (!st) {
    s.reply_status(id, st.error());
    co_return R{};
  }
  encode_attrs(s.out, id, to_attrs(*st));
  co_return R{};
}

core::Task<R> handle_setstat(Session& s, std::uint32_t id, Reader& r) {
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
  if (refuse_special_bits(s, id, *a))
    co_return R{};
  PathTarget target{s.fs, *p};
  std::error_code ec = co_await apply_attrs(target, *a);
  s.reply_status(id, ec);
  co_return R{};
}

core::Task<R> handle_fsetstat(Session& s, std::uint32_t id, Reader& r) {
  auto h = r.string();
  auto a = h ? r.attrs() : core::Result<Attrs>(core::unexpected(Errc::truncated));
  if (!h || !a)
    co_return bad();
  if (auto e = expect_end(r); !e)
    co_return e;
  HandleEntry* entry = find_handle(s, id, *h, false);
  if (entry == nullptr || refuse_special_bits(s, id, *a))
    co_return R{};
  std::error_code ec;
  if (entry->file) {
    ec = co_await apply_attrs(*entry->file, *a);
  } else {
    PathTarget target{s.fs, entry->path};
    ec = co_await apply_attrs(target, *a);
  }
  s.reply_status(id, ec);
  co_return R{};
}

// SECURITY: the entries open directories hold stay in memory until READDIR
// sends them; unbounded, one session opening a directory of 100,000 entries
// (read whole from a local disk) max_handles times would hold about 11 GiB.
// A batch of `n` more fits within max_dir_entries, or is the only one held:
// one directory of any size is always read.
std::error_code hold_entries(const Session& s, std::size_t n) {
  const std::size_t held = s.handles.dir_entries();
  if (held > 0 && held + n > s.limits.max_dir_entries)
    return std::make_error_code(std::errc::too_many_files_open);
  return {};
}

// Replaces the sent batch in hand with the directory's next one. At the end,
// or after an error (kept in the cursor), the reader is closed.
core::Task<void> refill(const Session& s, DirCursor& c) {
  c.entries = std::vector<vfs::DirEntry>();
  c.next = 0;
  auto more = co_await c.reader->next();
  if (!more)
    c.error = more.error();
  else if (!more->empty())
    c.error = hold_entries(s, more->size());
  if (!more || more->empty() || c.error)
    c.reader.reset();
  else
    c.entries = std::move(*more);
}

core::Task<R> handle_opendir(Session& s, std::uint32_t id, Reader& r) {
  auto p = read_path(s, r);
  if (auto e = expect_end(r); !e)
    co_return e;
  if (!p) {
    s.reply_status(id, p.error());
    co_return R{};
  }
  // SECURITY: a directory handle holds a batch of its listing (with a local
  // disk: all of it) until it is closed; within max_handles alone one session
  // held 1,024 listings of a 4,000-entry directory (500 MiB). Checked before
  // the directory is read.
  if (s.handles.directories() >= s.limits.max_dir_handles) {
    s.reply_status(id, std::make_error_code(std::errc::too_many_files_open));
    co_return R{};
  }
  auto dir = co_await s.fs.open_dir(*p);
  if (!dir) {
    s.reply_status(id, dir.error());
    co_return R{};
  }
  // The first batch is read now: a directory that can not be read fails its
  // OPENDIR, as OpenSSH's opendir(3) does, and its size is known.
  auto first = co_await (*dir)->next();
  if (!first) {
    s.reply_status(id, first.error());
    co_return R{};
  }
  if (auto e = hold_entries(s, first->size()); e) {
    s.reply_status(id, e);
    co_return R{};
  }
  DirCursor cursor;
  if (!first->empty())
    cursor.reader = std::move(*dir);
  cursor.entries = std::move(*first);
  auto h = s.handles.add(HandleEntry{*p, nullptr, std::move(cursor), std::nullopt, {}});
  if (!h) {
    s.reply_status(id, h.error());
    co_return R{};
  }
  encode_handle(s.out, id, *h);
  co_return R{};
}

core::Task<R> handle_readdir(Session& s, std::uint32_t id, Reader& r) {
  auto h = r.string();
  if (!h)
    co_return bad();
  if (auto e = expect_end(r); !e)
    co_return e;
  HandleEntry* entry = s.handles.find(*h);
  if (entry == nullptr || !entry->dir) {
    s.reply_status(id, std::make_error_code(std::errc::bad_file_descriptor));
    co_return R{};
  }
  // As many names as one reply carries, across the reader's batches: the
  // replies are the same whatever size of batch the filesystem hands out.
  DirCursor& c = *entry->dir;
  auto now = std::chrono::system_clock::now();
  std::vector<NameEntry> batch;
  std::size_t bytes = 0;
  while (!c.error && batch.size() < s.limits.readdir_batch && bytes < s.limits.max_read / 2) {
    if (c.next >= c.entries.size()) {
      if (c.reader == nullptr)
        break; // the end
      co_await refill(s, c);
      continue;
    }
    const auto& e = c.entries[c.next++];
    const std::string uid = std::to_string(e.stat.uid);
    const std::string gid = std::to_string(e.stat.gid);
    std::string_view owner = owner_name(s, e.stat.uid, false);
    std::string_view group = owner_name(s, e.stat.gid, true);
    NameEntry n{
        e.name,
        vfs::long_listing_line(e, now, owner.empty() ? uid : owner, group.empty() ? gid : group),
        to_attrs(e.stat)};
    bytes += n.filename.size() + n.longname.size() + 64;
    batch.push_back(std::move(n));
  }
  // Names read before an error go out; the error answers the next READDIR.
  if (batch.empty()) {
    if (c.error)
      s.reply_status(id, c.error);
    else
      s.reply_status(id, Status::eof);
    co_return R{};
  }
  encode_name(s.out, id, batch);
  co_return R{};
}

core::Task<R>
path_op(Session& s, std::uint32_t id, Reader& r,
        core::Task<core::Result<void>> (vfs::Filesystem::*op)(const vfs::VirtualPath&)) {
  auto p = read_path(s, r);
  if (auto e = expect_end(r); !e)
    co_return e;
  if (!p) {
    s.reply_status(id, p.error());
    co_return R{};
  }
  auto res = co_await (s.fs.*op)(*p);
  spdlog::debug("sftp: {} {} {}: {}", s.user(),
                op == &vfs::Filesystem::remove_file ? "remove" : "rmdir", core::printable(p->str()),
                res ? "ok" : res.error().message());
  s.reply_status(id, res ? std::error_code{} : res.error());
  co_return R{};
}

core::Task<R> handle_remove(Session& s, std::uint32_t id, Reader& r) {
  co_return co_await path_op(s, id, r, &vfs::Filesystem::remove_file);
}

core::Task<R> handle_rmdir(Session& s, std::uint32_t id, Reader& r) {
  co_return co_await path_op(s, id, r, &vfs::Filesystem::remove_directory);
}

core::Task<R> handle_mkdir(Session& s, std::uint32_t id, Reader& r) {
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
  // The mode is part of making the directory, less the umask, as a created
  // file's is (OpenSSH's client always sends 0777).
  const std::uint32_t mode = a->permissions ? *a->permissions & 0777 : 0777;
  auto res = co_await s.fs.make_directory(*p, mode);
  spdlog::debug("sftp: {} mkdir {}: {}", s.user(), core::printable(p->str()),
                res ? "ok" : res.error().message());
  s.reply_status(id, res ? std::error_code{} : res.error());
  co_return R{};
}

core::Task<R> handle_realpath(Session& s, std::uint32_t id, Reader& r) {
  auto p = read_path(s, r);
  if (auto e = expect_end(r); !e)
    co_return e;
  if (!p) {
    s.reply_status(id, p.error());
    co_return R{};
  }
  // Lexical, as the jail is: ".." stops at "/"; the path need not exist (OpenSSH
  // resolves only existing prefixes, clients do not rely on the difference).
  encode_name(s.out, id, {NameEntry{p->str(), p->str(), Attrs{}}});
  co_return R{};
}

core::Task<R> handle_rename(Session& s, std::uint32_t id, Reader& r) {
  auto from = read_path(s, r);
  auto to = read_path(s, r);
  if (auto e = expect_end(r); !e)
    co_return e;
  if (!from || !to) {
    s.reply_status(id, !from ? from.error() : to.error());
    co_return R{};
  }
  // filexfer-02 6.5: RENAME fails if the target exists (posix-rename replaces),
  // checked by the rename itself (RENAME_NOREPLACE), not before it.
  auto res = co_await s.fs.rename(*from, *to, vfs::RenameMode::no_replace);
  spdlog::debug("sftp: {} rename {} to {}: {}", s.user(), core::printable(from->str()),
                core::printable(to->str()), res ? "ok" : res.error().message());
  if (!res && res.error() == vfs::Errc::exists)
    s.reply_status(id, Status::failure, "Target exists");
  else
    s.reply_status(id, res ? std::error_code{} : res.error());
  co_return R{};
}

core::Task<R> handle_readlink(Session& s, std::uint32_t id, Reader& r) {
  auto p = read_path(s, r);
  if (auto e = expect_end(r); !e)
    co_return e;
  if (!p) {
    s.reply_status(id, p.error());
    co_return R{};
  }
  auto target = co_await s.fs.read_link(*p);
  if (!target) {
    s.reply_status(id, target.error());
    co_return R{};
  }
  encode_name(s.out, id, {NameEntry{*target, *target, Attrs{}}});
  co_return R{};
}

core::Task<R> handle_symlink(Session& s, std::uint32_t id, Reader& r) {
  // OpenSSH sends (target, link), the reverse of filexfer-02's (link, target),
  // and every client follows OpenSSH; so do we.
  auto target_text = r.string();
  auto link = read_path(s, r);
  if (!target_text)
    co_return bad();
  if (auto e = expect_end(r); !e)
    co_return e;
  if (!link) {
    s.reply_status(id, link.error());
    co_return R{};
  }
  auto target = vfs::VirtualPath::resolve(link->parent(), *target_text);
  if (!target) {
    s.reply_status(id, target.error());
    co_return R{};
  }
  auto res = co_await s.fs.make_symlink(*target, *link);
  s.reply_status(id, res ? std::error_code{} : res.error());
  co_return R{};
}

constexpr std::array kRequests = std::to_array<RequestSpec>({
    {Type::init, "init", handle_init, false},
    {Type::open, "open", handle_open, true},
    {Type::close, "close", handle_close, false},
    {Type::read, "read", handle_read, false},
    {Type::write, "write", handle_write, true},
    {Type::lstat, "lstat", handle_lstat, false},
    {Type::fstat, "fstat", handle_fstat, false},
    {Type::setstat, "setstat", handle_setstat, true},
    {Type::fsetstat, "fsetstat", handle_fsetstat, true},
    {Type::opendir, "opendir", handle_opendir, false},
    {Type::readdir, "readdir", handle_readdir, false},
    {Type::remove, "remove", handle_remove, true},
    {Type::mkdir, "mkdir", handle_mkdir, true},
    {Type::rmdir, "rmdir", handle_rmdir, true},
    {Type::realpath, "realpath", handle_realpath, false},
    {Type::stat, "stat", handle_stat, false},
    {Type::rename, "rename", handle_rename, true},
    {Type::readlink, "readlink", handle_readlink, false},
    {Type::symlink, "symlink", handle_symlink, true},
    {Type::extended, "extended", handle_extended, false},
});

} // namespace

std::span<const RequestSpec> request_table() {
  return kRequests;
}

core::Result<vfs::VirtualPath> read_path(Session& s, Reader& r) {
  auto p = r.string();
  if (!p)
    return core::unexpected(p.error());
  return s.path(*p);
}

std::string_view owner_name(const Session& s, std::uint32_t id, bool group) {
  // The ids berth runs as now: after a privilege drop, the configured user's.
  const auto own = group ? ::getegid() : ::geteuid();
  if (s.info == nullptr || id != own)
    return {};
  return s.info->user;
}

HandleEntry* find_handle(Session& s, std::uint32_t id, std::string_view handle, bool file_only) {
  HandleEntry* entry = s.handles.find(handle);
  if (entry == nullptr || (file_only && !entry->file)) {
    s.reply_status(id, std::make_error_code(std::errc::bad_file_descriptor));
    return nullptr;
  }
  return entry;
}

core::Result<void> expect_end(const Reader& r) {
  if (!r.at_end())
    return core::unexpected(Errc::trailing_data);
  return {};
}

core::Task<void> Session::handle_packet(std::span<const std::uint8_t> packet) {
  Reader r(packet);
  auto type = r.u8();
  if (!type)
    co_return;
  if (!initialized) {
    // INIT first (filexfer-02 4): anything else before it ends nothing but gets no answer.
    auto version = r.u32();
    if (static_cast<Type>(*type) != Type::init || !version) {
      spdlog::warn("sftp: request before INIT");
      co_return;
    }
    initialized = true;
    std::vector<std::pair<std::string, std::string>> exts;
    for (const auto& e : extension_table())
      if (!e.version_data.empty())
        exts.emplace_back(std::string(e.name), std::string(e.version_data));
    encode_version(out, exts);
    co_return;
  }
  auto id = r.u32();
  if (!id) {
    reply_status(0, Status::bad_message);
    co_return;
  }
  const RequestSpec* spec = nullptr;
  for (const auto& row : kRequests)
    if (static_cast<std::uint8_t>(row.type) == *type)
      spec = &row;
  if (spec == nullptr) {
    reply_status(*id, Status::op_unsupported);
    co_return;
  }
  auto res = co_await spec->handler(*this, *id, r);
  if (!res)
    reply_status(*id, Status::bad_message);
}

} // namespace berth::sftp
