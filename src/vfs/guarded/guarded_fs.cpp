#include "vfs/guarded/guarded_fs.hpp"

#include "core/log.hpp"
#include "vfs/errc.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <string_view>
#include <utility>

namespace berth::vfs {
namespace {

using core::Perm;
using Throttles = std::vector<std::shared_ptr<net::Throttle>>;

constexpr auto kMaxSigned = std::numeric_limits<std::int64_t>::max();

// A size as the quota counts it; one past int64 is past any limit anyway.
std::int64_t as_signed(std::uint64_t v) {
  return v > static_cast<std::uint64_t>(kMaxSigned) ? kMaxSigned : static_cast<std::int64_t>(v);
}

// What an entry counts in a quota, as LocalFs::usage() counts it.
Usage cost_of(const Stat& st) {
  switch (st.type) {
  case FileType::regular:
    return {as_signed(st.size), 1};
  case FileType::directory:
  case FileType::symlink:
    return {kEntryBytes, 1};
  case FileType::other:
    break;
  }
  return {};
}

// A quota user's filesystem, as SFTPGo shows it: the quota is its size and
// what is left of the quota its free space (never more than the disk has),
// so `df` on a mount shows the user's own limits. A limit of 0 (none) leaves
// the disk's figures.
void limit_to_quota(FsStats& st, const Quota& q) {
  const Usage used = q.usage();
  if (const std::int64_t max = q.max_bytes(); max > 0) {
    if (st.fragment_size == 0)
      st.fragment_size = st.block_size != 0 ? st.block_size : 4096;
    const std::uint64_t unit = st.fragment_size;
    const auto left = static_cast<std::uint64_t>(std::max<std::int64_t>(max - used.bytes, 0));
    st.blocks = (static_cast<std::uint64_t>(max) + unit - 1) / unit;
    st.blocks_free = std::min(st.blocks_free, left / unit);
    st.blocks_available = std::min(st.blocks_available, left / unit);
  }
  if (const std::int64_t max = q.max_files(); max > 0) {
    const auto left = static_cast<std::uint64_t>(std::max<std::int64_t>(max - used.files, 0));
    st.files = static_cast<std::uint64_t>(max);
    st.files_free = std::min(st.files_free, left);
    st.files_available = std::min(st.files_available, left);
  }
}

core::Unexpected denied() {
  return core::unexpected(Errc::permission_denied);
}

bool limits(const Throttles& throttles) {
  return std::any_of(throttles.begin(), throttles.end(),
                     [](const auto& t) { return t != nullptr && t->rate() > 0; });
}

// The most bytes moved between two waits on the throttles: a quarter of a
// second at the slowest rate, at least 4 KiB. Small enough that a throttled
// transfer never looks stalled to the data connection's watchdog.
std::size_t piece(const Throttles& throttles, std::size_t n) {
  for (const auto& t : throttles)
    if (t != nullptr && t->rate() > 0)
      n = std::min<std::size_t>(n, std::max<std::uint64_t>(t->rate() / 4, 4096));
  return n;
}

// Waits until every throttle lets `n` bytes pass.
core::Task<void> pace(const Throttles& throttles, std::uint64_t n) {
  for (const auto& t : throttles)
    if (t != nullptr && t->rate() > 0)
      co_await t->take(n);
}

// What a GuardedFs and the Files it opened share (hence shared_ptr): a File may
// outlive its Filesystem, and a replace upload looks up its target at commit().
struct Shared {
  std::unique_ptr<Filesystem> inner;
  Rules rules;

  Quota* quota() const { return rules.quota.get(); }

  /// The user's quota critical section (Quota::hold()); nothing without a quota.
  core::Task<Quota::Hold> hold() const {
    if (quota() == nullptr)
      co_return Quota::Hold();
    co_return co_await quota()->hold();
  }

  /// Whether the rules allow `p`; logs a refusal.
  bool allowed(Perm p, std::string_view op, const VirtualPath& path) const {
    if (rules.permissions.has(p))
      return true;
    spdlog::info("{}: {} {} refused: no {} permission", rules.user, op, core::printable(path.str()),
                 core::Permissions::name(p));
    return false;
  }

