#include "sftp/session.hpp"

#include "core/errc.hpp"
#include "core/log.hpp"
#include "core/wakeup.hpp"
#include "vfs/errc.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <cstring>
#include <list>
#include <memory>
#include <optional>
#include <vector>

namespace berth::sftp {

std::pair<Status, std::string> status_for(std::error_code ec) {
  if (!ec)
    return {Status::ok, "Success"};
  if (ec.category() == vfs::vfs_category()) {
    switch (static_cast<vfs::Errc>(ec.value())) {
    case vfs::Errc::not_found:
      return {Status::no_such_file, "No such file"};
    case vfs::Errc::permission_denied:
      return {Status::permission_denied, "Permission denied"};
    case vfs::Errc::no_space:
      return {Status::failure, "No space left"};
    case vfs::Errc::unsupported:
      return {Status::op_unsupported, "Operation not supported by this storage"};
    case vfs::Errc::unavailable:
      return {Status::failure, "Storage temporarily unavailable; try again later"};
    default:
      return {Status::failure, ec.message()};
    }
  }
  if (ec.category() == sftp_category())
    return {Status::bad_message, "Bad message"};
  if (ec == std::errc::bad_file_descriptor)
    return {Status::failure, "Invalid handle"};
  if (ec == std::errc::too_many_files_open)
    return {Status::failure, "Too many open handles"};
  if (ec == std::errc::operation_not_supported)
    return {Status::op_unsupported, "Operation unsupported"};
  return {Status::failure, "Failure"};
}

std::optional<HandleTransfer> transfer_for(const SessionInfo* info, const vfs::VirtualPath& path,
                                           bool write) {
  if (info == nullptr || !info->telemetry)
    return std::nullopt;
  core::TransferRecord rec;
  rec.protocol = core::Protocol::sftp;
  rec.client = info->client;
  rec.user = info->user;
  rec.path = path.str();
  return HandleTransfer(core::TransferTracker(info->telemetry, std::move(rec)), write);
}

core::Result<vfs::VirtualPath> Session::path(std::string_view p) const {
  return vfs::VirtualPath::resolve(vfs::VirtualPath(), p);
}

void Session::reply_status(std::uint32_t id, std::error_code ec) {
  auto [code, message] = status_for(ec);
  encode_status(out, id, code, message);
}

void Session::reply_status(std::uint32_t id, Status code, std::string_view message) {
  encode_status(out, id, code, message);
}

namespace {

// A READ or WRITE: the byte range it touches on its handle.
struct DataOp {
  std::string handle;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  bool write = false;
  std::size_t reply = 0; ///< Reply bytes held in reserve while it runs (a READ's data).

  // A READ or WRITE runs after every earlier request on its handle and is
  // answered in order, as OpenSSH's sftp-server answers: its client truncates
  // a download in place (scp) or an upload to the highest offset answered
  // without a gap, so out-of-order replies lose data (issue 17: scp saved the
  // first 255 KiB of a file whose READs went to the I/O pool and came back
  // out of order, and exited 0). Requests on other handles run beside it.
  bool conflicts(const DataOp& o) const { return handle == o.handle; }
};

// READ and WRITE may run beside others; nullopt for every other request.
std::optional<DataOp> data_op(std::span<const std::uint8_t> packet) {
  Reader r(packet);
  auto type = r.u8();
  auto id = r.u32();
  auto handle = r.string();
  auto offset = r.u64();
  if (!type || !id || !handle || !offset)
    return std::nullopt;
  if (static_cast<Type>(*type) == Type::read) {
    auto len = r.u32();
    if (!len)
      return std::nullopt;
    return DataOp{std::string(*handle), *offset, *len, false};
  }
  if (static_cast<Type>(*type) == Type::write) {
    auto data = r.string();
    if (!data)
      return std::nullopt;
    return DataOp{std::string(*handle), *offset, data->size(), true};
  }
  return std::nullopt;
}

// The state the reader, the writer and the concurrent requests share.
struct Running {
  Running(vfs::Filesystem& fs, Limits limits, const SessionInfo* info, Channel& ch,
          const asio::any_io_executor& ex)
      : session(fs, limits, info), channel(ch), changed(ex) {}

  // Reply bytes the client has not taken yet, or soon will have to.
  std::size_t queued() const { return session.out.bytes().size() + writing + reserved; }

