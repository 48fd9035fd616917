// Fuzzes a whole SFTP session: the input is what a client sends after INIT (the
// harness sends INIT first), run through sftp::run_session over the in-memory
// channel of the unit tests, against a LocalFs jailed in a temporary directory
// that is emptied and filled with the same few files before every input.
//
// Besides crashes and sanitizer reports it checks that every framed request
// gets exactly one well-formed reply with its id, that nothing appears next
// to the jail, and that no file descriptor is left open.
#include "sftp/session.hpp"

#include "core/check.hpp"
#include "core/log.hpp"
#include "fuzz_sandbox.hpp"
#include "support/pipe_channel.hpp"
#include "vfs/local/local_fs.hpp"

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <system_error>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace berth;
using fuzz::sandbox;

// Files grow sparse and copy-data can copy a file onto itself: the file size
// limit keeps each input's disk use bounded (writes past it fail with EFBIG).
constexpr rlim_t kMaxFileSize = 16 << 20;

/// Open file descriptors of the process: a session leaves none behind.
std::size_t open_fds() {
  std::size_t n = 0;
  std::error_code ec;
  for (fs::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec))
    ++n;
  return n;
}

std::uint32_t be32(std::span<const std::uint8_t> b) {
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) |
         std::uint32_t{b[3]};
}

std::span<const std::uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

/// The ids of the requests run_session will answer: whole packets until the
/// end of input or a framing error. Packets too short for an id, and INIT
/// (which has a version where others have the id), are answered with id 0.
std::vector<std::uint32_t> request_ids(std::span<const std::uint8_t> in, std::size_t max_packet) {
  std::vector<std::uint32_t> ids{0}; // INIT's VERSION
  while (in.size() >= 4) {
    std::uint32_t len = be32(in);
    if (len == 0 || len > max_packet || in.size() - 4 < len)
      break;
    bool has_id = len >= 5 && in[4] != static_cast<std::uint8_t>(sftp::Type::init);
    ids.push_back(has_id ? be32(in.subspan(5)) : 0);
    in = in.subspan(4 + std::size_t{len});
  }
  return ids;
}

/// The ids of the replies; checks that the output is a sequence of whole reply packets.
std::vector<std::uint32_t> reply_ids(std::span<const std::uint8_t> out) {
  std::vector<std::uint32_t> ids;
  while (!out.empty()) {
    auto f = sftp::frame(out, out.size());
    BERTH_CHECK(f && f->has_value());
    auto type = static_cast<sftp::Type>(out[4]);
    if (type == sftp::Type::version) {
      ids.push_back(0);
    } else {
      BERTH_CHECK(type == sftp::Type::status || type == sftp::Type::handle ||
                  type == sftp::Type::data || type == sftp::Type::name ||
                  type == sftp::Type::attrs || type == sftp::Type::extended_reply);
      BERTH_CHECK(**f >= 9);
      ids.push_back(be32(out.subspan(5)));
    }
    out = out.subspan(**f);
  }
  return ids;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  rlimit limit{kMaxFileSize, kMaxFileSize};
  BERTH_CHECK(::setrlimit(RLIMIT_FSIZE, &limit) == 0);
  (void)sandbox();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Here, not in LLVMFuzzerInitialize: libFuzzer installs its own handler after that.
  std::signal(SIGXFSZ, SIG_IGN);
  fuzz::Sandbox& box = sandbox();
  box.reset();
  const std::size_t fds = open_fds();
  auto fs = vfs::LocalFs::open(box.root());
  BERTH_CHECK(fs.has_value());

  sftp::Writer init;
  init.start(sftp::Type::init);
  init.u32(3);
  init.finish();
  std::string input = init.take();
  input.append(reinterpret_cast<const char*>(data), size);
  // Vary how the bytes arrive, so that packets straddle reads.
  std::size_t chunk = size % 3 == 0 ? input.size() : 1 + size % 509;
  test::PipeChannel channel(std::move(input), chunk);

  sftp::Limits limits;
  if (size % 5 == 1) { // now and then, bounds small enough for requests to wait for room
    limits.max_in_flight = 2;
    limits.max_in_flight_bytes = 256;
  }
  {
    // Its own scope: the io_context's descriptors (epoll, timers) close with it.
    asio::io_context ctx;
    asio::co_spawn(ctx, sftp::run_session(channel, **fs, limits), [](std::exception_ptr e) {
      if (e)
        std::rethrow_exception(e);
    });
    ctx.run();
  }

  // run_session frames with max_packet + 4 as the bound of the length field.
  auto want = request_ids({data, size}, limits.max_packet + 4);
  auto got = reply_ids(bytes_of(channel.output()));
  std::sort(want.begin(), want.end());
  std::sort(got.begin(), got.end());
  BERTH_CHECK(want == got);
  box.check_outside();
  fs->reset();
  BERTH_CHECK(open_fds() == fds);
  return 0;
}
