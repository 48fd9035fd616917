#pragma once
// zlib's deflate and inflate on caller buffers, for MODE Z data connections
// (draft-preston-ftpext-deflate): one zlib stream (RFC 1950) per transfer.
// Pure: no I/O; each step is bounded by the buffers it is given.

#include "core/result.hpp"

#include <asio/buffer.hpp>

#include <cstddef>
#include <memory>

namespace berth::net {

/// One zlib stream, compressing or decompressing. Not thread-safe.
class ZStream {
public:
  enum class Kind { deflate, inflate };

  /// What one step did.
  struct Step {
    std::size_t consumed = 0; ///< Bytes of input taken.
    std::size_t produced = 0; ///< Bytes written to the output buffer.
    bool ended = false;       ///< The zlib stream is complete (its trailer done).
  };

  /// A compressor at `level` (1-9; ignored for inflate) or a decompressor.
  /// Errors: std::errc::not_enough_memory.
  static core::Result<ZStream> make(Kind kind, int level = 6);

  ZStream(ZStream&&) noexcept;
  ZStream& operator=(ZStream&&) noexcept;
  ~ZStream();

  /// Runs zlib once over `in` into `out`. Deflate with `finish` ends the
  /// stream (call again while !ended, with fresh output room). Inflate never
  /// produces more than `out` holds, whatever the input claims, so a
  /// decompression bomb costs only the caller's buffer per step.
  /// Errors: core::Errc::bad_data for input that is not a zlib stream
  /// (inflate), or bytes past the end of one.
  core::Result<Step> run(asio::const_buffer in, asio::mutable_buffer out, bool finish = false);

  bool ended() const { return ended_; }

private:
  struct State;
  explicit ZStream(std::unique_ptr<State> state, Kind kind);
  std::unique_ptr<State> state_;
  Kind kind_ = Kind::deflate;
  bool ended_ = false;
};

} // namespace berth::net
