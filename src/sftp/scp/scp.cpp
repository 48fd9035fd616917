// The legacy scp protocol, server side, as OpenSSH's scp.c speaks it (its
// sink() and source() run with -t and -f on the remote host).
#include "sftp/scp/scp.hpp"

#include "core/errc.hpp"
#include "core/log.hpp"
#include "sftp/exec/shell_words.hpp"
#include "sftp/handle_table.hpp"
#include "sftp/scp/codec.hpp"
#include "vfs/errc.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <memory>

namespace berth::sftp::scp {
namespace {

// Client bytes, buffered for the control lines; file data is taken from the
// buffer first, then straight from the channel into the caller's chunk.
class Input {
public:
  explicit Input(Channel& ch) : ch_(ch) {}

  /// One line without its '\n'. Errors: Errc::too_long past kMaxLine, the
  /// channel's (core::Errc::closed at its end).
  core::Task<core::Result<std::string>> line() {
    std::string out;
    core::Result<std::string> result = core::unexpected(make_error_code(Errc::too_long));
    for (;;) {
      if (begin_ == end_) {
        auto f = co_await fill();
        if (!f) {
          result = core::unexpected(f.error());
          break;
        }
      }
      const auto* start = buf_.data() + begin_;
      const auto* nl = static_cast<const std::uint8_t*>(std::memchr(start, '\n', end_ - begin_));
      const std::size_t n = nl != nullptr ? static_cast<std::size_t>(nl - start) : end_ - begin_;
      if (out.size() + n >= kMaxLine)
        break;
      out.append(reinterpret_cast<const char*>(start), n);
      begin_ += n;
      if (nl != nullptr) {
        ++begin_;
        result = std::move(out);
        break;
      }
    }
    co_return result;
  }

  core::Task<core::Result<std::uint8_t>> byte() {
    if (begin_ == end_) {
      auto f = co_await fill();
      if (!f)
        co_return core::unexpected(f.error());
    }
    co_return buf_[begin_++];
  }

  /// At least one byte, at most buf.size().
  core::Task<core::Result<std::size_t>> some(std::span<std::uint8_t> buf) {
    if (begin_ < end_) {
      const std::size_t n = std::min(buf.size(), end_ - begin_);
      std::memcpy(buf.data(), buf_.data() + begin_, n);
      begin_ += n;
      co_return n;
    }
    co_return co_await ch_.read_some(buf);
  }

private:
  core::Task<core::Result<void>> fill() {
    auto n = co_await ch_.read_some(buf_);
    if (!n)
      co_return core::unexpected(n.error());
    begin_ = 0;
    end_ = *n;
    co_return core::Result<void>{};
  }

  Channel& ch_;
  std::array<std::uint8_t, 4096> buf_{};
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

enum class Ack { ok, refused, gone };

// "~" and "~/x" name the home, which is the root of the user's view.
std::string_view home_relative(std::string_view p) {
  if (p == "~")
    return {};
  if (p.starts_with("~/"))
    p.remove_prefix(2);
  return p;
}

// A T line's seconds (below 2^63) as a time point, clamped to the clock's
// range (year 2262 in nanoseconds): beyond it the conversion would overflow.
std::chrono::system_clock::time_point from_secs(std::uint64_t s) {
  using namespace std::chrono;
  constexpr auto kMax = duration_cast<seconds>(system_clock::duration::max()).count();
  const auto clamped = static_cast<seconds::rep>(std::min<std::uint64_t>(s, kMax));
  return system_clock::time_point(duration_cast<system_clock::duration>(seconds(clamped)));
}

std::uint64_t secs(std::chrono::system_clock::time_point t) {
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  return s < 0 ? 0 : static_cast<std::uint64_t>(s);
}

struct Times {
  std::uint64_t mtime = 0;
  std::uint64_t atime = 0;
};

// SECURITY: the entries a download holds (one listing per level) are bounded,
// as an SFTP session's open directories are.
constexpr std::size_t kMaxHeldEntries = 512 * 1024;

class Run {
public:
  Run(const Args& args, Channel& ch, vfs::Filesystem& fs, const SessionInfo* info)
      : args_(args), ch_(ch), fs_(fs), info_(info), in_(ch),
        chunk_(std::make_unique_for_overwrite<std::uint8_t[]>(kChunk)) {}

