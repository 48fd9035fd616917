#include "vfs/s3/spool.hpp"

// Uploads written far out of order (sshfs random writes) go through the local
// spool, against a real radosgw (s3_fixture.hpp).

#include "vfs/s3/s3_fixture.hpp"

#include <filesystem>
#include <numeric>

namespace berth::vfs::s3 {
namespace {

constexpr std::size_t kChunk = 32768;

/// The descriptors of this process open on a file in `dir` (a nameless file
/// shows as "dir/#inode (deleted)").
std::size_t open_in(const std::filesystem::path& dir) {
  std::size_t n = 0;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(fd.path(), ec).string();
    if (!ec && target.rfind(dir.string() + "/", 0) == 0)
      ++n;
  }
  return n;
}

/// Opens `p` as SFTP does (write, create, truncate).
core::Task<core::Result<std::unique_ptr<File>>> open_sftp(Filesystem* fs, VirtualPath p) {
  OpenFlags flags;
  flags.read = true;
  flags.write = true;
  flags.create = true;
  flags.truncate = true;
  co_return co_await fs->open(p, flags);
}

/// Writes `data` at the offsets of `order` (kChunk pieces): the first
/// `in_order` bytes sequentially, the rest shuffled. Stops at the first refusal.
core::Task<core::Result<void>> write_scattered(File* file, const std::vector<std::byte>& data,
                                               std::size_t in_order, std::uint32_t seed) {
  std::vector<std::size_t> offsets;
  for (std::size_t at = 0; at < data.size(); at += kChunk)
    offsets.push_back(at);
  const auto first = static_cast<std::ptrdiff_t>(in_order / kChunk);
  std::mt19937 gen(seed);
  std::shuffle(offsets.begin() + first, offsets.end(), gen);
  for (auto at : offsets) {
    auto piece = std::span<const std::byte>(data).subspan(at, std::min(kChunk, data.size() - at));
    auto w = co_await file->write_at(at, piece);
    if (!w)
      co_return w;
  }
  co_return core::Result<void>{};
}

struct Outcome {
  core::Result<void> written;
  core::Result<void> committed;
  std::vector<std::byte> read_back; ///< read_at(`peek`) before the commit.
  std::size_t spool_files = 0;      ///< Spool files open before the commit.
};

core::Task<core::Result<Outcome>> scatter_and_commit(Filesystem* fs, VirtualPath p,
                                                     std::vector<std::byte> data,
                                                     std::size_t in_order, std::uint64_t peek,
                                                     std::filesystem::path dir) {
  auto file = co_await open_sftp(fs, p);
  if (!file)
    co_return core::unexpected(file.error());
  Outcome out;
  out.written = co_await write_scattered(file->get(), data, in_order, 11);
  out.spool_files = open_in(dir);
  out.read_back.resize(100000);
  auto n = co_await (*file)->read_at(peek, out.read_back);
  out.read_back.resize(n ? *n : 0);
  if (out.written)
    out.committed = co_await (*file)->commit();
  co_return out;
}

/// Writes `data` scattered and drops the File without commit().
core::Task<core::Result<std::size_t>> scatter_and_drop(Filesystem* fs, VirtualPath p,
                                                       std::vector<std::byte> data,
                                                       std::filesystem::path dir) {
  auto file = co_await open_sftp(fs, p);
  if (!file)
    co_return core::unexpected(file.error());
  auto w = co_await write_scattered(file->get(), data, 0, 12);
  if (!w)
    co_return core::unexpected(w.error());
  co_return open_in(dir);
}

class S3SpoolTest : public S3FsTest {
protected:
  void SetUp() override {
    S3FsTest::SetUp();
    char tmpl[] = "/tmp/berth-spool-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    use_spool(64ull << 20);
  }
  void TearDown() override {
    fs_.reset();
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  void use_spool(std::uint64_t limit) {
    spool_ = std::make_shared<SpoolSpace>(dir(), limit, nullptr);
    fs_ = open_fs(budget_);
  }
  std::filesystem::path dir() const { return root_ / "spool"; }
  /// The names in the spool folder (none: its files never have one).
  std::size_t names() const {
    std::error_code ec;
    auto it = std::filesystem::directory_iterator(dir(), ec);
    return ec ? 0 : static_cast<std::size_t>(std::distance(it, {}));
  }

  std::filesystem::path root_;
};

TEST_F(S3SpoolTest, RandomOrderWritesAcrossManyPartsAreByteExact) {
  auto data = pattern((23u << 20) + 333, 20); // five parts
  auto out = run_task(scatter_and_commit(fs_.get(), path("/random.bin"), data, 0, 7u << 20, dir()));
  ASSERT_TRUE(out);
  ASSERT_TRUE(out->written) << out->written.error().message();
  ASSERT_TRUE(out->committed) << out->committed.error().message();
  EXPECT_EQ(out->spool_files, 1u);
  ASSERT_EQ(out->read_back.size(), 100000u); // what was written reads back before the commit
  EXPECT_TRUE(std::equal(out->read_back.begin(), out->read_back.end(), data.begin() + (7 << 20)));
  auto back = run_task(download(fs_.get(), path("/random.bin")));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->size(), data.size());
  EXPECT_TRUE(*back == data);
  EXPECT_EQ(spool_->used(), 0u);
  EXPECT_EQ(open_in(dir()), 0u);
  EXPECT_EQ(names(), 0u);
  EXPECT_EQ(budget_->available(), budget_->total());
  EXPECT_EQ(tool("uploads"), "0");
}

TEST_F(S3SpoolTest, PartsSentBeforeTheSwitchAreKept) {
  // Two parts go out in order, then the rest arrives shuffled: the spool
  // starts at the third part and the first two are not sent again.
  auto data = pattern((21u << 20) + 5, 21);
  auto out =
      run_task(scatter_and_commit(fs_.get(), path("/tail.bin"), data, 12u << 20, 16u << 20, dir()));
  ASSERT_TRUE(out);
  ASSERT_TRUE(out->written) << out->written.error().message();
  ASSERT_TRUE(out->committed) << out->committed.error().message();
  auto back = run_task(download(fs_.get(), path("/tail.bin")));
  ASSERT_TRUE(back);
  EXPECT_TRUE(*back == data);
  EXPECT_EQ(spool_->used(), 0u);
}

TEST_F(S3SpoolTest, AFullSpoolRefusesClearlyAndNothingAppears) {
  use_spool(6ull << 20);
  auto data = pattern(20u << 20, 22);
  auto out = run_task(scatter_and_commit(fs_.get(), path("/full.bin"), data, 0, 0, dir()));
  ASSERT_TRUE(out);
  ASSERT_FALSE(out->written);
  EXPECT_EQ(out->written.error(), make_error_code(Errc::no_space));
  // Later writes and the commit refuse too: the file misses bytes.
  auto file = run_task(open_sftp(fs_.get(), path("/full.bin")));
  ASSERT_TRUE(file);
  auto w = run_task(write_scattered(file->get(), data, 0, 13));
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error(), make_error_code(Errc::no_space));
  EXPECT_EQ(run_task((*file)->commit()).error(), make_error_code(Errc::no_space));
  file->reset();
  (void)run_task(fs_->stat(path("/"))); // lets the spawned abort run
  EXPECT_EQ(run_task(fs_->stat(path("/full.bin"))).error(), make_error_code(Errc::not_found));
  EXPECT_EQ(tool("uploads"), "0");
  EXPECT_EQ(tool("keys", "homes/"), "0");
  EXPECT_EQ(spool_->used(), 0u);
  EXPECT_EQ(open_in(dir()), 0u);
}

