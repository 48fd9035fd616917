// An upload: a multipart upload fed from a window of part buffers (a single
// PUT when the whole file fits in one part). Parts are sent by coroutines of
// their own, at most upload_concurrency at once. With a journal, the upload
// and each finished part are recorded; an upload that is not committed is
// left for a resume when it has finished parts (the parts still in memory are
// dropped), else aborted and forgotten.
//
// A write outside the window (into a part already sent, or beyond the parts
// being assembled) switches the upload to its spool (spool.hpp): the window's
// parts go to a local file with every later write, and commit() sends that
// file part by part after the parts sent before the switch, which stay as they
// are. Bytes before the switch's window start can not be written again (they
// are sent; S3 gives no way to read them back): such a write is refused
// (Errc::unsupported) and so is, with Errc::no_space, one the spool's limit
// has no room for; either fails the upload, whose commit() then refuses
// too, so that no object with missing bytes appears.
#include "vfs/s3/s3_files.hpp"

#include "core/wakeup.hpp"
#include "vfs/errc.hpp"
#include "vfs/s3/part_assembler.hpp"
#include "vfs/s3/spool.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/this_coro.hpp>

#include <algorithm>

namespace berth::vfs::s3 {
namespace {

/// The window: the parts being assembled (a second one only for writes that
/// arrive out of order across a part boundary).
constexpr unsigned kWindowParts = 2;
/// A prefix kept by an append or resume is copied in pieces of this size.
constexpr std::uint64_t kCopyPiece = 1ull << 30;
constexpr std::size_t kPrefixChunk = 64u << 10;

/// What an upload shares with the coroutines that send its parts and the one
/// that aborts it after its File is gone.
struct UploadState {
  UploadState(std::shared_ptr<const S3Context> c, std::string k, const asio::any_io_executor& ex)
      : ctx(std::move(c)), key(std::move(k)), wake(ex) {}
  std::shared_ptr<const S3Context> ctx;
  std::string key;
  std::string upload_id;   ///< Empty until the multipart upload is created.
  std::vector<Part> parts; ///< Finished parts, in any order.
  unsigned in_flight = 0;
  std::error_code error; ///< The first part that failed.
  core::Wakeup wake;     ///< Notified when a part finishes.
};

core::Task<void> send_part(std::shared_ptr<UploadState> s, int number, ReadyPart part) {
  auto key = s->key;
  auto id = s->upload_id;
  auto body = std::span<const std::byte>(part.buffer.bytes.data(), part.size);
  auto etag = co_await s->ctx->client->upload_part(key, id, number, body);
  const auto size = part.size;
  part.buffer = PartBuffer{}; // back to the budget before anyone is woken
  if (etag) {
    Part done{number, std::move(*etag), size};
    if (s->ctx->on_part)
      s->ctx->on_part(FinishedPart{s->key, s->upload_id, done});
    if (s->ctx->journal) {
      auto copy = done;
      (void)co_await s->ctx->journal->part(key, id, copy);
    }
    s->parts.push_back(std::move(done));
  } else if (!s->error) {
    s->error = etag.error();
  }
  --s->in_flight;
  s->wake.notify();
}

core::Task<void> wait_idle(UploadState& s) {
  while (s.in_flight > 0)
    co_await s.wake.wait();
}

/// Spawned by a File destroyed without commit(): waits for its parts in
/// flight (a part finishing after the abort would keep the upload alive) and
/// aborts the multipart upload.
core::Task<void> abort_upload(std::shared_ptr<UploadState> s) {
  co_await wait_idle(*s);
  if (s->upload_id.empty())
    co_return;
  if (s->ctx->journal && !s->parts.empty())
    co_return; // recorded with finished parts: kept for a resume
  auto key = s->key;
  auto id = s->upload_id;
  (void)co_await s->ctx->client->abort_multipart(key, id);
  if (s->ctx->journal)
    (void)co_await s->ctx->journal->ended(key, id);
}

class Upload final : public S3File {
public:
  Upload(std::shared_ptr<const S3Context> ctx, UploadPlan plan, const asio::any_io_executor& ex)
      : state_(std::make_shared<UploadState>(ctx, plan.key, ex)), ex_(ex), plan_(std::move(plan)),
        window_(0, ctx->part_size, kWindowParts) {
    if (plan_.keep == UploadPlan::Keep::prefix)
      pos_ = plan_.origin; // write() of a resume starts at its offset
    if (plan_.resume) {
      state_->upload_id = plan_.resume->upload_id;
      first_number_ = plan_.resume->next_number();
      for (const auto& part : plan_.resume->parts)
        if (part.number < first_number_) // a part after a gap is sent again
          state_->parts.push_back(part);
    }
  }

