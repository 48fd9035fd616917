#include "net/deflate.hpp"

#include "core/errc.hpp"

#include <zlib.h>

#include <limits>
#include <system_error>

namespace berth::net {

struct ZStream::State {
  z_stream z{};
  Kind kind = Kind::deflate;
  ~State() {
    if (kind == Kind::deflate)
      deflateEnd(&z);
    else
      inflateEnd(&z);
  }
};

ZStream::ZStream(std::unique_ptr<State> state, Kind kind) : state_(std::move(state)), kind_(kind) {}
ZStream::ZStream(ZStream&&) noexcept = default;
ZStream& ZStream::operator=(ZStream&&) noexcept = default;
ZStream::~ZStream() = default;

core::Result<ZStream> ZStream::make(Kind kind, int level) {
  auto state = std::make_unique<State>();
  const int ret = kind == Kind::deflate ? deflateInit(&state->z, level) : inflateInit(&state->z);
  if (ret != Z_OK)
    return core::unexpected(std::make_error_code(std::errc::not_enough_memory));
  state->kind = kind;
  return ZStream(std::move(state), kind);
}

core::Result<ZStream::Step> ZStream::run(asio::const_buffer in, asio::mutable_buffer out,
                                         bool finish) {
  if (ended_) {
    // SECURITY: a second stream (or garbage) after the end is not taken as
    // more of this transfer.
    if (in.size() > 0)
      return core::unexpected(core::Errc::bad_data);
    return Step{0, 0, true};
  }
  // zlib counts in uInt: at most 4 GiB a step, far more than any buffer here.
  constexpr std::size_t kMax = std::numeric_limits<uInt>::max();
  z_stream& z = state_->z;
  z.next_in = static_cast<Bytef*>(const_cast<void*>(in.data()));
  z.avail_in = static_cast<uInt>(std::min(in.size(), kMax));
  z.next_out = static_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(std::min(out.size(), kMax));
  const uInt in_before = z.avail_in;
  const uInt out_before = z.avail_out;
  int ret = kind_ == Kind::deflate ? deflate(&z, finish ? Z_FINISH : Z_NO_FLUSH)
                                   : inflate(&z, Z_NO_FLUSH);
  Step step;
  step.consumed = in_before - z.avail_in;
  step.produced = out_before - z.avail_out;
  z.next_in = nullptr;
  z.next_out = nullptr;
  if (ret == Z_STREAM_END) {
    ended_ = true;
    step.ended = true;
    if (kind_ == Kind::inflate && step.consumed < in.size())
      return core::unexpected(core::Errc::bad_data);
    return step;
  }
  // Z_BUF_ERROR: no progress was possible (no input or no room); not an error.
  if (ret == Z_OK || ret == Z_BUF_ERROR)
    return step;
  if (ret == Z_MEM_ERROR)
    return core::unexpected(std::make_error_code(std::errc::not_enough_memory));
  return core::unexpected(core::Errc::bad_data); // Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR
}

} // namespace berth::net