  core::Task<int> sink_main() {
    // The target is checked before the sink's first 0, which then never
    // comes: OpenSSH's client prints the warning in its place and stops.
    auto target = vfs::VirtualPath::resolve(vfs::VirtualPath(), home_relative(args_.path));
    if (!target) {
      const std::string line =
          warning(fmt::format("{}: {}", args_.path, status_for(target.error()).second));
      co_await send(line);
      co_return 1;
    }
    auto st = co_await fs_.stat(*target);
    const bool is_dir = st && st->type == vfs::FileType::directory;
    if (args_.target_is_dir && !is_dir) {
      const std::string line = warning(fmt::format("{}: Not a directory", target->str()));
      co_await send(line);
      co_return 1;
    }
    if (!co_await ack_ok())
      co_return 1;
    co_await sink(*target, is_dir, 0);
    co_return errors_ > 0 ? 1 : 0;
  }

  core::Task<int> source_main() {
    // The sink speaks first: the client's 0 (OpenSSH: main() calls response()).
    if (co_await response() != Ack::ok)
      co_return 1;
    auto p = vfs::VirtualPath::resolve(vfs::VirtualPath(), home_relative(args_.path));
    if (!p) {
      const std::string line =
          warning(fmt::format("{}: {}", args_.path, status_for(p.error()).second));
      co_await send(line);
      co_return 1;
    }
    co_await source(*p, 0);
    co_return errors_ > 0 ? 1 : 0;
  }

private:
  bool stopped() const { return broken_ || fatal_; }