  ~Upload() override {
    if (!committed_ && (!state_->upload_id.empty() || state_->in_flight > 0))
      asio::co_spawn(ex_, abort_upload(state_), asio::detached);
  }

  // vfs::File
  core::Task<core::Result<std::size_t>> read(std::span<std::byte> buf) override {
    auto n = co_await read_at(pos_, buf);
    if (n)
      pos_ += *n;
    co_return n;
  }
  /// Only a spooled upload reads, what the spool holds (bytes written since
  /// the switch and the window's then): a read before it is unsupported.
  core::Task<core::Result<std::size_t>> read_at(std::uint64_t offset,
                                                std::span<std::byte> buf) override {
    if (!spool_ || offset < spool_->base())
      co_return core::unexpected(Errc::unsupported);
    co_return co_await spool_->read(offset, buf);
  }

  core::Task<core::Result<void>> write(std::span<const std::byte> buf) override {
    auto r = co_await write_at(pos_, buf);
    if (r)
      pos_ = spool_ ? written_to_ : window_.end();
    co_return r;
  }

  core::Task<core::Result<void>> write_at(std::uint64_t offset,
                                          std::span<const std::byte> buf) override {
    if (committed_)
      co_return core::unexpected(Errc::io_error);
    if (state_->error)
      co_return core::unexpected(state_->error);
    if (failed_)
      co_return core::unexpected(failed_);
    if (!started_) {
      auto s = co_await start(offset);
      if (!s)
        co_return s;
    }
    if (plan_.append)
      offset = spool_ ? spool_->end() : window_.end();
    if (!spool_ && !buf.empty() && offset < window_.window_start()) {
      auto spooled = co_await start_spool(); // into a part already sent
      if (!spooled)
        co_return spooled;
    }
    // A piece at a time up to the next part boundary, so that a write larger
    // than the window (a big FTP buffer) moves through it.
    while (!spool_ && !buf.empty()) {
      const std::uint64_t into = (offset - window_.window_start()) % part_size();
      const auto n =
          static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), part_size() - into));
      if (!window_.parts_for(offset, n)) { // beyond the window
        auto spooled = co_await start_spool();
        if (!spooled)
          co_return spooled;
        break;
      }
      auto placed = co_await place(offset, buf.first(n));
      if (!placed)
        co_return placed;
      offset += n;
      buf = buf.subspan(n);
    }
    if (spool_ && !buf.empty())
      co_return co_await spool_write(offset, buf);
    co_return core::Result<void>{};
  }

  core::Task<core::Result<void>> commit() override {
    if (committed_)
      co_return core::Result<void>{};
    if (state_->error)
      co_return core::unexpected(state_->error);
    if (failed_)
      co_return core::unexpected(failed_);
    if (!started_) {
      if (plan_.keep == UploadPlan::Keep::lazy || plan_.append) {
        // Nothing written: the object stays as it was (its times may change).
        committed_ = true;
        co_return co_await apply_mtime();
      }
      auto s = co_await start(plan_.origin);
      if (!s)
        co_return s;
    }
    if (spool_)
      co_return co_await commit_spool();
    auto last = window_.finish();
    if (state_->upload_id.empty() && state_->parts.empty() && first_number_ == 1 &&
        last.size() <= 1) {
      auto r = co_await put_whole(last);
      if (!r)
        co_return r;
      committed_ = true;
      co_return core::Result<void>{};
    }
    for (auto& part : last) {
      auto sent = co_await send(std::move(part));
      if (!sent)
        co_return sent;
    }
    co_return co_await complete();
  }

  std::optional<Stat> replaced() const override { return replaced_; }

  core::Task<core::Result<Stat>> stat() override {
    Stat st;
    st.type = FileType::regular;
    st.mode = 0644;
    st.mtime = mtime_.value_or(std::chrono::system_clock::now());
    st.atime = st.mtime;
    if (!started_ && plan_.resume)
      st.size = plan_.origin;
    else if (!started_ && plan_.keep != UploadPlan::Keep::nothing && plan_.existing)
      st.size = plan_.existing->size;
    else if (spool_)
      st.size = spool_->end();
    else
      st.size = started_ ? window_.end() : 0;
    co_return st;
  }

  core::Task<core::Result<void>> sync() override { co_return core::Result<void>{}; }

  core::Task<core::Result<void>> set_size(std::uint64_t size) override {
    if (!started_ && size == 0 && plan_.keep != UploadPlan::Keep::nothing) {
      plan_.keep = UploadPlan::Keep::nothing; // truncated before any write: new content
      plan_.origin = 0;
    }
    if (!started_) {
      if (size == 0 || (plan_.existing && size == plan_.existing->size))
        co_return core::Result<void>{};
      co_return core::unexpected(Errc::unsupported);
    }
    if (spool_) {
      if (size < spool_->base())
        co_return core::unexpected(Errc::unsupported);
      co_return co_await spool_->resize(size);
    }
    if (size == window_.end())
      co_return core::Result<void>{};
    co_return window_.truncate(size);
  }

  core::Task<core::Result<void>> set_mode(std::uint32_t) override {
    co_return core::unexpected(Errc::unsupported);
  }

  core::Task<core::Result<void>> set_times(std::chrono::system_clock::time_point,
                                           std::chrono::system_clock::time_point mtime) override {
    mtime_ = mtime;
    co_return core::Result<void>{};
  }

