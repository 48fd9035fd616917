#include "net/copy.hpp"

#include <cstdint>

namespace berth::net {

core::Task<core::Result<void>> send_to_end(Socket& s, ZeroCopyFile& file, std::uint64_t& progress) {
  std::uint64_t offset = file.position();
  const std::uint64_t start = offset;
  auto sent = co_await send_file(s, file.descriptor(), offset, UINT64_MAX);
  file.advance(offset - start);
  progress += offset - start;
  if (!sent)
    co_return core::unexpected(sent.error());
  co_return core::Result<void>{};
}

core::Task<core::Result<void>> receive_to_close(Socket& s, ZeroCopyFile& file,
                                                std::uint64_t& progress, Pipe& pipe) {
  for (;;) {
    auto n = co_await pipe.fill_from(s);
    if (!n)
      co_return core::unexpected(n.error());
    if (*n == 0)
      break;
    progress += *n;
    for (std::size_t left = *n; left > 0;) {
      auto w = co_await file.write_from_pipe(pipe.read_end(), left);
      if (!w)
        co_return core::unexpected(w.error());
      left -= *w;
    }
  }
  co_return core::Result<void>{};
}

} // namespace berth::net