  core::Task<bool> send(std::string_view bytes) {
    auto w = co_await ch_.write_all(
        std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
    if (!w)
      broken_ = true;
    co_return w.has_value();
  }

  core::Task<bool> ack_ok() {
    const std::string_view zero("\0", 1);
    co_return co_await send(zero);
  }

  // A warning line to send: the client reports it and goes on (OpenSSH run_err()).
  std::string warning(const std::string& message) {
    ++errors_;
    spdlog::debug("scp: {}: {}", user(), core::printable(message));
    return encode_error(false, message);
  }

  std::string warning(const vfs::VirtualPath& p, std::error_code ec) {
    return warning(fmt::format("{}: {}", p.str(), status_for(ec).second));
  }

  // A fatal line to send: the client stops, and so does this run.
  std::string fatal(const std::string& message) {
    ++errors_;
    fatal_ = true;
    spdlog::info("scp: {}: {}", user(), core::printable(message));
    return encode_error(true, message);
  }

  std::string_view user() const {
    if (info_ != nullptr)
      return info_->user;
    return "-";
  }

  // The peer's answer to what was just sent (OpenSSH response()).
  core::Task<Ack> response() {
    auto b = co_await in_.byte();
    if (!b) {
      broken_ = true;
      co_return Ack::gone;
    }
    if (*b == kOk)
      co_return Ack::ok;
    auto line = co_await in_.line();
    if (!line) {
      broken_ = true;
      co_return Ack::gone;
    }
    spdlog::debug("scp: {}: the client reports: {}", user(), core::printable(*line));
    ++errors_;
    if (*b != kWarning) // fatal, or out of step
      fatal_ = true;
    co_return Ack::refused;
  }

  // ---- sink (-t): the client uploads

  core::Task<void> sink(const vfs::VirtualPath& dir, bool is_dir, unsigned depth) {
    std::optional<Times> times;
    while (!stopped()) {
      auto text = co_await in_.line();
      if (!text) {
        if (text.error() == Errc::too_long) {
          const std::string line = fatal("protocol error: line too long");
          co_await send(line);
        } else {
          broken_ = depth > 0; // the end of the client's data ends the top level only
        }
        break;
      }
      auto rec = parse_line(*text);
      if (!rec) {
        const std::string line = fatal(
            fmt::format("protocol error: {}: {}", rec.error().message(), core::printable(*text)));
        co_await send(line);
        break;
      }
      using K = Record::Kind;
      if (rec->kind == K::warning) {
        ++errors_;
        spdlog::debug("scp: {}: the client reports: {}", user(), core::printable(rec->name));
        continue;
      }
      if (rec->kind == K::fatal) {
        ++errors_;
        fatal_ = true;
        break;
      }
      if (rec->kind == K::end) {
        co_await ack_ok();
        break;
      }
      if (rec->kind == K::times) {
        times = Times{rec->mtime, rec->atime};
        co_await ack_ok();
        continue;
      }
      const vfs::VirtualPath path = is_dir ? dir.child(rec->name) : dir;
      if (rec->kind == K::directory) {
        if (!args_.recursive) {
          const std::string line = fatal("received directory without -r");
          co_await send(line);
          break;
        }
        if (depth + 1 >= kMaxDepth) {
          const std::string line = fatal(fmt::format("{}: too many directory levels", path.str()));
          co_await send(line);
          break;
        }
        co_await receive_directory(path, *rec, times, depth);
      } else {
        co_await receive_file(path, *rec, times);
      }
      times.reset();
    }
  }

  core::Task<void> receive_directory(const vfs::VirtualPath& path, const Record& rec,
                                     std::optional<Times> times, unsigned depth) {
    auto st = co_await fs_.stat(path);
    if (st && st->type != vfs::FileType::directory) {
      const std::string line = warning(path, vfs::Errc::not_directory);
      co_await send(line);
      co_return;
    }
    if (!st) {
      // Writable by its owner while it is filled, as OpenSSH's sink makes it.
      auto made = co_await fs_.make_directory(path, (rec.mode | 0700) & 0777);
      if (!made) {
        const std::string line = warning(path, made.error());
        co_await send(line);
        co_return;
      }
    }
    if (!co_await ack_ok())
      co_return;
    co_await sink(path, true, depth + 1);
    if (stopped() || !args_.preserve)
      co_return;
    // SECURITY: permission bits only: never setuid, setgid or sticky.
    auto m = co_await fs_.set_mode(path, rec.mode & 0777);
    if (m && times)
      m = co_await fs_.set_times(path, from_secs(times->atime), from_secs(times->mtime));
    if (!m) {
      const std::string line = warning(path, m.error());
      co_await send(line);
    }
  }

  core::Task<void> receive_file(const vfs::VirtualPath& path, const Record& rec,
                                std::optional<Times> times) {
    // As an FTP STOR: the upload mode's replace (atomic: a temporary name
    // renamed over the target at commit()).
    auto file = co_await fs_.open_write(path, vfs::WriteMode::replace, 0);
    if (!file) {
      // No 0: the client's source skips this file (OpenSSH sink's "bad:").
      const std::string line = warning(path, file.error());
      co_await send(line);
      co_return;
    }
    auto transfer = transfer_for(info_, path, true);
    if (!co_await ack_ok())
      co_return;
    std::error_code ec;
    std::uint64_t left = rec.size;
    while (left > 0) {
      const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, kChunk));
      auto n = co_await in_.some(std::span(chunk_.get(), want));
      if (!n) {
        // SECURITY: a cut upload is never committed: the File goes without
        // commit(), so an atomic replace leaves the old file whole.
        broken_ = true;
        co_return;
      }
      left -= *n;
      if (ec)
        continue; // the rest is read and dropped, as OpenSSH's sink does
      auto w = co_await (*file)->write(std::as_bytes(std::span(chunk_.get(), *n)));
      if (!w) {
        ec = w.error();
        if (transfer)
          transfer->on_error();
      } else if (transfer) {
        transfer->on_write(*n);
      }
    }
    const Ack ack = co_await response();
    if (ack != Ack::ok) {
      // The client could not read its file whole (or left): it is not committed.
      if (transfer)
        transfer->finish(core::TransferResult::failed);
      co_return;
    }
    std::error_code attr_ec;
    if (!ec && args_.preserve) {
      // SECURITY: permission bits only: never setuid, setgid or sticky.
      auto m = co_await (*file)->set_mode(rec.mode & 0777);
      if (m && times)
        m = co_await (*file)->set_times(from_secs(times->atime), from_secs(times->mtime));
      if (!m)
        attr_ec = m.error();
    }
    if (!ec) {
      auto c = co_await (*file)->commit();
      if (!c)
        ec = c.error();
    }
    if (transfer)
      transfer->finish(ec ? core::TransferResult::failed : core::TransferResult::ok);
    spdlog::debug("scp: {} upload {}: {}", user(), core::printable(path.str()),
                  ec ? ec.message() : "ok");
    if (ec || attr_ec) {
      const std::string line = warning(path, ec ? ec : attr_ec);
      co_await send(line);
    } else {
      co_await ack_ok();
    }
  }

