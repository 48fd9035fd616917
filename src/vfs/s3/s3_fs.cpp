// The S3 backend of vfs::Filesystem.
//
// - Keys: a path is the key prefix + "/" + the path without its leading "/"
//   (the path alone for a home at the bucket's root). Folders are common
//   prefixes and zero-byte "name/" markers: a folder exists while its marker
//   or any key below it does; the root always exists.
// - Downloads stream one GET from the offset with at most read_ahead bytes
//   buffered; read_at() at the offset where the last read ended (SFTP's
//   pipelined READs) continues that GET, a forward jump up to 256 KiB reads
//   through, any other jump opens a new ranged GET. Reads are short only at
//   the end of the object.
// - Uploads (s3_upload.cpp): parts of part_size assembled in buffers from the
//   node's MemoryBudget (write() waits while it is used up: the client's socket
//   is not read meanwhile), at most upload_concurrency parts in flight and
//   upload_concurrency + 1 buffers per upload; a single PUT when the file fits
//   in one part. The object appears only at commit(); a File destroyed without
//   commit() aborts its multipart upload in a spawned coroutine. write_at()
//   assembles writes in place within a window of two parts (the one being
//   filled and the next); a write before the window (into a part already sent)
//   or beyond it moves the upload to a local spool file (S3FsOptions::spool,
//   [s3] spool_dir and spool_limit; see s3_upload.cpp): refused with
//   Errc::unsupported without a spool or into a part sent before the move, with
//   Errc::no_space when the node's spool is full. Reads of a spooled upload
//   see what the spool holds.
//   WriteMode::create: a conditional PUT (If-None-Match), or for a multipart
//   upload a HEAD at the open and before completing (a small race remains).
//   With a journal (S3FsOptions::journal), a multipart upload and each finished
//   part are recorded; one interrupted after a finished part is not aborted
//   but kept for a resume: stat() of its key, while no object is there, shows
//   the bytes of its finished parts, and a resume at exactly that offset
//   continues the same upload with its next part (nothing sent again); so do
//   an append (APPE, SFTP append) and an SFTP open for writing without
//   truncate (reput), their first write at that offset. Any other new upload
//   of the key aborts the interrupted one (s3_upload.cpp).
//   Append and other resumes keep the existing object's first bytes: UploadPartCopy
//   from 5 MiB, else a GET into the first part buffer. An SFTP open for
//   writing without truncate keeps the bytes before the first write (reput),
//   not those after it. set_size() of an open upload is allowed down to the
//   bytes not yet sent; anything else is unsupported.
// - Listings: ListObjectsV2 with delimiter "/", a page (1000 keys) per
//   DirReader batch, objects and prefixes merged in name order within a page;
//   the folder's own marker is hidden. S3 lists "a.txt" before the prefix
//   "a/" ('.' < '/') while folder "a" sorts first by name: entries that a
//   folder of a later page could precede wait for that page (at most 10,000;
//   beyond that they go out of order). Files show their size and LastModified; a folder
//   of at most 64 files read in one page gets a HEAD per file, so that times
//   set by MFMT/SETSTAT (x-amz-meta-mtime) show there; larger folders show
//   LastModified. stat() always shows x-amz-meta-mtime when set. Folders show
//   the time of the listing.
// - mkdir puts a "name/" marker (Errc::exists if anything is at the name);
//   rmdir refuses a folder with anything in it (Errc::not_empty) and removes
//   the marker.
// - rename: a file is a server-side copy (multipart copy above 5 GiB) and a
//   delete; a folder is copied object by object, 16 at once, then its old
//   keys are deleted (1000 a request), up to max_rename_objects objects; above
//   that Errc::unsupported and nothing moves. A failed copy leaves the source
//   whole. RenameMode::no_replace refuses any target that exists.
// - set_mtime/set_times: CopyObject onto itself with x-amz-meta-mtime. set_mode,
//   symlinks, hard links, read_link: Errc::unsupported; lstat = stat. fs_stats:
//   large totals (object storage has no fixed size). create_unique: a random
//   name, its upload a conditional PUT.
// - Failures: the Client's errors pass through (unavailable: FTP 451, SFTP
//   failure). Every call awaits; nothing blocks the loop.
#include "vfs/s3/s3_fs.hpp"