  /// A place in the budget of open files for one more of the user's (empty
  /// without a budget); Errc::too_many_open_files, logged, when it is used up.
  core::Result<OpenFiles::Slot> place(std::string_view op, const VirtualPath& path) const {
    if (!rules.open_files)
      return OpenFiles::Slot();
    auto slot = rules.open_files->take(rules.user);
    if (!slot) {
      spdlog::info("{}: {} {} refused: too many open files", rules.user, op,
                   core::printable(path.str()));
      return core::unexpected(Errc::too_many_open_files);
    }
    return slot;
  }

  core::Unexpected over_quota(std::string_view op, const VirtualPath& path) const {
    spdlog::info("{}: {} {} refused: quota exceeded", rules.user, op, core::printable(path.str()));
    return core::unexpected(Errc::quota_exceeded);
  }
};

/// What a GuardedFile's charges are.
enum class Kind {
  plain,   ///< Reads, and writes that stay on disk as they happen (append, resume, in place).
  replace, ///< An atomic replace: everything it charged is given back unless committed.
};

/// How a GuardedFile was opened.
struct Opened {
  Kind kind = Kind::plain;
  std::uint64_t offset = 0; ///< Where sequential read() and write() start.
  bool readable = false;
  bool writable = false;
  bool append = false;            ///< Writes go to the end, whatever their offset.
  std::uint64_t size = 0;         ///< The file's size at open: rewriting bytes below it is free.
  std::int64_t charged_files = 0; ///< Files charged when it was opened.
  bool created = false;           ///< The open made a new file.
  VirtualPath path;               ///< For log lines; replace: the target of commit().
};

class GuardedFile final : public File {
public:
  GuardedFile(std::shared_ptr<const Shared> shared, std::unique_ptr<File> inner, Opened how,
              OpenFiles::Slot slot)
      : shared_(std::move(shared)), slot_(std::move(slot)), inner_(std::move(inner)),
        how_(std::move(how)), end_(how_.size) {}

  ~GuardedFile() override {
    // A discarded replace upload leaves nothing on disk: give back all it charged.
    if (how_.kind == Kind::replace && !committed_ && quota() != nullptr)
      quota()->release(charged_bytes_, how_.charged_files);
  }

  // vfs::File
  core::Task<core::Result<std::size_t>> read(std::span<std::byte> buf) override {
    const std::optional<std::uint64_t> sequential;
    co_return co_await paced_read(sequential, buf);
  }

  core::Task<core::Result<void>> write(std::span<const std::byte> buf) override {
    while (!buf.empty()) {
      auto part = buf.first(piece(shared_->rules.upload, buf.size()));
      co_await pace(shared_->rules.upload, part.size());
      Quota::Hold held;
      if (shared_with_others())
        held = co_await shared_->hold();
      auto growth = co_await charge(position_, part.size());
      if (!growth)
        co_return core::unexpected(growth.error());
      auto r = co_await inner_->write(part);
      if (!r) {
        co_await settle(*growth);
        co_return r;
      }
      position_ += part.size();
      buf = buf.subspan(part.size());
    }
    co_return core::Result<void>{};
  }

  core::Task<core::Result<void>> commit() override {
    Quota* q = quota();
    if (q == nullptr || !how_.writable)
      co_return co_await inner_->commit();
    auto held = co_await shared_->hold();
    if (how_.kind == Kind::plain) {
      // A resume is cut after its last byte: give back what that cut removed
      // (only that: what others removed meanwhile was given back by them).
      auto before = co_await inner_->stat();
      auto r = co_await inner_->commit();
      if (!r)
        co_return r;
      auto after = co_await inner_->stat();
      if (before && after && after->size < before->size)
        q->release(as_signed(before->size - after->size), 0);
      if (after)
        end_ = after->size;
      co_return r;
    }
    if (committed_)
      co_return co_await inner_->commit();
    // What this upload replaced, as it was at the commit: another session may
    // have removed or created the target since the open.
    auto r = co_await inner_->commit();
    if (!r)
      co_return r;
    committed_ = true;
    const std::optional<Stat> old = inner_->replaced();
    // The upload is one file now, in place of what was there (a file or a
    // link); the open charged `charged_files` for it.
    const Usage replaced = old ? cost_of(*old) : Usage{};
    q->adjust(-replaced.bytes, 1 - replaced.files - how_.charged_files);
    co_return r;
  }