  // ---- source (-f): the client downloads

  core::Task<void> source(const vfs::VirtualPath& path, unsigned depth) {
    const std::string_view name = path.name();
    if (!valid_name(name)) {
      const std::string line = warning(
          fmt::format("{}: skipping, filename contains a newline or is not valid", path.str()));
      co_await send(line);
      co_return;
    }
    auto st = co_await fs_.stat(path);
    if (!st) {
      const std::string line = warning(path, st.error());
      co_await send(line);
      co_return;
    }
    if (st->type == vfs::FileType::directory && args_.recursive) {
      co_await send_directory(path, *st, depth);
    } else if (st->type == vfs::FileType::regular) {
      co_await send_file(path);
    } else {
      const std::string line = warning(fmt::format("{}: not a regular file", path.str()));
      co_await send(line);
    }
  }

  // Sends a T line when -p asks for times; false when the client refused it.
  core::Task<bool> send_times(const vfs::Stat& st) {
    if (!args_.preserve)
      co_return true;
    const std::string t = encode_times(secs(st.mtime), secs(st.atime));
    if (!co_await send(t))
      co_return false;
    co_return co_await response() == Ack::ok;
  }

  core::Task<void> send_directory(const vfs::VirtualPath& path, const vfs::Stat& st,
                                  unsigned depth) {
    if (depth + 1 >= kMaxDepth) {
      const std::string line = warning(fmt::format("{}: too many directory levels", path.str()));
      co_await send(line);
      co_return;
    }
    // Read a batch at a time: only the batch in hand is held at each level.
    auto dir = co_await fs_.open_dir(path);
    if (!dir) {
      const std::string line = warning(path, dir.error());
      co_await send(line);
      co_return;
    }
    auto batch = co_await (*dir)->next();
    if (!batch) {
      const std::string line = warning(path, batch.error());
      co_await send(line);
      co_return;
    }
    if (!hold(batch->size())) {
      const std::string line = warning(fmt::format("{}: too many entries", path.str()));
      co_await send(line);
      co_return;
    }
    if (!co_await send_times(st))
      co_return;
    const std::string d = encode_directory(st.mode & 0777, path.name());
    if (!co_await send(d) || co_await response() != Ack::ok)
      co_return;
    std::size_t held = batch->size();
    held_entries_ += held;
    while (!batch->empty() && !stopped()) {
      co_await send_entries(path, *batch, depth);
      held_entries_ -= held;
      held = 0;
      batch = co_await (*dir)->next();
      std::string failed;
      if (!batch)
        failed = warning(path, batch.error());
      else if (!hold(batch->size()))
        failed = warning(fmt::format("{}: too many entries", path.str()));
      if (!failed.empty()) {
        // What was sent stays sent; the directory ends here.
        co_await send(failed);
        break;
      }
      held = batch->size();
      held_entries_ += held;
    }
    held_entries_ -= held;
    if (stopped())
      co_return;
    const std::string end = encode_end();
    if (co_await send(end))
      co_await response();
  }

  // True if `n` more entries stay within what a download may hold.
  bool hold(std::size_t n) const { return held_entries_ + n <= kMaxHeldEntries; }

  // Sends the entries of one batch of directory `path`'s listing.
  core::Task<void> send_entries(const vfs::VirtualPath& path,
                                const std::vector<vfs::DirEntry>& entries, unsigned depth) {
    for (const auto& e : entries) {
      if (stopped())
        break;
      const vfs::VirtualPath child = path.child(e.name);
      if (e.stat.type == vfs::FileType::symlink) {
        // A link to a directory is skipped, never followed: it may lead back
        // up (a loop); a link to a file is sent as the file.
        auto target = co_await fs_.stat(child);
        if (target && target->type == vfs::FileType::directory)
          continue;
      }
      co_await source(child, depth + 1);
    }
  }