#include "core/wakeup.hpp"
#include "vfs/errc.hpp"
#include "vfs/s3/s3_files.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/this_coro.hpp>

#include <algorithm>
#include <random>
#include <set>

namespace berth::vfs::s3 {
namespace {

constexpr std::size_t kParallel = 16;
constexpr std::size_t kHeadListing = 64;
constexpr std::size_t kPageKeys = 1000;
constexpr std::size_t kMaxHeld = 10000;

bool is_not_found(const std::error_code& ec) {
  return ec == make_error_code(Errc::not_found);
}

/// `key`: the folder's key with its trailing "/" ("" for the root).
Stat folder_stat(std::string_view key) {
  Stat st;
  st.inode = key_inode(key);
  st.type = FileType::directory;
  st.size = static_cast<std::uint64_t>(kEntryBytes);
  st.mode = 0755;
  st.nlink = 2;
  st.mtime = std::chrono::system_clock::now();
  st.atime = st.mtime;
  return st;
}

/// Coroutines spawned for one batch of requests, and the first error.
struct Batch {
  explicit Batch(const asio::any_io_executor& ex) : wake(ex) {}
  core::Wakeup wake;
  std::size_t running = 0;
  std::error_code error;
};

core::Task<void> wait_for_room(Batch& b, std::size_t width) {
  while (b.running >= width)
    co_await b.wake.wait();
}

core::Task<void> head_entry(std::shared_ptr<Client> client, std::shared_ptr<Batch> batch,
                            std::shared_ptr<std::vector<DirEntry>> entries, std::size_t i,
                            std::string key) {
  auto head = co_await client->head(key);
  if (head)
    (*entries)[i].stat = object_stat(*head);
  // A file gone since the listing keeps what the listing said.
  --batch->running;
  batch->wake.notify();
}

core::Task<void> copy_entry(std::shared_ptr<Client> client, std::shared_ptr<Batch> batch,
                            std::string from, std::string to, std::uint64_t size) {
  auto none = std::optional<Metadata>{};
  auto r = co_await copy_object(*client, from, to, size, none);
  if (!r && !batch->error)
    batch->error = r.error();
  --batch->running;
  batch->wake.notify();
}

class S3Fs;

/// A folder's entries, a listing page at a time.
class S3DirReader final : public DirReader {
public:
  S3DirReader(std::shared_ptr<Client> client, std::string prefix)
      : client_(std::move(client)), prefix_(std::move(prefix)) {}