  std::optional<Stat> replaced() const override { return inner_->replaced(); }

  std::size_t read_size_limit() const override {
    if (!how_.readable || !limits(shared_->rules.download))
      return inner_->read_size_limit();
    return piece(shared_->rules.download, std::numeric_limits<std::size_t>::max());
  }

  net::ZeroCopyFile* zero_copy() override {
    // SECURITY: bytes moved by the kernel (sendfile, splice) would pass the
    // throttles and the quota: withdrawn then, and FTP copies through read().
    if (how_.readable && limits(shared_->rules.download))
      return nullptr;
    if (how_.writable && (quota() != nullptr || limits(shared_->rules.upload)))
      return nullptr;
    return inner_->zero_copy();
  }

  core::Task<core::Result<std::size_t>> read_at(std::uint64_t offset,
                                                std::span<std::byte> buf) override {
    const std::optional<std::uint64_t> at = offset;
    co_return co_await paced_read(at, buf);
  }

  core::Task<core::Result<void>> write_at(std::uint64_t offset,
                                          std::span<const std::byte> buf) override {
    while (!buf.empty()) {
      auto part = buf.first(piece(shared_->rules.upload, buf.size()));
      co_await pace(shared_->rules.upload, part.size());
      Quota::Hold held;
      if (shared_with_others())
        held = co_await shared_->hold();
      auto growth = co_await charge(offset, part.size());
      if (!growth)
        co_return core::unexpected(growth.error());
      auto r = co_await inner_->write_at(offset, part);
      if (!r) {
        co_await settle(*growth);
        co_return r;
      }
      buf = buf.subspan(part.size());
      offset += part.size();
    }
    co_return core::Result<void>{};
  }

  core::Task<core::Result<Stat>> stat() override { co_return co_await inner_->stat(); }
  core::Task<core::Result<void>> sync() override { co_return co_await inner_->sync(); }

  core::Task<core::Result<void>> set_size(std::uint64_t size) override {
    // A size change changes the content: overwrite, unless this handle made the
    // file (an upload may size what it creates).
    if (!how_.created && !shared_->allowed(Perm::overwrite, "set_size", how_.path))
      co_return denied();
    Quota* q = quota();
    if (q == nullptr)
      co_return co_await inner_->set_size(size);
    auto held = co_await shared_->hold();
    auto st = co_await inner_->stat();
    if (!st)
      co_return core::unexpected(st.error());
    const std::int64_t delta = as_signed(size) - as_signed(st->size);
    if (delta > 0 && !q->try_charge(delta, 0))
      co_return shared_->over_quota("set_size", how_.path);
    auto r = co_await inner_->set_size(size);
    if (!r) {
      if (delta > 0)
        q->release(delta, 0);
      co_return r;
    }
    if (delta < 0)
      q->release(-delta, 0);
    end_ = size;
    charged_bytes_ += delta;
    co_return r;
  }

  core::Task<core::Result<void>> set_mode(std::uint32_t mode) override {
    if (!shared_->allowed(Perm::chmod, "set_mode", how_.path))
      co_return denied();
    co_return co_await inner_->set_mode(mode);
  }

  core::Task<core::Result<void>> set_times(std::chrono::system_clock::time_point atime,
                                           std::chrono::system_clock::time_point mtime) override {
    if (!shared_->allowed(Perm::chmod, "set_times", how_.path))
      co_return denied();
    co_return co_await inner_->set_times(atime, mtime);
  }

private:
  Quota* quota() const { return shared_->quota(); }

  /// Whether other handles or sessions may change this file while it is
  /// written: then a write holds the user's quota critical section from its
  /// look at the file's end to the write itself. A replace upload's file has
  /// no name yet, and a backend with private writes (object storage) keeps
  /// every written file to its writer until commit(): nobody else changes
  /// them, and a write that waits long (for the node's memory budget) must
  /// not keep the user's other sessions waiting behind it.
  bool shared_with_others() const {
    return how_.kind == Kind::plain && !shared_->inner->private_writes();
  }

