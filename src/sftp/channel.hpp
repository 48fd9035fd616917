#pragma once
// The byte channel an SFTP session speaks over: an SSH channel in production
// (sftp/ssh/), an in-memory pipe in tests and fuzzers.

#include "core/result.hpp"
#include "core/task.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace berth::sftp {

class Channel {
public:
  virtual ~Channel() = default;
  /// Reads at least one byte. Errors: core::Errc::closed at end of stream.
  virtual core::Task<core::Result<std::size_t>> read_some(std::span<std::uint8_t> buf) = 0;
  /// Writes all of buf (may wait for the peer's window).
  virtual core::Task<core::Result<void>> write_all(std::span<const std::uint8_t> buf) = 0;
  /// Writes all of buf to the channel's error stream (SSH extended data 1).
  virtual core::Task<core::Result<void>> write_stderr(std::span<const std::uint8_t> buf) = 0;
  /// Makes the read_some() waiting now, or else the next one that would
  /// wait, return core::Errc::stopping (once). From a coroutine or handler
  /// of the channel's loop: a drain's wake.
  virtual void interrupt_read() = 0;
};

} // namespace berth::sftp