  /// The next page's entries (empty at the end); sets found_ when the page
  /// had any key, the folder's marker included.
  core::Task<core::Result<std::vector<DirEntry>>> next() override {
    std::vector<DirEntry> out;
    while (out.empty() && !done_) {
      auto prefix = prefix_;
      auto delimiter = std::string("/");
      auto token = token_;
      auto page = co_await client_->list(prefix, delimiter, token, kPageKeys);
      if (!page)
        co_return core::unexpected(page.error());
      pages_++;
      token_ = page->next_token;
      done_ = token_.empty();
      if (!page->objects.empty() || !page->prefixes.empty())
        found_ = true;
      for (auto& object : page->objects) {
        if (object.key.size() <= prefix_.size())
          continue; // the folder's own marker
        DirEntry e;
        e.name = object.key.substr(prefix_.size());
        e.stat = object_stat(object);
        out.push_back(std::move(e));
      }
      for (auto& p : page->prefixes) {
        if (p.size() <= prefix_.size() + 1)
          continue; // "folder//": an empty name
        DirEntry e;
        e.name = p.substr(prefix_.size(), p.size() - prefix_.size() - 1);
        e.stat = folder_stat(p);
        out.push_back(std::move(e));
      }
      std::string last; // the page's last key or prefix, relative
      if (!page->objects.empty())
        last = page->objects.back().key.substr(prefix_.size());
      if (!page->prefixes.empty())
        last = std::max(last, page->prefixes.back().substr(prefix_.size()));
      std::move(held_.begin(), held_.end(), std::back_inserter(out));
      held_.clear();
      std::sort(out.begin(), out.end(),
                [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
      if (!done_)
        hold_back(out, last);
      if (pages_ == 1 && done_) {
        auto filled = co_await head_files(out);
        if (!filled)
          co_return core::unexpected(filled.error());
      }
    }
    co_return out;
  }

  /// S3 lists "a/" after "a.txt" ('.' < '/'), but folder "a" comes first by
  /// name: an entry that a folder of a later page could precede waits, with
  /// all after it, for that page (at most kMaxHeld entries wait).
  void hold_back(std::vector<DirEntry>& out, const std::string& last) {
    auto risky = [&last](const DirEntry& e) {
      // A later folder f precedes e when e's name is f, a byte below '/',
      // more, and "f/" sorts after this page's last key.
      for (std::size_t i = 1; i < e.name.size(); ++i)
        if (static_cast<unsigned char>(e.name[i]) < '/' && e.name.substr(0, i) + '/' > last)
          return true;
      return false;
    };
    auto first = std::find_if(out.begin(), out.end(), risky);
    if (static_cast<std::size_t>(out.end() - first) > kMaxHeld)
      return;
    std::move(first, out.end(), std::back_inserter(held_));
    out.erase(first, out.end());
  }

  bool found() const { return found_; }
  bool done() const { return done_; }

private:
  /// A small folder read in one page: a HEAD per file, for times set by MFMT.
  core::Task<core::Result<void>> head_files(std::vector<DirEntry>& entries) {
    std::size_t files = 0;
    for (const auto& e : entries)
      files += e.stat.type == FileType::regular ? 1 : 0;
    if (files == 0 || files > kHeadListing)
      co_return core::Result<void>{};
    auto ex = co_await asio::this_coro::executor;
    auto batch = std::make_shared<Batch>(ex);
    auto shared = std::make_shared<std::vector<DirEntry>>(std::move(entries));
    for (std::size_t i = 0; i < shared->size(); ++i) {
      if ((*shared)[i].stat.type != FileType::regular)
        continue;
      co_await wait_for_room(*batch, kParallel);
      ++batch->running;
      std::string key = prefix_ + (*shared)[i].name;
      asio::co_spawn(ex, head_entry(client_, batch, shared, i, key), asio::detached);
    }
    co_await wait_for_room(*batch, 1);
    entries = std::move(*shared);
    co_return core::Result<void>{};
  }

  std::shared_ptr<Client> client_;
  std::string prefix_;
  std::string token_;
  bool done_ = false;
  bool found_ = false;
  std::vector<DirEntry> held_;
  int pages_ = 0;
};

/// The first entries of a folder, read ahead of the caller to tell a missing
/// folder from an empty one; then the rest from the reader.
class PrefetchedReader final : public DirReader {
public:
  PrefetchedReader(std::unique_ptr<S3DirReader> inner, std::vector<DirEntry> first)
      : inner_(std::move(inner)), first_(std::move(first)), has_first_(true) {}
  core::Task<core::Result<std::vector<DirEntry>>> next() override {
    if (has_first_) {
      has_first_ = false;
      co_return std::move(first_);
    }
    co_return co_await inner_->next();
  }

private:
  std::unique_ptr<S3DirReader> inner_;
  std::vector<DirEntry> first_;
  bool has_first_;
};

class S3Fs final : public Filesystem {
public:
  explicit S3Fs(S3FsOptions o)
      : ctx_(std::make_shared<S3Context>(S3Context{
            o.client, o.budget, std::max<std::uint64_t>(o.part_size, kMinPartSize),
            std::max(1u, o.upload_concurrency), o.read_ahead, o.on_part, o.journal, o.spool})),
        client_(o.client), prefix_(std::move(o.prefix)), max_rename_(o.max_rename_objects) {
    if (!ctx_->budget) {
      auto own = std::const_pointer_cast<S3Context>(ctx_);
      own->budget =
          std::make_shared<MemoryBudget>(ctx_->part_size * (ctx_->upload_concurrency + 1));
    }
  }

  // vfs::Filesystem
  core::Task<core::Result<Stat>> stat(const VirtualPath& path) override {
    if (path.is_root())
      co_return folder_stat(prefix_ + "/");
    auto key = key_of(path);
    auto head = co_await client_->head(key);
    if (head)
      co_return object_stat(*head);
    if (!is_not_found(head.error()))
      co_return core::unexpected(head.error());
    auto recorded = co_await recorded_upload(key);
    if (recorded) {
      Stat st;
      st.type = FileType::regular;
      st.mode = 0644;
      st.size = recorded->finished_bytes();
      st.mtime = std::chrono::system_clock::now();
      st.atime = st.mtime;
      co_return st;
    }
    auto folder = co_await folder_exists(path);
    if (!folder)
      co_return core::unexpected(folder.error());
    if (!*folder)
      co_return core::unexpected(Errc::not_found);
    co_return folder_stat(key + "/");
  }

  core::Task<core::Result<Stat>> lstat(const VirtualPath& path) override {
    co_return co_await stat(path);
  }

  core::Task<core::Result<std::unique_ptr<DirReader>>> open_dir(const VirtualPath& dir) override {
    auto reader = std::make_unique<S3DirReader>(client_, folder_prefix(dir));
    auto first = co_await reader->next();
    if (!first)
      co_return core::unexpected(first.error());
    if (!reader->found() && !dir.is_root()) {
      // Nothing under the name: a file, or nothing at all.
      auto key = key_of(dir);
      auto head = co_await client_->head(key);
      if (head)
        co_return core::unexpected(Errc::not_directory);
      if (!is_not_found(head.error()))
        co_return core::unexpected(head.error());
      co_return core::unexpected(Errc::not_found);
    }
    std::unique_ptr<DirReader> out =
        std::make_unique<PrefetchedReader>(std::move(reader), std::move(*first));
    co_return out;
  }

  core::Task<core::Result<std::vector<DirEntry>>> list(const VirtualPath& dir) override {
    auto reader = co_await open_dir(dir);
    if (!reader)
      co_return core::unexpected(reader.error());
    std::vector<DirEntry> all;
    for (;;) {
      auto batch = co_await (*reader)->next();
      if (!batch)
        co_return core::unexpected(batch.error());
      if (batch->empty())
        break;
      std::move(batch->begin(), batch->end(), std::back_inserter(all));
    }
    co_return all;
  }

  core::Task<core::Result<std::unique_ptr<File>>> open_read(const VirtualPath& path,
                                                            std::uint64_t offset) override {
    auto info = co_await head_file(path);
    if (!info)
      co_return core::unexpected(info.error());
    co_return make_download(ctx_, key_of(path), std::move(*info), offset);
  }

  core::Task<core::Result<std::unique_ptr<File>>>
  open_write(const VirtualPath& path, WriteMode mode, std::uint64_t offset) override {
    auto existing = co_await writable_target(path);
    if (!existing)
      co_return core::unexpected(existing.error());
    UploadPlan plan;
    plan.key = key_of(path);
    plan.existing = std::move(*existing);
    switch (mode) {
    case WriteMode::replace:
      break;
    case WriteMode::create:
      if (plan.existing)
        co_return core::unexpected(Errc::exists);
      plan.if_none_match = true;
      break;
    case WriteMode::append:
      plan.keep = UploadPlan::Keep::prefix;
      plan.append = true;
      plan.origin = plan.existing ? plan.existing->size : 0;
      if (!plan.existing)
        plan.resume = co_await recorded_upload(plan.key); // APPE after a cut upload
      if (plan.resume)
        plan.origin = plan.resume->finished_bytes();
      break;
    case WriteMode::resume:
      plan.keep = UploadPlan::Keep::prefix;
      plan.origin = offset;
      if (offset > 0) {
        auto recorded = co_await recorded_upload(plan.key);
        if (recorded && recorded->finished_bytes() == offset) {
          plan.resume = std::move(recorded); // continue it: no byte sent again
          break;
        }
      }
      if (offset > (plan.existing ? plan.existing->size : 0))
        co_return core::unexpected(Errc::unsupported);
      break;
    }
    co_return co_await make_upload(ctx_, std::move(plan));
  }

  core::Task<core::Result<std::unique_ptr<File>>> open(const VirtualPath& path,
                                                       const OpenFlags& flags) override {
    if (!flags.write)
      co_return co_await open_read(path, 0);
    auto existing = co_await writable_target(path);
    if (!existing)
      co_return core::unexpected(existing.error());
    if (*existing && flags.create && flags.exclusive)
      co_return core::unexpected(Errc::exists);
    if (!*existing && !flags.create)
      co_return core::unexpected(Errc::not_found);
    UploadPlan plan;
    plan.key = key_of(path);
    plan.existing = std::move(*existing);
    plan.if_none_match = flags.create && flags.exclusive;
    plan.readable = flags.read;
    if (plan.existing && !flags.truncate) {
      plan.keep = flags.append ? UploadPlan::Keep::prefix : UploadPlan::Keep::lazy;
      plan.append = flags.append;
      plan.origin = plan.existing->size;
    } else if (!plan.existing && !flags.truncate) {
      // Over an interrupted upload (stat() shows its finished bytes): reput
      // or an append continues it after those bytes.
      plan.resume = co_await recorded_upload(plan.key);
      if (plan.resume) {
        plan.keep = UploadPlan::Keep::prefix;
        plan.append = flags.append;
        plan.origin = plan.resume->finished_bytes();
      }
    }
    co_return co_await make_upload(ctx_, std::move(plan));
  }

  core::UploadMode upload_mode() const override { return core::UploadMode::atomic; }
  bool private_writes() const override { return true; }

  core::Task<core::Result<std::pair<std::unique_ptr<File>, std::string>>>
  create_unique(const VirtualPath& dir, std::string_view prefix) override {
    auto parent = co_await require_folder(dir);
    if (!parent)
      co_return core::unexpected(parent.error());
    std::random_device random;
    std::string name(prefix);
    name += '.';
    static constexpr char kHex[] = "0123456789abcdef";
    for (int i = 0; i < 12; ++i)
      name += kHex[random() % 16];
    UploadPlan plan;
    plan.key = key_of(dir.child(name));
    plan.if_none_match = true;
    auto file = co_await make_upload(ctx_, std::move(plan));
    if (!file)
      co_return core::unexpected(file.error());
    co_return std::pair{std::move(*file), std::move(name)};
  }

  core::Task<core::Result<void>> make_directory(const VirtualPath& path, std::uint32_t) override {
    if (path.is_root())
      co_return core::unexpected(Errc::exists);
    auto parent = co_await require_folder(path.parent());
    if (!parent)
      co_return parent;
    auto there = co_await stat(path);
    if (there)
      co_return core::unexpected(Errc::exists);
    if (!is_not_found(there.error()))
      co_return core::unexpected(there.error());
    auto marker = folder_prefix(path);
    auto body = std::span<const std::byte>{};
    auto meta = Metadata{};
    auto put = co_await client_->put(marker, body, meta, true);
    if (!put)
      co_return core::unexpected(put.error());
    co_return core::Result<void>{};
  }

  core::Task<core::Result<void>> remove_directory(const VirtualPath& path) override {
    if (path.is_root())
      co_return core::unexpected(Errc::permission_denied);
    auto st = co_await stat(path);
    if (!st)
      co_return core::unexpected(st.error());
    if (st->type != FileType::directory)
      co_return core::unexpected(Errc::not_directory);
    auto marker = folder_prefix(path);
    auto none = std::string();
    auto page = co_await client_->list(marker, none, none, 2);
    if (!page)
      co_return core::unexpected(page.error());
    for (const auto& object : page->objects)
      if (object.key != marker)
        co_return core::unexpected(Errc::not_empty);
    co_return co_await client_->remove(marker);
  }

  core::Task<core::Result<void>> remove_file(const VirtualPath& path) override {
    auto info = co_await head_file(path);
    if (!info)
      co_return core::unexpected(info.error());
    auto key = key_of(path);
    co_return co_await client_->remove(key);
  }

  core::Task<core::Result<void>> rename(const VirtualPath& from, const VirtualPath& to,
                                        RenameMode mode) override {
    if (from.is_root() || to.is_root())
      co_return core::unexpected(Errc::permission_denied);
    if (from == to)
      co_return core::Result<void>{};
    auto source = co_await stat(from);
    if (!source)
      co_return core::unexpected(source.error());
    auto parent = co_await require_folder(to.parent());
    if (!parent)
      co_return parent;
    auto target = co_await stat(to);
    if (!target && !is_not_found(target.error()))
      co_return core::unexpected(target.error());
    if (target && mode == RenameMode::no_replace)
      co_return core::unexpected(Errc::exists);
    if (source->type == FileType::regular) {
      if (target && target->type == FileType::directory)
        co_return core::unexpected(Errc::is_directory);
      auto from_key = key_of(from);
      auto to_key = key_of(to);
      auto none = std::optional<Metadata>{};
      auto copied = co_await copy_object(*client_, from_key, to_key, source->size, none);
      if (!copied)
        co_return copied;
      co_return co_await client_->remove(from_key);
    }
    if (target && target->type != FileType::directory)
      co_return core::unexpected(Errc::not_directory);
    const std::string from_prefix = folder_prefix(from);
    const std::string to_prefix = folder_prefix(to);
    if (to_prefix.compare(0, from_prefix.size(), from_prefix) == 0)
      co_return core::unexpected(Errc::invalid_name); // into itself
    if (target) {
      auto empty = co_await is_empty(to);
      if (!empty)
        co_return core::unexpected(empty.error());
      if (!*empty)
        co_return core::unexpected(Errc::not_empty);
    }
    co_return co_await move_folder(from_prefix, to_prefix);
  }

  core::Task<core::Result<void>> set_mtime(const VirtualPath& path,
                                           std::chrono::system_clock::time_point mtime) override {
    if (path.is_root())
      co_return core::Result<void>{};
    auto key = key_of(path);
    auto head = co_await client_->head(key);
    if (!head && !is_not_found(head.error()))
      co_return core::unexpected(head.error());
    if (!head) {
      // A folder: its marker keeps the time; a folder without one has nowhere to.
      auto marker = folder_prefix(path);
      auto marker_head = co_await client_->head(marker);
      if (marker_head) {
        key = marker;
        head = std::move(marker_head);
      } else {
        auto st = co_await stat(path);
        if (!st)
          co_return core::unexpected(st.error());
        co_return core::Result<void>{};
      }
    }
    Metadata meta = head->metadata;
    meta["mtime"] = mtime_text(mtime);
    auto replaced = std::optional<Metadata>(std::move(meta));
    auto self = key;
    co_return co_await copy_object(*client_, self, key, head->size, replaced);
  }

  core::Task<core::Result<void>> set_times(const VirtualPath& path,
                                           std::chrono::system_clock::time_point,
                                           std::chrono::system_clock::time_point mtime) override {
    co_return co_await set_mtime(path, mtime);
  }

  core::Task<core::Result<void>> set_mode(const VirtualPath&, std::uint32_t) override {
    co_return core::unexpected(Errc::unsupported);
  }
  core::Task<core::Result<std::string>> read_link(const VirtualPath&) override {
    co_return core::unexpected(Errc::unsupported);
  }
  core::Task<core::Result<void>> make_symlink(const VirtualPath&, const VirtualPath&) override {
    co_return core::unexpected(Errc::unsupported);
  }
  core::Task<core::Result<void>> make_hard_link(const VirtualPath&, const VirtualPath&) override {
    co_return core::unexpected(Errc::unsupported);
  }

  core::Task<core::Result<void>> set_size(const VirtualPath& path, std::uint64_t size) override {
    auto info = co_await head_file(path);
    if (!info)
      co_return core::unexpected(info.error());
    if (info->size == size)
      co_return core::Result<void>{};
    if (size != 0)
      co_return core::unexpected(Errc::unsupported);
    auto key = key_of(path);
    auto body = std::span<const std::byte>{};
    auto meta = info->metadata;
    auto put = co_await client_->put(key, body, meta, false);
    if (!put)
      co_return core::unexpected(put.error());
    co_return core::Result<void>{};
  }

  core::Task<core::Result<FsStats>> fs_stats(const VirtualPath&) override {
    FsStats st;
    st.block_size = 4096;
    st.fragment_size = 4096;
    st.blocks = 1ull << 40; // 4 PiB: object storage has no fixed size
    st.blocks_free = st.blocks;
    st.blocks_available = st.blocks;
    st.files = 1ull << 40;
    st.files_free = st.files;
    st.files_available = st.files;
    st.name_max = 255;
    co_return st;
  }

private:
  std::string key_of(const VirtualPath& path) const {
    const std::string rel = path.str().substr(1);
    return prefix_.empty() ? rel : prefix_ + "/" + rel;
  }
  /// The prefix of the keys in folder `dir`, with its trailing "/".
  std::string folder_prefix(const VirtualPath& dir) const {
    if (dir.is_root())
      return prefix_.empty() ? std::string() : prefix_ + "/";
    return key_of(dir) + "/";
  }

  core::Task<core::Result<bool>> folder_exists(const VirtualPath& path) {
    auto prefix = folder_prefix(path);
    auto none = std::string();
    auto page = co_await client_->list(prefix, none, none, 1);
    if (!page)
      co_return core::unexpected(page.error());
    co_return !page->objects.empty() || !page->prefixes.empty();
  }

  /// Whether folder `path` holds nothing but its marker.
  core::Task<core::Result<bool>> is_empty(const VirtualPath& path) {
    auto prefix = folder_prefix(path);
    auto none = std::string();
    auto page = co_await client_->list(prefix, none, none, 2);
    if (!page)
      co_return core::unexpected(page.error());
    for (const auto& object : page->objects)
      if (object.key != prefix)
        co_return false;
    co_return true;
  }

  /// `path` as a regular file: not_found, or is_directory for a folder.
  core::Task<core::Result<ObjectInfo>> head_file(const VirtualPath& path) {
    if (path.is_root())
      co_return core::unexpected(Errc::is_directory);
    auto key = key_of(path);
    auto head = co_await client_->head(key);
    if (head || !is_not_found(head.error()))
      co_return head;
    auto folder = co_await folder_exists(path);
    if (!folder)
      co_return core::unexpected(folder.error());
    co_return core::unexpected(*folder ? Errc::is_directory : Errc::not_found);
  }

  core::Task<core::Result<void>> require_folder(const VirtualPath& dir) {
    auto st = co_await stat(dir);
    if (!st)
      co_return core::unexpected(st.error());
    if (st->type != FileType::directory)
      co_return core::unexpected(Errc::not_directory);
    co_return core::Result<void>{};
  }

  /// What an upload to `path` replaces (nothing: nullopt). Errors: is_directory,
  /// the parent's not_found/not_directory.
  core::Task<core::Result<std::optional<ObjectInfo>>> writable_target(const VirtualPath& path) {
    if (path.is_root())
      co_return core::unexpected(Errc::is_directory);
    auto parent = co_await require_folder(path.parent());
    if (!parent)
      co_return core::unexpected(parent.error());
    auto info = co_await head_file(path);
    if (info)
      co_return std::optional<ObjectInfo>(std::move(*info));
    if (!is_not_found(info.error()))
      co_return core::unexpected(info.error());
    co_return std::optional<ObjectInfo>{};
  }

  /// Copies every key under `from_prefix` to `to_prefix`, then deletes the old
  /// ones; refuses above max_rename_objects before moving anything.
  core::Task<core::Result<void>> move_folder(std::string from_prefix, std::string to_prefix) {
    std::vector<ObjectInfo> objects;
    std::string token;
    for (;;) {
      auto none = std::string();
      auto page = co_await client_->list(from_prefix, none, token, kPageKeys);
      if (!page)
        co_return core::unexpected(page.error());
      for (auto& o : page->objects)
        objects.push_back(std::move(o));
      if (objects.size() > max_rename_)
        co_return core::unexpected(Errc::unsupported);
      token = page->next_token;
      if (token.empty())
        break;
    }
    auto ex = co_await asio::this_coro::executor;
    auto batch = std::make_shared<Batch>(ex);
    for (const auto& o : objects) {
      co_await wait_for_room(*batch, kParallel);
      if (batch->error)
        break;
      ++batch->running;
      std::string to_key = to_prefix + o.key.substr(from_prefix.size());
      asio::co_spawn(ex, copy_entry(client_, batch, o.key, to_key, o.size), asio::detached);
    }
    co_await wait_for_room(*batch, 1);
    if (batch->error)
      co_return core::unexpected(batch->error); // the source is whole; copies may remain
    std::vector<std::string> keys;
    for (auto& o : objects) {
      keys.push_back(std::move(o.key));
      if (keys.size() == kPageKeys || &o == &objects.back()) {
        std::vector<std::string> chunk = std::move(keys);
        keys.clear();
        auto removed = co_await client_->remove_many(chunk);
        if (!removed)
          co_return removed;
      }
    }
    co_return core::Result<void>{};
  }

  /// The journal's upload in progress at `key` with finished parts, if any
  /// (a journal that fails counts as none).
  core::Task<std::optional<RecordedUpload>> recorded_upload(std::string key) {
    if (!ctx_->journal)
      co_return std::nullopt;
    auto found = co_await ctx_->journal->find(key);
    if (!found || !*found || (*found)->finished_bytes() == 0)
      co_return std::nullopt;
    co_return std::move(**found);
  }

  std::shared_ptr<const S3Context> ctx_;
  std::shared_ptr<Client> client_;
  std::string prefix_;
  std::uint32_t max_rename_;
};

} // namespace

std::unique_ptr<Filesystem> open_s3_fs(S3FsOptions options) {
  return std::make_unique<S3Fs>(std::move(options));
}

core::Task<core::Result<Usage>> count_usage(Client& client, std::string prefix) {
  const std::string base = prefix.empty() ? std::string() : prefix + "/";
  Usage usage;
  std::set<std::string> folders; // below the home, marker or not
  std::string token;
  for (;;) {
    auto none = std::string();
    auto page = co_await client.list(base, none, token, kPageKeys);
    if (!page)
      co_return core::unexpected(page.error());
    for (const auto& o : page->objects) {
      const std::string rel = o.key.substr(base.size());
      if (rel.empty())
        continue;
      for (auto slash = rel.find('/'); slash != std::string::npos; slash = rel.find('/', slash + 1))
        folders.insert(rel.substr(0, slash));
      if (rel.back() != '/') {
        usage.bytes += static_cast<std::int64_t>(o.size);
        usage.files += 1;
      }
    }
    token = page->next_token;
    if (token.empty())
      break;
  }
  usage.bytes += static_cast<std::int64_t>(folders.size()) * kEntryBytes;
  usage.files += static_cast<std::int64_t>(folders.size());
  co_return usage;
}

} // namespace berth::vfs::s3
