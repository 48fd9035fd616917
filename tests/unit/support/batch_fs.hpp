#pragma once
// A memory filesystem for tests of listing code: one directory, "/", whose
// open_dir() hands its entries out a few at a time, as object storage lists
// in pages. list() answers too, but counts its calls: code that should read
// through open_dir() must leave it at zero. Anything else: Errc::unsupported.

#include "vfs/errc.hpp"
#include "vfs/filesystem.hpp"

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace berth::test {

class BatchFs final : public vfs::Filesystem {
public:
  /// `entries` in byte order of their names; open_dir() hands out `batch` a time.
  BatchFs(std::vector<vfs::DirEntry> entries, std::size_t batch)
      : entries_(std::move(entries)), batch_(batch) {}

  /// A regular file's entry of `size` bytes.
  static vfs::DirEntry file(std::string name, std::uint64_t size = 0) {
    vfs::DirEntry e{std::move(name), {}};
    e.stat.type = vfs::FileType::regular;
    e.stat.size = size;
    e.stat.mode = 0644;
    return e;
  }

  std::size_t list_calls = 0;   ///< Calls of list().
  std::size_t batches_read = 0; ///< Calls of a reader's next(), the final empty one too.
  std::size_t readers_open = 0; ///< Readers alive now.

  // vfs::Filesystem
  core::Task<core::Result<vfs::Stat>> stat(const vfs::VirtualPath& path) override {
    co_return find(path);
  }
  core::Task<core::Result<vfs::Stat>> lstat(const vfs::VirtualPath& path) override {
    co_return find(path);
  }
  core::Task<core::Result<std::vector<vfs::DirEntry>>> list(const vfs::VirtualPath& dir) override {
    ++list_calls;
    if (!dir.is_root())
      co_return core::unexpected(vfs::Errc::not_found);
    co_return entries_;
  }
  core::Task<core::Result<std::unique_ptr<vfs::DirReader>>>
  open_dir(const vfs::VirtualPath& dir) override {
    if (!dir.is_root())
      co_return core::unexpected(vfs::Errc::not_found);
    co_return std::make_unique<Reader>(*this);
  }
  core::Task<core::Result<std::unique_ptr<vfs::File>>> open_read(const vfs::VirtualPath&,
                                                                 std::uint64_t) override {
    co_return no();
  }
  core::Task<core::Result<std::unique_ptr<vfs::File>>>
  open_write(const vfs::VirtualPath&, vfs::WriteMode, std::uint64_t) override {
    co_return no();
  }
  core::UploadMode upload_mode() const override { return core::UploadMode::atomic; }
  core::Task<core::Result<std::pair<std::unique_ptr<vfs::File>, std::string>>>
  create_unique(const vfs::VirtualPath&, std::string_view) override {
    co_return no();
  }
  core::Task<core::Result<void>> make_directory(const vfs::VirtualPath&, std::uint32_t) override {
    co_return no();
  }
  core::Task<core::Result<void>> remove_directory(const vfs::VirtualPath&) override {
    co_return no();
  }
  core::Task<core::Result<void>> remove_file(const vfs::VirtualPath&) override { co_return no(); }
  core::Task<core::Result<void>> rename(const vfs::VirtualPath&, const vfs::VirtualPath&,
                                        vfs::RenameMode) override {
    co_return no();
  }
  core::Task<core::Result<void>> set_mtime(const vfs::VirtualPath&,
                                           std::chrono::system_clock::time_point) override {
    co_return no();
  }
  core::Task<core::Result<void>> set_mode(const vfs::VirtualPath&, std::uint32_t) override {
    co_return no();
  }
  core::Task<core::Result<std::unique_ptr<vfs::File>>> open(const vfs::VirtualPath&,
                                                            const vfs::OpenFlags&) override {
    co_return no();
  }
  core::Task<core::Result<std::string>> read_link(const vfs::VirtualPath&) override {
    co_return no();
  }
  core::Task<core::Result<void>> make_symlink(const vfs::VirtualPath&,
                                              const vfs::VirtualPath&) override {
    co_return no();
  }
  core::Task<core::Result<void>> make_hard_link(const vfs::VirtualPath&,
                                                const vfs::VirtualPath&) override {
    co_return no();
  }
  core::Task<core::Result<void>> set_size(const vfs::VirtualPath&, std::uint64_t) override {
    co_return no();
  }
  core::Task<core::Result<void>> set_times(const vfs::VirtualPath&,
                                           std::chrono::system_clock::time_point,
                                           std::chrono::system_clock::time_point) override {
    co_return no();
  }
  core::Task<core::Result<vfs::FsStats>> fs_stats(const vfs::VirtualPath&) override {
    co_return no();
  }

private:
  class Reader final : public vfs::DirReader {
  public:
    explicit Reader(BatchFs& fs) : fs_(fs) { ++fs_.readers_open; }
    ~Reader() override { --fs_.readers_open; }
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;

    // vfs::DirReader
    core::Task<core::Result<std::vector<vfs::DirEntry>>> next() override {
      ++fs_.batches_read;
      const std::size_t end = std::min(next_ + fs_.batch_, fs_.entries_.size());
      std::vector<vfs::DirEntry> out(fs_.entries_.begin() + static_cast<std::ptrdiff_t>(next_),
                                     fs_.entries_.begin() + static_cast<std::ptrdiff_t>(end));
      next_ = end;
      co_return out;
    }

  private:
    BatchFs& fs_;
    std::size_t next_ = 0;
  };

  static core::Unexpected no() { return core::unexpected(vfs::Errc::unsupported); }

  core::Result<vfs::Stat> find(const vfs::VirtualPath& path) const {
    if (path.is_root()) {
      vfs::Stat st;
      st.type = vfs::FileType::directory;
      st.mode = 0755;
      return st;
    }
    for (const auto& e : entries_)
      if (path.parent().is_root() && e.name == path.name())
        return e.stat;
    return core::unexpected(vfs::Errc::not_found);
  }

  std::vector<vfs::DirEntry> entries_;
  std::size_t batch_;
};

} // namespace berth::test