  // Charges what writing `n` bytes at `at` (at the end for an append) adds
  // past the file's end, before anything is written: a write that does not
  // fit is refused whole.
  core::Task<core::Result<std::int64_t>> charge(std::uint64_t at, std::size_t n) {
    Quota* q = quota();
    if (q == nullptr || n == 0)
      co_return std::int64_t{0};
    if (how_.kind == Kind::plain) {
      // SECURITY: the end as it is now, not as this handle last saw it: another
      // handle or session may have cut the file and been given its bytes back,
      // and rewriting them must be charged again.
      auto st = co_await inner_->stat();
      if (st)
        end_ = st->size;
    }
    if (how_.append)
      at = end_;
    if (at > std::numeric_limits<std::uint64_t>::max() - n)
      co_return shared_->over_quota("write", how_.path);
    const std::uint64_t new_end = at + n;
    if (new_end <= end_)
      co_return std::int64_t{0};
    const std::int64_t growth = as_signed(new_end - end_);
    if (!q->try_charge(growth, 0))
      co_return shared_->over_quota("write", how_.path);
    end_ = new_end;
    charged_bytes_ += growth;
    co_return growth;
  }

  // After a failed write charged `growth`: keeps the charge only for what
  // reached the disk.
  core::Task<void> settle(std::int64_t growth) {
    if (growth == 0)
      co_return;
    const std::uint64_t before = end_ - static_cast<std::uint64_t>(growth);
    auto st = co_await inner_->stat();
    const std::uint64_t reached = st ? std::clamp(st->size, before, end_) : before;
    const std::int64_t unused = as_signed(end_ - reached);
    quota()->release(unused, 0);
    charged_bytes_ -= unused;
    end_ = reached;
  }

  // Piece by piece, each paced, until `buf` is full or the file ends: a
  // throttle slows a read down, it never makes it short (File::read_at). At
  // `offset`, or sequentially (read()) without one.
  core::Task<core::Result<std::size_t>> paced_read(std::optional<std::uint64_t> offset,
                                                   std::span<std::byte> buf) {
    std::size_t done = 0;
    while (done < buf.size()) {
      auto part = buf.subspan(done);
      part = part.first(piece(shared_->rules.download, part.size()));
      core::Result<std::size_t> n = core::unexpected(Errc::io_error);
      if (offset)
        n = co_await inner_->read_at(*offset + done, part);
      else
        n = co_await inner_->read(part);
      if (!n)
        co_return n;
      if (*n > 0)
        co_await pace(shared_->rules.download, *n);
      done += *n;
      if (*n < part.size())
        break; // the end of the file
    }
    co_return done;
  }

  std::shared_ptr<const Shared> shared_;
  OpenFiles::Slot slot_; // given back after inner_ closed the file
  std::unique_ptr<File> inner_;
  Opened how_;
  std::uint64_t end_;                    ///< The file's end as charged (high-water mark).
  std::uint64_t position_ = how_.offset; ///< Of sequential write() (append: end_ is used).
  std::int64_t charged_bytes_ = 0; ///< Net bytes charged; a discarded replace gives them back.
  bool committed_ = false;
};

// A directory being read holds a place in the budget of open files, as list()
// does while it reads, for as long as the reader lives.
class GuardedDirReader final : public DirReader {
public:
  GuardedDirReader(std::shared_ptr<const Shared> shared, std::unique_ptr<DirReader> inner,
                   OpenFiles::Slot slot)
      : shared_(std::move(shared)), slot_(std::move(slot)), inner_(std::move(inner)) {}

