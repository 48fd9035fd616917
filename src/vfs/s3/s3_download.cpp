// A download: one streaming GET while reads are sequential (read() and SFTP's
// pipelined READs at increasing offsets), a new ranged GET after a jump.
#include "vfs/s3/s3_files.hpp"

#include "vfs/errc.hpp"

#include <algorithm>
#include <charconv>

namespace berth::vfs::s3 {

std::uint64_t key_inode(std::string_view key) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (char c : key) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

Stat object_stat(const ObjectInfo& info) {
  Stat st;
  st.inode = key_inode(info.key);
  st.type = FileType::regular;
  st.size = info.size;
  st.mtime = info.last_modified;
  if (auto it = info.metadata.find("mtime"); it != info.metadata.end()) {
    std::int64_t seconds = 0;
    const auto& text = it->second;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (ec == std::errc{} && p == text.data() + text.size())
      st.mtime = std::chrono::system_clock::time_point(std::chrono::seconds(seconds));
  }
  st.atime = st.mtime;
  st.mode = 0644;
  return st;
}

std::string mtime_text(std::chrono::system_clock::time_point mtime) {
  return std::to_string(
      std::chrono::duration_cast<std::chrono::seconds>(mtime.time_since_epoch()).count());
}

namespace {

/// A forward jump up to this is read through rather than answered by a new GET.
constexpr std::uint64_t kSkipLimit = 256u << 10;

class Download final : public S3File {
public:
  Download(std::shared_ptr<const S3Context> ctx, std::string key, ObjectInfo info,
           std::uint64_t offset)
      : ctx_(std::move(ctx)), key_(std::move(key)), info_(std::move(info)) {
    pos_ = offset;
  }

  // vfs::File
  core::Task<core::Result<std::size_t>> read(std::span<std::byte> buf) override {
    auto n = co_await read_at(pos_, buf);
    if (n)
      pos_ += *n;
    co_return n;
  }

  core::Task<core::Result<std::size_t>> read_at(std::uint64_t offset,
                                                std::span<std::byte> buf) override {
    if (offset >= info_.size || buf.empty())
      co_return std::size_t{0};
    if (reader_ && offset > stream_pos_ && offset - stream_pos_ <= kSkipLimit) {
      auto skipped = co_await skip(offset - stream_pos_);
      if (!skipped)
        co_return core::unexpected(skipped.error());
    }
    if (!reader_ || offset != stream_pos_) {
      reader_.reset();
      auto key = key_;
      auto length = std::optional<std::uint64_t>{};
      auto r = co_await ctx_->client->get(key, offset, length, ctx_->read_ahead);
      if (!r)
        co_return core::unexpected(r.error());
      reader_ = std::move(*r);
      stream_pos_ = offset;
    }
    // Short only at the end of the object (the File contract).
    std::size_t done = 0;
    while (done < buf.size()) {
      auto part = buf.subspan(done);
      auto n = co_await reader_->read_some(part);
      if (!n) {
        reader_.reset();
        co_return core::unexpected(n.error());
      }
      if (*n == 0)
        break;
      done += *n;
      stream_pos_ += *n;
    }
    co_return done;
  }

  core::Task<core::Result<void>> write(std::span<const std::byte>) override {
    co_return core::unexpected(Errc::permission_denied);
  }
  core::Task<core::Result<void>> write_at(std::uint64_t, std::span<const std::byte>) override {
    co_return core::unexpected(Errc::permission_denied);
  }
  core::Task<core::Result<void>> commit() override { co_return core::Result<void>{}; }
  core::Task<core::Result<Stat>> stat() override { co_return object_stat(info_); }
  core::Task<core::Result<void>> sync() override { co_return core::Result<void>{}; }
  core::Task<core::Result<void>> set_size(std::uint64_t) override {
    co_return core::unexpected(Errc::permission_denied);
  }
  core::Task<core::Result<void>> set_mode(std::uint32_t) override {
    co_return core::unexpected(Errc::unsupported);
  }
  core::Task<core::Result<void>> set_times(std::chrono::system_clock::time_point,
                                           std::chrono::system_clock::time_point) override {
    co_return core::unexpected(Errc::permission_denied);
  }

private:
  core::Task<core::Result<void>> skip(std::uint64_t n) {
    std::vector<std::byte> scratch(static_cast<std::size_t>(std::min<std::uint64_t>(n, 64u << 10)));
    while (n > 0) {
      auto part = std::span(scratch).first(
          static_cast<std::size_t>(std::min<std::uint64_t>(n, scratch.size())));
      auto got = co_await reader_->read_some(part);
      if (!got) {
        reader_.reset();
        co_return core::unexpected(got.error());
      }
      if (*got == 0)
        break;
      n -= *got;
      stream_pos_ += *got;
    }
    co_return core::Result<void>{};
  }

  std::shared_ptr<const S3Context> ctx_;
  std::string key_;
  ObjectInfo info_;
  std::unique_ptr<ObjectReader> reader_;
  std::uint64_t stream_pos_ = 0; ///< The offset reader_ delivers next.
};

} // namespace

std::unique_ptr<File> make_download(std::shared_ptr<const S3Context> ctx, std::string key,
                                    ObjectInfo info, std::uint64_t offset) {
  return std::make_unique<Download>(std::move(ctx), std::move(key), std::move(info), offset);
}

} // namespace berth::vfs::s3