  core::Task<void> send_file(const vfs::VirtualPath& path) {
    auto file = co_await fs_.open_read(path, 0);
    if (!file) {
      const std::string line = warning(path, file.error());
      co_await send(line);
      co_return;
    }
    auto st = co_await (*file)->stat(); // the size sent is the open file's
    if (!st) {
      const std::string line = warning(path, st.error());
      co_await send(line);
      co_return;
    }
    if (!co_await send_times(*st))
      co_return;
    // SECURITY: permission bits only, as the sink sets: never setuid, setgid or sticky.
    const std::string c = encode_file(st->mode & 0777, st->size, path.name());
    if (!co_await send(c) || co_await response() != Ack::ok)
      co_return;
    auto transfer = transfer_for(info_, path, false);
    std::error_code ec;
    std::uint64_t left = st->size;
    while (left > 0) {
      const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, kChunk));
      std::span<std::uint8_t> buf(chunk_.get(), want);
      std::size_t n = 0;
      if (!ec) {
        auto r = co_await (*file)->read(std::as_writable_bytes(buf));
        if (!r)
          ec = r.error();
        else if (*r == 0)
          ec = vfs::Errc::io_error; // the file shrank after its size was sent
        else
          n = *r;
      }
      if (ec) {
        // The size was promised: the rest is padded, then the error reported
        // (OpenSSH's source does the same).
        std::fill(buf.begin(), buf.end(), std::uint8_t{0});
        n = want;
      } else if (transfer) {
        transfer->on_read(n);
      }
      if (!co_await send(std::string_view(reinterpret_cast<const char*>(buf.data()), n)))
        co_return; // the client left: the transfer is reported as aborted
      left -= n;
    }
    if (ec) {
      if (transfer)
        transfer->on_error();
      const std::string line = warning(path, ec);
      co_await send(line);
    } else if (!co_await ack_ok()) {
      co_return;
    }
    const Ack ack = co_await response();
    if (transfer)
      transfer->finish(!ec && ack == Ack::ok ? core::TransferResult::ok
                                             : core::TransferResult::failed);
  }

  const Args& args_;
  Channel& ch_;
  vfs::Filesystem& fs_;
  const SessionInfo* info_;
  Input in_;
  std::unique_ptr<std::uint8_t[]> chunk_;
  unsigned errors_ = 0;
  bool broken_ = false; ///< The channel ended or failed: nothing more is sent.
  bool fatal_ = false;  ///< A fatal error was sent or received.
  std::size_t held_entries_ = 0;
};

} // namespace

std::optional<Args> parse_command(std::string_view command) {
  exec::Words split = exec::split_words(command);
  if (!split.error.empty() || split.words.empty() || split.words[0] != "scp")
    return std::nullopt;
  return parse_args(std::span(split.words).subspan(1));
}

std::optional<Args> parse_args(std::span<const std::string> words) {
  Args a;
  bool t = false;
  bool f = false;
  std::size_t i = 0;
  for (; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w == "--") {
      ++i;
      break;
    }
    if (w.size() < 2 || w[0] != '-')
      break;
    for (char c : std::string_view(w).substr(1)) {
      switch (c) {
      case 't':
        t = true;
        break;
      case 'f':
        f = true;
        break;
      case 'r':
        a.recursive = true;
        break;
      case 'p':
        a.preserve = true;
        break;
      case 'd':
        a.target_is_dir = true;
        break;
      case 'v':
      case 'q':
        break;
      default:
        return std::nullopt;
      }
    }
  }
  if (t == f || i + 1 != words.size())
    return std::nullopt;
  a.sink = t;
  a.path = words[i];
  return a;
}

core::Task<int> run(const Args& args, Channel& channel, vfs::Filesystem& fs,
                    const SessionInfo* info) {
  Run r(args, channel, fs, info);
  int status = 0;
  if (args.sink)
    status = co_await r.sink_main();
  else
    status = co_await r.source_main();
  co_return status;
}

} // namespace berth::sftp::scp