  // vfs::DirReader
  core::Task<core::Result<std::vector<DirEntry>>> next() override {
    co_return co_await inner_->next();
  }

private:
  std::shared_ptr<const Shared> shared_; // keeps the inner filesystem alive
  OpenFiles::Slot slot_;                 // given back after inner_ closed the directory
  std::unique_ptr<DirReader> inner_;
};

class GuardedFs final : public Filesystem {
public:
  explicit GuardedFs(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

  // vfs::Filesystem
  core::Task<core::Result<Stat>> stat(const VirtualPath& path) override {
    if (!allowed(Perm::list, "stat", path))
      co_return denied();
    co_return co_await inner().stat(path);
  }

  core::Task<core::Result<std::vector<DirEntry>>> list(const VirtualPath& dir) override {
    if (!allowed(Perm::list, "list", dir))
      co_return denied();
    auto slot = shared_->place("list", dir); // the directory is open while it is read
    if (!slot)
      co_return core::unexpected(slot.error());
    co_return co_await inner().list(dir);
  }

  core::Task<core::Result<std::unique_ptr<DirReader>>> open_dir(const VirtualPath& dir) override {
    if (!allowed(Perm::list, "open_dir", dir))
      co_return denied();
    auto slot = shared_->place("open_dir", dir);
    if (!slot)
      co_return core::unexpected(slot.error());
    auto reader = co_await inner().open_dir(dir);
    if (!reader)
      co_return core::unexpected(reader.error());
    co_return std::make_unique<GuardedDirReader>(shared_, std::move(*reader), std::move(*slot));
  }

  core::Task<core::Result<std::unique_ptr<File>>> open_read(const VirtualPath& path,
                                                            std::uint64_t offset) override {
    if (!allowed(Perm::download, "open_read", path))
      co_return denied();
    auto slot = shared_->place("open_read", path);
    if (!slot)
      co_return core::unexpected(slot.error());
    auto f = co_await inner().open_read(path, offset);
    if (!f)
      co_return core::unexpected(f.error());
    Opened how;
    how.readable = true;
    how.offset = offset;
    how.path = path;
    co_return wrap(std::move(*f), std::move(how), std::move(*slot));
  }

  core::Task<core::Result<std::unique_ptr<File>>>
  open_write(const VirtualPath& path, WriteMode mode, std::uint64_t offset) override {
    // Anything at the name, even a symlink, makes this an overwrite. A user
    // who may do both, with no quota counting files, needs no look at it.
    const core::Permissions& perms = shared_->rules.permissions;
    auto held = co_await shared_->hold();
    const bool look = quota() != nullptr || !perms.has(Perm::upload) || !perms.has(Perm::overwrite);
    core::Result<Stat> entry = core::unexpected(Errc::not_found);
    if (look)
      entry = co_await inner().lstat(path);
    if (!allowed(entry ? Perm::overwrite : Perm::upload, "open_write", path))
      co_return denied();
    auto slot = shared_->place("open_write", path);
    if (!slot)
      co_return core::unexpected(slot.error());
    // SECURITY: allowed as a new file (no overwrite right): it must still be
    // new when it is committed, not replace a file that appeared meanwhile.
    if (look && !entry && !perms.has(Perm::overwrite) && mode == WriteMode::replace)
      mode = WriteMode::create;
    // An atomic replace is a new name; direct ones write in place, as resumes do.
    const bool replace = (mode == WriteMode::replace || mode == WriteMode::create) &&
                         inner().upload_mode() == core::UploadMode::atomic;
    Quota* q = quota();
    std::int64_t new_files = 0;
    std::uint64_t old_size = 0; // direct replace: the size truncation gives back
    if (q != nullptr) {
      if (replace) {
        // The upload replaces the name itself: a file unless a file was there.
        new_files = entry && entry->type == FileType::regular ? 0 : 1;
      } else {
        // Append and resume write through symlinks, creating a missing target.
        auto target = co_await inner().stat(path);
        new_files = !target && target.error() == Errc::not_found ? 1 : 0;
        if (target && target->type == FileType::regular && mode == WriteMode::replace)
          old_size = target->size;
      }
      if (new_files > 0 && !q->try_charge(0, new_files))
        co_return shared_->over_quota("open_write", path);
    }
    auto f = co_await inner().open_write(path, mode, offset);
    if (!f) {
      if (new_files > 0)
        q->release(0, new_files);
      co_return core::unexpected(f.error());
    }
    Opened how;
    how.kind = replace ? Kind::replace : Kind::plain;
    how.writable = true;
    how.created = mode == WriteMode::create;
    how.append = mode == WriteMode::append;
    how.offset = mode == WriteMode::resume ? offset : 0;
    how.charged_files = new_files;
    how.path = path;
    if (q != nullptr && !replace) {
      auto st = co_await (*f)->stat();
      how.size = st ? st->size : 0;
      if (how.size < old_size)
        q->release(as_signed(old_size - how.size), 0);
    }
    co_return wrap(std::move(*f), std::move(how), std::move(*slot));
  }

  core::UploadMode upload_mode() const override { return shared_->inner->upload_mode(); }
  bool private_writes() const override { return shared_->inner->private_writes(); }

  core::Task<core::Result<std::pair<std::unique_ptr<File>, std::string>>>
  create_unique(const VirtualPath& dir, std::string_view prefix) override {
    if (!allowed(Perm::upload, "create_unique", dir))
      co_return denied();
    auto slot = shared_->place("create_unique", dir);
    if (!slot)
      co_return core::unexpected(slot.error());
    Quota* q = quota();
    auto held = co_await shared_->hold();
    if (q != nullptr && !q->try_charge(0, 1))
      co_return shared_->over_quota("create_unique", dir);
    auto r = co_await inner().create_unique(dir, prefix);
    if (!r) {
      if (q != nullptr)
        q->release(0, 1);
      co_return core::unexpected(r.error());
    }
    Opened how;
    how.writable = true;
    how.charged_files = q != nullptr ? 1 : 0;
    how.path = dir.child(r->second);
    auto file = wrap(std::move(r->first), std::move(how), std::move(*slot));
    co_return std::make_pair(std::move(file), std::move(r->second));
  }

  core::Task<core::Result<void>> make_directory(const VirtualPath& path,
                                                std::uint32_t mode) override {
    if (!allowed(Perm::mkdir, "make_directory", path))
      co_return denied();
    auto held = co_await shared_->hold();
    if (!charge_entry())
      co_return shared_->over_quota("make_directory", path);
    auto r = co_await inner().make_directory(path, mode);
    if (!r)
      release_entry();
    co_return r;
  }

  core::Task<core::Result<void>> remove_directory(const VirtualPath& path) override {
    if (!allowed(Perm::rmdir, "remove_directory", path))
      co_return denied();
    co_return co_await remove_counted(path, true);
  }

  core::Task<core::Result<void>> remove_file(const VirtualPath& path) override {
    if (!allowed(Perm::remove, "remove_file", path))
      co_return denied();
    co_return co_await remove_counted(path, false);
  }

  core::Task<core::Result<void>> rename(const VirtualPath& from, const VirtualPath& to,
                                        RenameMode mode) override {
    if (!allowed(Perm::rename, "rename", from))
      co_return denied();
    auto held = co_await shared_->hold(); // from the look at the target to the release
    auto target = co_await inner().lstat(to);
    // Replacing a directory (rename(2) replaces an empty one) removes it.
    if (target && mode == RenameMode::replace) {
      const bool dir = target->type == FileType::directory;
      if (!allowed(dir ? Perm::rmdir : Perm::overwrite, "rename", to))
        co_return denied();
    }
    // SECURITY: allowed because nothing was at the target: the rename must not
    // replace what appears there meanwhile.
    if (!target && !shared_->rules.permissions.has(Perm::overwrite))
      mode = RenameMode::no_replace;
    Quota* q = quota();
    if (q == nullptr || !target)
      co_return co_await inner().rename(from, to, mode);
    auto source = co_await inner().lstat(from);
    auto r = co_await inner().rename(from, to, mode);
    // rename(2) leaves both names when they are one file (hard links).
    const bool same = source && source->device == target->device && source->inode == target->inode;
    if (r && !same) {
      const Usage gone = cost_of(*target); // a file, a link, or an empty directory
      q->release(gone.bytes, gone.files);
    }
    co_return r;
  }

  core::Task<core::Result<void>> set_mtime(const VirtualPath& path,
                                           std::chrono::system_clock::time_point mtime) override {
    if (!allowed(Perm::chmod, "set_mtime", path))
      co_return denied();
    co_return co_await inner().set_mtime(path, mtime);
  }

  core::Task<core::Result<void>> set_mode(const VirtualPath& path, std::uint32_t mode) override {
    if (!allowed(Perm::chmod, "set_mode", path))
      co_return denied();
    co_return co_await inner().set_mode(path, mode);
  }

  core::Task<core::Result<Stat>> lstat(const VirtualPath& path) override {
    if (!allowed(Perm::list, "lstat", path))
      co_return denied();
    co_return co_await inner().lstat(path);
  }

  core::Task<core::Result<std::unique_ptr<File>>> open(const VirtualPath& path,
                                                       const OpenFlags& asked) override {
    Quota::Hold held;
    if (asked.write || asked.create)
      held = co_await shared_->hold();
    auto entry = co_await inner().lstat(path);
    OpenFlags flags = asked;
    // SECURITY: allowed as a new file (no overwrite right): it must still be
    // new when it is made (O_EXCL), not replace or write into a file that
    // appeared meanwhile.
    if (flags.create && !entry && !shared_->rules.permissions.has(Perm::overwrite))
      flags.exclusive = true;
    const bool creates = flags.create && (flags.exclusive || !entry);
    if (flags.read && !allowed(Perm::download, "open", path))
      co_return denied();
    if (creates && !allowed(Perm::upload, "open", path))
      co_return denied();
    // Writing without creating can only change an existing file.
    if (flags.write && !creates && !allowed(Perm::overwrite, "open", path))
      co_return denied();
    if (!flags.read && !flags.write && !creates && !allowed(Perm::list, "open", path))
      co_return denied();
    auto slot = shared_->place("open", path);
    if (!slot)
      co_return core::unexpected(slot.error());

    // As LocalFs: create + truncate + write of an existing name is an atomic
    // replace (in the atomic upload mode; direct truncates in place); a new
    // name is created at once and stays, as in place. (Should the name appear
    // between this look and the open, the staged upload is counted as in
    // place: over, never under, until the next scan.)
    const bool replace = flags.create && flags.truncate && flags.write && !flags.exclusive &&
                         entry && inner().upload_mode() == core::UploadMode::atomic;
    Quota* q = quota();
    std::int64_t new_files = 0;
    std::uint64_t old_size = 0; // in place: the size an O_TRUNC open gives back
    if (q != nullptr) {
      if (replace) {
        new_files = entry && entry->type == FileType::regular ? 0 : 1;
      } else if (flags.create && flags.exclusive) {
        new_files = 1;
      } else {
        auto target = co_await inner().stat(path); // in place: through symlinks
        if (target && target->type == FileType::regular)
          old_size = target->size;
        else if (!target && flags.create && target.error() == Errc::not_found)
          new_files = 1;
      }
      if (new_files > 0 && !q->try_charge(0, new_files))
        co_return shared_->over_quota("open", path);
    }
    auto f = co_await inner().open(path, flags);
    if (!f) {
      if (new_files > 0)
        q->release(0, new_files);
      co_return core::unexpected(f.error());
    }
    Opened how;
    how.kind = replace ? Kind::replace : Kind::plain;
    how.created = creates;
    how.readable = flags.read;
    how.writable = flags.write;
    how.append = flags.write && flags.append;
    how.charged_files = new_files;
    how.path = path;
    if (q != nullptr && flags.write && !replace) {
      auto st = co_await (*f)->stat();
      how.size = st ? st->size : 0;
      if (how.size < old_size)
        q->release(as_signed(old_size - how.size), 0);
    }
    co_return wrap(std::move(*f), std::move(how), std::move(*slot));
  }

  core::Task<core::Result<std::string>> read_link(const VirtualPath& path) override {
    if (!allowed(Perm::list, "read_link", path))
      co_return denied();
    co_return co_await inner().read_link(path);
  }

  core::Task<core::Result<void>> make_symlink(const VirtualPath& target,
                                              const VirtualPath& link) override {
    if (!allowed(Perm::symlink, "make_symlink", link))
      co_return denied();
    auto held = co_await shared_->hold();
    if (!charge_entry())
      co_return shared_->over_quota("make_symlink", link);
    auto r = co_await inner().make_symlink(target, link);
    if (!r)
      release_entry();
    co_return r;
  }

  core::Task<core::Result<void>> make_hard_link(const VirtualPath& target,
                                                const VirtualPath& link) override {
    if (!allowed(Perm::symlink, "make_hard_link", link))
      co_return denied();
    // SECURITY: usage counts names (LocalFs::usage); a file that grows through
    // one name while another exists would be charged once and given back once
    // per name. Users with a quota get no hard links (symbolic links are fine).
    if (quota() != nullptr) {
      spdlog::warn("{}: make_hard_link {} refused: no hard links with a quota", shared_->rules.user,
                   core::printable(link.str()));
      co_return denied();
    }
    co_return co_await inner().make_hard_link(target, link);
  }

  core::Task<core::Result<void>> set_size(const VirtualPath& path, std::uint64_t size) override {
    // A size change changes the content (truncating destroys it): overwrite.
    if (!allowed(Perm::overwrite, "set_size", path))
      co_return denied();
    Quota* q = quota();
    if (q == nullptr)
      co_return co_await inner().set_size(path, size);
    auto held = co_await shared_->hold();
    auto st = co_await inner().stat(path); // set_size follows symlinks
    if (!st || st->type != FileType::regular)
      co_return co_await inner().set_size(path, size); // its own error
    const std::int64_t delta = as_signed(size) - as_signed(st->size);
    if (delta > 0 && !q->try_charge(delta, 0))
      co_return shared_->over_quota("set_size", path);
    auto r = co_await inner().set_size(path, size);
    if (!r && delta > 0)
      q->release(delta, 0);
    if (r && delta < 0)
      q->release(-delta, 0);
    co_return r;
  }

  core::Task<core::Result<void>> set_times(const VirtualPath& path,
                                           std::chrono::system_clock::time_point atime,
                                           std::chrono::system_clock::time_point mtime) override {
    if (!allowed(Perm::chmod, "set_times", path))
      co_return denied();
    co_return co_await inner().set_times(path, atime, mtime);
  }

  core::Task<core::Result<FsStats>> fs_stats(const VirtualPath& path) override {
    if (!allowed(Perm::list, "fs_stats", path))
      co_return denied();
    auto st = co_await inner().fs_stats(path);
    if (st && quota() != nullptr)
      limit_to_quota(*st, *quota());
    co_return st;
  }

private:
  Filesystem& inner() const { return *shared_->inner; }
  Quota* quota() const { return shared_->quota(); }

  // A new directory or link: charged before it is made (without a quota: true).
  bool charge_entry() const { return quota() == nullptr || quota()->try_charge(kEntryBytes, 1); }
  void release_entry() const {
    if (quota() != nullptr)
      quota()->release(kEntryBytes, 1);
  }

  // Removes `path` (a directory, or a file or link) and gives back what it
  // counted. Neither removal follows a symlink: what goes is what lstat sees.
  core::Task<core::Result<void>> remove_counted(const VirtualPath& path, bool directory) {
    auto held = co_await shared_->hold();
    core::Result<Stat> entry = core::unexpected(Errc::not_found);
    if (quota() != nullptr)
      entry = co_await inner().lstat(path);
    core::Result<void> r;
    if (directory)
      r = co_await inner().remove_directory(path);
    else
      r = co_await inner().remove_file(path);
    if (r && entry) {
      const Usage cost = cost_of(*entry);
      quota()->release(cost.bytes, cost.files);
    }
    co_return r;
  }
  bool allowed(Perm p, std::string_view op, const VirtualPath& path) const {
    return shared_->allowed(p, op, path);
  }

  std::unique_ptr<File> wrap(std::unique_ptr<File> file, Opened how, OpenFiles::Slot slot) const {
    return std::make_unique<GuardedFile>(shared_, std::move(file), std::move(how), std::move(slot));
  }

  std::shared_ptr<Shared> shared_;
};

} // namespace

std::unique_ptr<Filesystem> guard(std::unique_ptr<Filesystem> inner, Rules rules) {
  auto shared = std::make_shared<Shared>();
  shared->inner = std::move(inner);
  shared->rules = std::move(rules);
  return std::make_unique<GuardedFs>(std::move(shared));
}

} // namespace berth::vfs