TEST_F(S3SpoolTest, AnAbortedUploadLeavesNoSpoolAndNothingVisible) {
  auto data = pattern(17u << 20, 23);
  auto spooled = run_task(scatter_and_drop(fs_.get(), path("/gone.bin"), data, dir()));
  ASSERT_TRUE(spooled) << spooled.error().message();
  EXPECT_EQ(*spooled, 1u); // one spool file while the upload ran
  EXPECT_EQ(open_in(dir()), 0u);
  EXPECT_EQ(names(), 0u);
  EXPECT_EQ(spool_->used(), 0u);
  EXPECT_EQ(run_task(fs_->stat(path("/gone.bin"))).error(), make_error_code(Errc::not_found));
  EXPECT_EQ(tool("uploads"), "0");
  EXPECT_EQ(tool("keys", "homes/"), "0");
}

TEST_F(S3SpoolTest, WithoutASpoolAFarWriteIsUnsupported) {
  spool_.reset();
  fs_ = open_fs(budget_);
  auto data = pattern(12u << 20, 24);
  auto out = run_task(scatter_and_commit(fs_.get(), path("/no.bin"), data, 0, 0, dir()));
  ASSERT_TRUE(out);
  ASSERT_FALSE(out->written);
  EXPECT_EQ(out->written.error(), make_error_code(Errc::unsupported));
}

} // namespace
} // namespace berth::vfs::s3