private:
  Client& client() { return *state_->ctx->client; }
  std::uint64_t part_size() const { return state_->ctx->part_size; }
  unsigned concurrency() const { return std::max(1u, state_->ctx->upload_concurrency); }

  /// Waits for the parts in flight and completes the multipart upload.
  core::Task<core::Result<void>> complete() {
    co_await wait_idle(*state_);
    if (state_->error)
      co_return core::unexpected(state_->error);
    auto checked = co_await check_target();
    if (!checked)
      co_return checked;
    std::vector<Part> parts = state_->parts;
    std::sort(parts.begin(), parts.end(),
              [](const Part& a, const Part& b) { return a.number < b.number; });
    auto key = plan_.key;
    auto id = state_->upload_id;
    auto done = co_await state_->ctx->client->complete_multipart(key, id, parts);
    if (!done)
      co_return done;
    committed_ = true;
    if (state_->ctx->journal)
      (void)co_await state_->ctx->journal->ended(key, id);
    if (mtime_ && !mtime_in_metadata_)
      co_return co_await apply_mtime();
    co_return core::Result<void>{};
  }

  /// Fails the upload with `ec`: later writes and commit() refuse with it.
  core::Result<void> fail(std::error_code ec) {
    failed_ = ec;
    return core::unexpected(ec);
  }

  /// Moves the window's bytes to a new spool, which takes every later write.
  core::Task<core::Result<void>> start_spool() {
    if (!state_->ctx->spool)
      co_return fail(make_error_code(Errc::unsupported));
    const std::uint64_t base = window_.window_start();
    const std::uint64_t first = window_.next_part();
    auto space = state_->ctx->spool;
    auto spool = co_await Spool::create(space, base);
    if (!spool)
      co_return fail(spool.error());
    auto held = window_.finish(); // the parts being assembled, cut at the last byte written
    for (auto& part : held) {
      const std::uint64_t at = base + (part.index - first) * part_size();
      auto body = std::span<const std::byte>(part.buffer.bytes.data(), part.size);
      auto w = co_await (*spool)->write(at, body);
      if (!w)
        co_return fail(w.error());
      part.buffer = PartBuffer{}; // back to the budget
    }
    spool_ = std::move(*spool);
    spool_first_part_ = first;
    co_return core::Result<void>{};
  }

  core::Task<core::Result<void>> spool_write(std::uint64_t offset, std::span<const std::byte> buf) {
    if (offset < spool_->base())
      co_return fail(make_error_code(Errc::unsupported)); // into a part sent before the switch
    auto w = co_await spool_->write(offset, buf);
    if (!w)
      co_return fail(w.error());
    written_to_ = offset + buf.size();
    co_return w;
  }

  /// The spool's bytes at `at`, up to a part, in a buffer from the budget.
  core::Task<core::Result<ReadyPart>> read_spooled(std::uint64_t at, std::uint64_t index) {
    const auto size =
        static_cast<std::size_t>(std::min<std::uint64_t>(part_size(), spool_->end() - at));
    auto lease = co_await state_->ctx->budget->acquire(part_size());
    if (!lease)
      co_return core::unexpected(lease.error());
    ReadyPart part{index, PartBuffer{std::vector<std::byte>(size), std::move(*lease)}, size};
    auto n = co_await spool_->read(at, part.buffer.bytes);
    if (!n)
      co_return core::unexpected(n.error());
    if (*n != size)
      co_return core::unexpected(Errc::io_error);
    co_return part;
  }

  /// Sends the spool part by part after the parts sent before the switch (a
  /// single PUT when nothing was sent and it fits in one part) and completes.
  core::Task<core::Result<void>> commit_spool() {
    const std::uint64_t base = spool_->base();
    if (state_->upload_id.empty() && state_->parts.empty() && first_number_ == 1 && base == 0 &&
        spool_->end() <= part_size()) {
      auto part = co_await read_spooled(0, 0);
      if (!part)
        co_return core::unexpected(part.error());
      std::vector<ReadyPart> whole;
      whole.push_back(std::move(*part));
      auto r = co_await put_whole(whole);
      if (!r)
        co_return r;
      committed_ = true;
      co_return core::Result<void>{};
    }
    std::uint64_t index = spool_first_part_;
    for (std::uint64_t at = base; at < spool_->end(); at += part_size()) {
      auto part = co_await read_spooled(at, index++);
      if (!part)
        co_return core::unexpected(part.error());
      auto sent = co_await send(std::move(*part));
      if (!sent)
        co_return sent;
    }
    co_return co_await complete();
  }

  Metadata metadata() {
    Metadata m;
    if (mtime_) {
      m["mtime"] = mtime_text(*mtime_);
      mtime_in_metadata_ = true;
    }
    return m;
  }

  /// Writes `buf` (within one part) into the window and sends what it completes.
  core::Task<core::Result<void>> place(std::uint64_t offset, std::span<const std::byte> buf) {
    auto parts = window_.parts_for(offset, buf.size());
    if (!parts)
      co_return core::unexpected(parts.error());
    for (auto p = parts->first; p <= parts->second; ++p) {
      if (window_.is_open(p))
        continue;
      auto opened = co_await open_part(p);
      if (!opened)
        co_return opened;
    }
    window_.put(offset, buf);
    while (auto ready = window_.pop_complete()) {
      auto sent = co_await send(std::move(*ready));
      if (!sent)
        co_return sent;
    }
    co_return core::Result<void>{};
  }

  /// Decides where the new bytes start, copying the prefix an append or a
  /// resume keeps: server-side from 5 MiB, else through the first part buffer.
  core::Task<core::Result<void>> start(std::uint64_t first_offset) {
    started_ = true;
    if (plan_.resume) { // the recorded parts hold the first origin bytes
      window_ = PartAssembler(plan_.origin, part_size(), kWindowParts);
      co_return core::Result<void>{};
    }
    std::uint64_t origin = 0;
    const std::uint64_t existing = plan_.existing ? plan_.existing->size : 0;
    if (plan_.keep == UploadPlan::Keep::prefix)
      origin = std::min(plan_.origin, existing);
    else if (plan_.keep == UploadPlan::Keep::lazy)
      origin = std::min(first_offset, existing);
    if (plan_.append)
      origin = existing;
    if (origin >= kMinPartSize) {
      window_ = PartAssembler(origin, part_size(), kWindowParts);
      co_return co_await copy_prefix(origin);
    }
    window_ = PartAssembler(0, part_size(), kWindowParts);
    if (origin == 0)
      co_return core::Result<void>{};
    auto opened = co_await open_part(0);
    if (!opened)
      co_return opened;
    auto key = plan_.key;
    auto length = std::optional<std::uint64_t>(origin);
    auto reader = co_await client().get(key, 0, length, kPrefixChunk);
    if (!reader)
      co_return core::unexpected(reader.error());
    std::vector<std::byte> chunk(kPrefixChunk);
    std::uint64_t at = 0;
    while (at < origin) {
      auto room = std::span(chunk).first(
          static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), origin - at)));
      auto n = co_await (*reader)->read_some(room);
      if (!n)
        co_return core::unexpected(n.error());
      if (*n == 0) // the object shrank since the open
        co_return core::unexpected(Errc::io_error);
      window_.put(at, std::span<const std::byte>(chunk.data(), *n));
      at += *n;
    }
    co_return core::Result<void>{};
  }

  core::Task<core::Result<void>> ensure_multipart() {
    if (!state_->upload_id.empty())
      co_return core::Result<void>{};
    auto key = plan_.key;
    auto meta = metadata();
    auto id = co_await client().create_multipart(key, meta);
    if (!id)
      co_return core::unexpected(id.error());
    state_->upload_id = std::move(*id);
    if (state_->ctx->journal) {
      // An interrupted upload recorded for the key is replaced by this one:
      // nothing could resume it any more, so it is aborted, not left in the
      // bucket with its parts.
      auto old = co_await state_->ctx->journal->find(key);
      auto recorded = state_->upload_id;
      (void)co_await state_->ctx->journal->started(key, recorded);
      if (old && *old && (*old)->upload_id != recorded) {
        auto old_id = (*old)->upload_id;
        (void)co_await client().abort_multipart(key, old_id);
      }
    }
    co_return core::Result<void>{};
  }

  core::Task<core::Result<void>> copy_prefix(std::uint64_t origin) {
    auto created = co_await ensure_multipart();
    if (!created)
      co_return created;
    std::uint64_t first = 0;
    int number = 1;
    while (first < origin) {
      std::uint64_t last = std::min(origin, first + kCopyPiece) - 1;
      if (origin - (last + 1) < kMinPartSize)
        last = origin - 1; // a short tail joins this piece (at most 1 GiB + 5 MiB)
      auto key = plan_.key;
      auto id = state_->upload_id;
      auto source = plan_.key;
      auto etag = co_await client().upload_part_copy(key, id, number, source, first, last);
      if (!etag)
        co_return core::unexpected(etag.error());
      state_->parts.push_back(Part{number, std::move(*etag), last + 1 - first});
      ++number;
      first = last + 1;
    }
    first_number_ = number;
    co_return core::Result<void>{};
  }

  /// Opens part `p` of the window with a buffer from the budget. The upload
  /// holds at most upload_concurrency + 1 buffers (in flight and open).
  core::Task<core::Result<void>> open_part(std::uint64_t p) {
    auto& s = *state_;
    while (s.in_flight + window_.open_count() >= concurrency() + 1)
      co_await s.wake.wait();
    MemoryBudget::Lease lease;
    if (window_.open_count() == 0) {
      auto got = co_await state_->ctx->budget->acquire(part_size());
      if (!got)
        co_return core::unexpected(got.error());
      lease = std::move(*got);
    } else {
      // A second buffer for an out-of-order write: never wait for it in the
      // budget's queue while holding the first (two uploads doing so would
      // wait for each other); only for this upload's own parts in flight.
      for (;;) {
        lease = state_->ctx->budget->try_acquire(part_size());
        if (lease.bytes() > 0 || s.in_flight == 0)
          break;
        co_await s.wake.wait();
      }
      if (lease.bytes() == 0)
        co_return core::unexpected(Errc::no_space);
    }
    window_.open(p, PartBuffer{{}, std::move(lease)});
    co_return core::Result<void>{};
  }

  core::Task<core::Result<void>> send(ReadyPart part) {
    const std::uint64_t number = first_number_ + part.index;
    if (number > static_cast<std::uint64_t>(kMaxParts))
      co_return core::unexpected(Errc::no_space); // the part size is too small for this file
    auto created = co_await ensure_multipart();
    if (!created)
      co_return created;
    while (state_->in_flight >= concurrency())
      co_await state_->wake.wait();
    if (state_->error)
      co_return core::unexpected(state_->error);
    ++state_->in_flight;
    asio::co_spawn(ex_, send_part(state_, static_cast<int>(number), std::move(part)),
                   asio::detached);
    co_return core::Result<void>{};
  }

  /// Before the object appears: WriteMode::create refuses a key taken since
  /// the open (S3 has no conditional CompleteMultipartUpload; a HEAD here
  /// leaves a small race), and a replacement remembers what it replaces.
  core::Task<core::Result<void>> check_target() {
    if (plan_.keep != UploadPlan::Keep::nothing)
      co_return core::Result<void>{};
    auto key = plan_.key;
    auto head = co_await client().head(key);
    if (head) {
      if (plan_.if_none_match)
        co_return core::unexpected(Errc::exists);
      replaced_ = object_stat(*head);
    } else if (head.error() != make_error_code(Errc::not_found)) {
      co_return core::unexpected(head.error());
    }
    co_return core::Result<void>{};
  }

  core::Task<core::Result<void>> put_whole(std::vector<ReadyPart>& last) {
    if (!plan_.if_none_match) {
      auto checked = co_await check_target();
      if (!checked)
        co_return checked;
    }
    auto body = last.empty()
                    ? std::span<const std::byte>{}
                    : std::span<const std::byte>(last[0].buffer.bytes.data(), last[0].size);
    auto key = plan_.key;
    auto meta = metadata();
    const bool exclusive = plan_.if_none_match;
    auto put = co_await client().put(key, body, meta, exclusive);
    if (!put)
      co_return core::unexpected(put.error());
    co_return core::Result<void>{};
  }

  core::Task<core::Result<void>> apply_mtime() {
    if (!mtime_)
      co_return core::Result<void>{};
    auto key = plan_.key;
    auto head = co_await client().head(key);
    if (!head)
      co_return core::unexpected(head.error());
    Metadata meta = head->metadata;
    meta["mtime"] = mtime_text(*mtime_);
    auto opt = std::optional<Metadata>(std::move(meta));
    auto from = plan_.key;
    co_return co_await copy_object(client(), from, key, head->size, opt);
  }

  std::shared_ptr<UploadState> state_;
  asio::any_io_executor ex_;
  UploadPlan plan_;
  PartAssembler window_;
  int first_number_ = 1;               ///< The S3 part number of the window's part 0.
  std::unique_ptr<Spool> spool_;       ///< Set once a write fell outside the window.
  std::uint64_t spool_first_part_ = 0; ///< The window's part index of the spool's base.
  std::uint64_t written_to_ = 0;       ///< One past the last spooled write.
  std::error_code failed_;             ///< A refused write: the upload can not complete.
  bool started_ = false;
  bool committed_ = false;
  std::optional<std::chrono::system_clock::time_point> mtime_;
  bool mtime_in_metadata_ = false;
  std::optional<Stat> replaced_;
};

} // namespace