  Session session;
  Channel& channel;
  core::Wakeup changed; ///< Replies queued, a request finished, reading ended, the channel broke.
  std::list<DataOp> running;
  std::size_t running_bytes = 0;
  std::size_t reserved = 0; ///< The `reply` of every running request.
  std::size_t writing = 0;  ///< Replies the writer has handed to the channel, not yet sent.
  bool reading_done = false;
  bool broken = false;
  bool writer_done = false;
};

// One concurrent READ or WRITE. Takes a pointer, not a reference, as a
// spawned coroutine: run_session's frame outlives it (it waits for `running`
// to empty before it returns).
core::Task<void> run_data_op(Running* st, std::vector<std::uint8_t> packet,
                             std::list<DataOp>::iterator self) {
  co_await st->session.handle_packet(packet);
  st->running_bytes -= packet.size();
  st->reserved -= self->reply;
  st->running.erase(self);
  st->changed.notify();
}

// Sends queued replies until reading is done and nothing is left. A pointer,
// as run_data_op: run_session waits for `writer_done` before it returns.
core::Task<void> write_replies(Running* stp) {
  // Capacity kept between batches; more is given back, so that a session idle
  // after a large download holds little.
  constexpr std::size_t kKeep = 1024 * 1024;
  Running& st = *stp;
  std::string reply;
  for (;;) {
    if (st.session.out.bytes().empty()) {
      if (st.reading_done || st.broken)
        break;
      co_await st.changed.wait();
      continue;
    }
    st.session.out.take_into(reply);
    st.writing = reply.size();
    auto w = co_await st.channel.write_all(
        std::span(reinterpret_cast<const std::uint8_t*>(reply.data()), reply.size()));
    st.writing = 0;
    if (!w) {
      st.broken = true;
      break;
    }
    st.changed.notify(); // room for replies: the reader may go on
    if (reply.capacity() > kKeep)
      reply = std::string();
  }
  st.writer_done = true;
  st.changed.notify();
}

} // namespace

core::Task<void> run_session(Channel& channel, vfs::Filesystem& fs, Limits limits,
                             const SessionInfo* info, std::shared_ptr<core::Drain> drain) {
  auto ex = co_await asio::this_coro::executor;
  Running st(fs, limits, info, channel, ex);
  // A drain that starts ends the wait for the next request (core::Errc::stopping).
  core::Drain::Subscription draining;
  if (drain)
    draining = drain->subscribe(ex, [&channel] { channel.interrupt_read(); });
  asio::co_spawn(ex, write_replies(&st), asio::detached);
  // Requests are read straight into `in`: [begin, end) is unread. It holds a
  // packet of the largest size and one more read, and is never zeroed, so an
  // idle session's pages stay untouched.
  constexpr std::size_t kRead = 64 * 1024;
  const std::size_t capacity =
      limits.max_packet + 8 + kRead; // frame() allows max_packet + 4 + its length
  auto in = std::make_unique_for_overwrite<std::uint8_t[]>(capacity);
  std::size_t begin = 0;
  std::size_t end = 0;
  while (!st.broken) {
    // A stopping server lets open files (transfers) finish, then ends the
    // session; requests of other kinds do not keep it.
    if (drain && drain->draining() && st.session.handles.files() == 0 && st.running.empty())
      break;
    if (capacity - end < kRead) { // the unread rest (part of one packet) to the front
      std::memmove(in.get(), in.get() + begin, end - begin);
      end -= begin;
      begin = 0;
    }
    const std::span<std::uint8_t> tail(in.get() + end, std::min(kRead, capacity - end));
    auto n = co_await channel.read_some(tail);
    if (!n && n.error() == core::Errc::stopping)
      continue;
    if (!n)
      break;
    end += *n;
    while (!st.broken) {
      std::span<const std::uint8_t> pending(in.get() + begin, end - begin);
      auto f = frame(pending, limits.max_packet + 4);
      if (!f) {
        // SECURITY: an oversized or empty packet breaks the framing; the
        // session ends rather than allocating or guessing (OpenSSH does the same).
        spdlog::warn("sftp: ending session: {}", f.error().message());
        st.broken = true;
        break;
      }
      if (!f->has_value())
        break;
      // SECURITY: a client that sends requests and never reads the replies
      // would have them pile up here without end (each READ adds up to
      // max_read): the next request waits for the queue to drain below the
      // bound, so the client's unread requests stay in its window.
      while (st.queued() >= limits.max_queued_replies && !st.broken)
        co_await st.changed.wait();
      if (st.broken)
        break;
      auto packet = pending.subspan(4, **f - 4);
      begin += **f;
      auto op = st.session.initialized ? data_op(packet) : std::nullopt;
      if (op) {
        // Wait for room and for any earlier request it must follow.
        for (;;) {
          bool conflict = false;
          for (const auto& r : st.running)
            conflict = conflict || op->conflicts(r);
          bool room = st.running.size() < limits.max_in_flight &&
                      st.running_bytes + packet.size() <= limits.max_in_flight_bytes;
          if ((room || st.running.empty()) && !conflict)
            break;
          co_await st.changed.wait();
        }
        if (!op->write)
          op->reply =
              static_cast<std::size_t>(std::min<std::uint64_t>(op->length, limits.max_read) + 32);
        st.reserved += op->reply;
        st.running.push_back(std::move(*op));
        st.running_bytes += packet.size();
        // A named copy moved in: GCC 12 mishandles a temporary passed by value
        // into a coroutine (the frame ends up with the destroyed temporary).
        std::vector<std::uint8_t> copy(packet.begin(), packet.end());
        auto task = run_data_op(&st, std::move(copy), std::prev(st.running.end()));
        asio::co_spawn(ex, std::move(task), asio::detached);
      } else {
        while (!st.running.empty())
          co_await st.changed.wait();
        co_await st.session.handle_packet(packet);
      }
      st.changed.notify(); // replies may be queued
    }
    if (begin == end)
      begin = end = 0;
  }
  // Requests still running finish (they hold references into `st`), their
  // replies go out if the channel still takes them, then the writer ends.
  while (!st.running.empty())
    co_await st.changed.wait();
  st.reading_done = true;
  st.changed.notify();
  while (!st.writer_done)
    co_await st.changed.wait();
  // Files left open by a vanished client are closed without commit: a
  // half-written atomic upload never replaces the old file. Their transfers
  // are reported as aborted as the handle table goes.
}

} // namespace berth::sftp
