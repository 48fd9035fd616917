// RFC 959 4.1.3: commands that move file data; REST STREAM (RFC 3659 5).
#include "ftp/handlers/handlers.hpp"

#include "core/errc.hpp"
#include "core/log.hpp"
#include "ftp/session.hpp"
#include "net/copy.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <memory>
#include <vector>

namespace berth::ftp {
namespace {

constexpr std::size_t kBufferSize = 256 * 1024;

using FilePtr = std::shared_ptr<vfs::File>; // shared: held by the body closure and the handler
/// The file's bytes a transfer moved, for the transfer log (TYPE A and MODE Z
/// change what the data connection carries); shared by the body closure and
/// the handler.
using FileBytes = std::shared_ptr<std::uint64_t>;

// TYPE A on the wire: LF becomes CRLF (RFC 959 3.1.1.1).
void to_network_ascii(std::string_view in, std::string& out) {
  out.clear();
  for (char c : in) {
    if (c == '\n')
      out.push_back('\r');
    out.push_back(c);
  }
}

// TYPE A from the wire: CRLF becomes LF; a CR at a buffer's end waits for the next.
void from_network_ascii(std::string_view in, std::string& out, bool& pending_cr) {
  out.clear();
  for (char c : in) {
    if (pending_cr) {
      pending_cr = false;
      if (c != '\n')
        out.push_back('\r');
    }
    if (c == '\r') {
      pending_cr = true;
      continue;
    }
    out.push_back(c);
  }
}

core::Task<core::Result<void>> send_body(FilePtr file, TransferType type, net::Stream& sock,
                                         std::uint64_t& progress, FileBytes file_bytes) {
  if (net::ZeroCopyFile* zc = file->zero_copy();
      zc != nullptr && type == TransferType::binary && sock.is_plain()) {
    const std::uint64_t before = progress;
    auto sent = co_await net::send_to_end(sock.socket(), *zc, progress);
    *file_bytes += progress - before; // also after an error: what went out
    co_return sent;
  }
  // A read fills its buffer (File::read): a throttled one asks for no more
  // than the throttle lets through soon, so the stall watchdog sees progress.
  const std::size_t limit = file->read_size_limit();
  std::vector<std::byte> buf(limit == 0 ? kBufferSize : std::min(limit, kBufferSize));
  std::string converted;
  for (;;) {
    auto n = co_await file->read(buf);
    if (!n)
      co_return core::unexpected(n.error());
    if (*n == 0)
      co_return core::Result<void>{};
    *file_bytes += *n;
    std::string_view chunk(reinterpret_cast<const char*>(buf.data()), *n);
    if (type == TransferType::ascii) {
      to_network_ascii(chunk, converted);
      chunk = converted;
    }
    auto w = co_await sock.write_all(asio::buffer(chunk));
    if (!w)
      co_return w;
    progress += chunk.size();
  }
}

// Binary upload without TLS or MODE Z into a file offering zero-copy: socket
// to pipe to file with splice(2), the bytes never copied through user space.
core::Task<core::Result<void>> receive_spliced(FilePtr file, net::Stream& sock,
                                               std::uint64_t& progress, net::Pipe& pipe,
                                               FileBytes file_bytes) {
  const std::uint64_t before = progress;
  auto r = co_await net::receive_to_close(sock.socket(), *file->zero_copy(), progress, pipe);
  *file_bytes += progress - before;
  if (!r)
    co_return r;
  co_return co_await file->commit();
}

// A binary upload without TLS or MODE Z into a file offering zero-copy goes on through a
// pipe (splice) past this many bytes. Most uploads of a folder of documents
// end sooner, and read(2) and write(2) serve them in fewer system calls than
// a pipe costs to set up: three for a 4 KiB file, against seven.
constexpr std::uint64_t kSpliceAfter = 64 * 1024;

core::Task<core::Result<void>> receive_body(FilePtr file, TransferType type, net::Stream& sock,
                                            std::uint64_t& progress, FileBytes file_bytes) {
  bool spliceable = type == TransferType::binary && file->zero_copy() != nullptr && sock.is_plain();
  const std::size_t size = spliceable ? kSpliceAfter : kBufferSize;
  auto buf = std::make_unique_for_overwrite<char[]>(size);
  std::string converted;
  bool pending_cr = false;
  std::uint64_t received = 0;
  for (;;) {
    if (spliceable && received >= kSpliceAfter) {
      spliceable = false;
      if (auto pipe = net::Pipe::open())
        co_return co_await receive_spliced(file, sock, progress, *pipe, file_bytes);
    }
    auto r = co_await sock.read_some(asio::buffer(buf.get(), size));
    if (!r && r.error() == core::Errc::closed)
      break;
    if (!r)
      co_return core::unexpected(r.error());
    std::size_t n = *r;
    progress += n;
    received += n;
    std::string_view chunk(buf.get(), n);
    if (type == TransferType::ascii) {
      from_network_ascii(chunk, converted, pending_cr);
      chunk = converted;
    }
    auto w = co_await file->write(std::as_bytes(std::span(chunk.data(), chunk.size())));
    if (!w)
      co_return w;
    *file_bytes += chunk.size();
  }
  if (pending_cr) {
    const char cr = '\r';
    auto w = co_await file->write(std::as_bytes(std::span(&cr, 1)));
    if (!w)
      co_return w;
    *file_bytes += 1;
  }
  co_return co_await file->commit();
}

core::Task<Reply> upload(Session& s, const vfs::VirtualPath& path, vfs::WriteMode mode,
                         std::uint64_t offset) {
  auto f = co_await s.fs().open_write(path, mode, offset);
  if (!f)
    co_return reply_for(f.error());
  FilePtr file(std::move(*f));
  TransferType type = s.type;
  auto file_bytes = std::make_shared<std::uint64_t>(0);
  const TransferBody body = [file, type, file_bytes](net::Stream& sock, std::uint64_t& progress) {
    return receive_body(file, type, sock, progress, file_bytes);
  };
  const std::string opening = "Ok to send data.";
  auto tracker = s.start_transfer(path, true);
  Reply r = co_await s.transfer(opening, body);
  s.end_transfer(tracker, *file_bytes);
  co_return r;
}

} // namespace

core::Task<Reply> handle_retr(Session& s, std::string_view arg) {
  auto p = s.path(arg);
  if (!p)
    co_return reply_for(p.error());
  auto f = co_await s.fs().open_read(*p, s.restart_offset);
  if (!f)
    co_return reply_for(f.error());
  FilePtr file(std::move(*f));
  TransferType type = s.type;
  auto st = co_await file->stat(); // the open file, not the path a second time
  std::string opening =
      fmt::format("Opening {} mode data connection for {} ({} bytes).",
                  type == TransferType::binary ? "BINARY" : "ASCII", p->name(), st ? st->size : 0);
  auto file_bytes = std::make_shared<std::uint64_t>(0);
  const TransferBody body = [file, type, file_bytes](net::Stream& sock, std::uint64_t& progress) {
    return send_body(file, type, sock, progress, file_bytes);
  };
  auto tracker = s.start_transfer(*p, false);
  Reply r = co_await s.transfer(opening, body);
  s.end_transfer(tracker, *file_bytes);
  co_return r;
}

core::Task<Reply> handle_stor(Session& s, std::string_view arg) {
  auto p = s.path(arg);
  if (!p)
    co_return reply_for(p.error());
  auto mode = s.restart_offset > 0 ? vfs::WriteMode::resume : vfs::WriteMode::replace;
  co_return co_await upload(s, *p, mode, s.restart_offset);
}

core::Task<Reply> handle_appe(Session& s, std::string_view arg) {
  auto p = s.path(arg);
  if (!p)
    co_return reply_for(p.error());
  co_return co_await upload(s, *p, vfs::WriteMode::append, 0);
}

core::Task<Reply> handle_stou(Session& s, std::string_view arg) {
  auto dir = s.cwd;
  std::string prefix = "stou.";
  if (!arg.empty()) {
    auto p = s.path(arg);
    if (!p)
      co_return reply_for(p.error());
    dir = p->parent();
    prefix = std::string(p->name()) + ".";
  }
  auto created = co_await s.fs().create_unique(dir, prefix);
  if (!created)
    co_return reply_for(created.error());
  FilePtr file(std::move(created->first));
  TransferType type = s.type;
  // RFC 1123 4.1.2.9: the 150 reply names the file ("FILE: name").
  auto file_bytes = std::make_shared<std::uint64_t>(0);
  const TransferBody body = [file, type, file_bytes](net::Stream& sock, std::uint64_t& progress) {
    return receive_body(file, type, sock, progress, file_bytes);
  };
  const std::string opening = "FILE: " + created->second;
  auto tracker = s.start_transfer(dir.child(created->second), true);
  Reply r = co_await s.transfer(opening, body);
  s.end_transfer(tracker, *file_bytes);
  co_return r;
}

core::Task<Reply> handle_rest(Session& s, std::string_view arg) {
  std::uint64_t offset = 0;
  auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), offset);
  if (ec != std::errc{} || end != arg.data() + arg.size())
    co_return Reply::of(501, "REST requires a non-negative byte offset.");
  s.restart_offset = offset;
  co_return Reply::of(350, fmt::format("Restart position accepted ({}).", offset));
}

core::Task<Reply> handle_abor(Session& s, std::string_view) {
  // A transfer in progress is aborted by the watcher in Session::transfer();
  // here nothing is running (RFC 959: 225 when the data connection is idle).
  s.data().reset();
  co_return Reply::of(225, "No transfer to abort.");
}

core::Task<Reply> handle_allo(Session&, std::string_view) {
  co_return Reply::of(202, "ALLO command ignored.");
}

} // namespace berth::ftp