std::uint64_t RecordedUpload::finished_bytes() const {
  std::uint64_t bytes = 0;
  int want = 1;
  for (const auto& p : parts) {
    if (p.number != want)
      break;
    bytes += p.size;
    ++want;
  }
  return bytes;
}

int RecordedUpload::next_number() const {
  int want = 1;
  for (const auto& p : parts) {
    if (p.number != want)
      break;
    ++want;
  }
  return want;
}

core::Task<core::Result<std::unique_ptr<File>>> make_upload(std::shared_ptr<const S3Context> ctx,
                                                            UploadPlan plan) {
  auto ex = co_await asio::this_coro::executor;
  if (plan.keep == UploadPlan::Keep::prefix && !plan.resume && plan.existing &&
      plan.origin > plan.existing->size)
    co_return core::unexpected(Errc::unsupported); // a resume past the end would leave a hole
  std::unique_ptr<File> file = std::make_unique<Upload>(std::move(ctx), std::move(plan), ex);
  co_return file;
}

core::Task<core::Result<void>> copy_object(Client& client, std::string from, std::string to,
                                           std::uint64_t size, std::optional<Metadata> metadata) {
  if (size <= kMaxCopySize)
    co_return co_await client.copy(from, to, metadata);
  auto meta = metadata.value_or(Metadata{});
  if (!metadata) {
    auto head = co_await client.head(from);
    if (!head)
      co_return core::unexpected(head.error());
    meta = head->metadata;
  }
  auto id = co_await client.create_multipart(to, meta);
  if (!id)
    co_return core::unexpected(id.error());
  std::vector<Part> parts;
  std::error_code failed;
  std::uint64_t first = 0;
  int number = 1;
  while (first < size) {
    std::uint64_t last = std::min(size, first + kCopyPiece) - 1;
    if (size - (last + 1) < kMinPartSize)
      last = size - 1;
    auto etag = co_await client.upload_part_copy(to, *id, number, from, first, last);
    if (!etag) {
      failed = etag.error();
      break;
    }
    parts.push_back(Part{number, std::move(*etag), last + 1 - first});
    ++number;
    first = last + 1;
  }
  if (!failed) {
    auto done = co_await client.complete_multipart(to, *id, parts);
    if (done)
      co_return done;
    failed = done.error();
  }
  (void)co_await client.abort_multipart(to, *id);
  co_return core::unexpected(failed);
}

} // namespace berth::vfs::s3
