#pragma once
// An sftp::Channel over memory: the client's bytes are given up front (fed in
// chunks of a chosen size), the server's replies are collected.

#include "core/errc.hpp"
#include "sftp/channel.hpp"

#include <algorithm>
#include <string>
#include <utility>

namespace berth::test {

class PipeChannel final : public sftp::Channel {
public:
  explicit PipeChannel(std::string input, std::size_t chunk = 1 << 20)
      : input_(std::move(input)), chunk_(chunk) {}

  // sftp::Channel
  core::Task<core::Result<std::size_t>> read_some(std::span<std::uint8_t> buf) override {
    if (std::exchange(interrupted_, false))
      co_return core::unexpected(core::Errc::stopping);
    if (pos_ >= input_.size())
      co_return core::unexpected(core::Errc::closed);
    std::size_t n = std::min({buf.size(), chunk_, input_.size() - pos_});
    std::copy_n(input_.data() + pos_, n, reinterpret_cast<char*>(buf.data()));
    pos_ += n;
    co_return n;
  }
  core::Task<core::Result<void>> write_all(std::span<const std::uint8_t> buf) override {
    output_.append(reinterpret_cast<const char*>(buf.data()), buf.size());
    co_return core::Result<void>{};
  }
  core::Task<core::Result<void>> write_stderr(std::span<const std::uint8_t> buf) override {
    errors_.append(reinterpret_cast<const char*>(buf.data()), buf.size());
    co_return core::Result<void>{};
  }
  void interrupt_read() override { interrupted_ = true; }

  const std::string& output() const { return output_; }
  /// What was written to the error stream.
  const std::string& errors() const { return errors_; }
  /// The client's bytes read so far.
  std::size_t consumed() const { return pos_; }

private:
  std::string input_;
  std::size_t chunk_;
  std::size_t pos_ = 0;
  std::string output_;
  std::string errors_;
  bool interrupted_ = false;
};

} // namespace berth::test
