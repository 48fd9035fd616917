#include "vfs/s3/s3_fs.hpp"

// The S3 backend against a real radosgw (s3_fixture.hpp).

#include "vfs/s3/s3_fixture.hpp"

namespace berth::vfs::s3 {
namespace {

TEST_F(S3FsTest, FiftyMiBThroughSeveralPartsComeBackByteExact) {
  auto data = pattern(50u << 20, 1);
  ASSERT_TRUE(run_task(upload(fs_.get(), path("/big.bin"), data, 1u << 20)));
  auto st = run_task(fs_->stat(path("/big.bin")));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->size, data.size());
  auto back = run_task(download(fs_.get(), path("/big.bin")));
  ASSERT_TRUE(back);
  EXPECT_TRUE(*back == data);
  EXPECT_EQ(budget_->available(), budget_->total()); // every part buffer given back
}

core::Task<core::Result<std::vector<std::byte>>> read_pipelined(Filesystem* fs, VirtualPath p,
                                                                std::uint64_t from, std::size_t n) {
  auto file = co_await fs->open(p, OpenFlags{.read = true});
  if (!file)
    co_return core::unexpected(file.error());
  std::vector<std::byte> out(n);
  for (std::size_t at = 0; at < n; at += 32768) {
    auto piece = std::span(out).subspan(at, std::min<std::size_t>(32768, n - at));
    auto got = co_await (*file)->read_at(from + at, piece);
    if (!got)
      co_return core::unexpected(got.error());
    if (*got != piece.size())
      co_return core::unexpected(Errc::io_error);
  }
  co_return out;
}

TEST_F(S3FsTest, ReadAtServesSequentialOffsetsAndJumps) {
  auto data = pattern(6u << 20, 2);
  ASSERT_TRUE(run_task(upload(fs_.get(), path("/r.bin"), data, 1u << 20)));
  auto mid = run_task(read_pipelined(fs_.get(), path("/r.bin"), 1000, 3u << 20));
  ASSERT_TRUE(mid);
  EXPECT_TRUE(std::equal(mid->begin(), mid->end(), data.begin() + 1000));
}

core::Task<core::Result<void>> write_shuffled(Filesystem* fs, VirtualPath p,
                                              std::vector<std::byte> data) {
  OpenFlags flags;
  flags.write = true;
  flags.create = true;
  flags.truncate = true;
  auto file = co_await fs->open(p, flags);
  if (!file)
    co_return core::unexpected(file.error());
  // Pipelined SFTP WRITEs of 32 KiB, arriving shuffled in groups of 64 (2 MiB),
  // some of which straddle a part boundary.
  constexpr std::size_t kChunk = 32768;
  std::vector<std::size_t> offsets;
  for (std::size_t at = 0; at < data.size(); at += kChunk)
    offsets.push_back(at);
  std::mt19937 gen(7);
  for (std::size_t g = 0; g < offsets.size(); g += 64)
    std::shuffle(offsets.begin() + static_cast<std::ptrdiff_t>(g),
                 offsets.begin() + static_cast<std::ptrdiff_t>(std::min(g + 64, offsets.size())),
                 gen);
  for (auto at : offsets) {
    auto piece = std::span<const std::byte>(data).subspan(at, std::min(kChunk, data.size() - at));
    auto w = co_await (*file)->write_at(at, piece);
    if (!w)
      co_return w;
  }
  co_return co_await (*file)->commit();
}

TEST_F(S3FsTest, OutOfOrderWriteAtWithinTheWindowIsAssembled) {
  auto data = pattern((12u << 20) + 777, 3);
  auto w = run_task(write_shuffled(fs_.get(), path("/sftp.bin"), data));
  ASSERT_TRUE(w) << w.error().message();
  auto back = run_task(download(fs_.get(), path("/sftp.bin")));
  ASSERT_TRUE(back);
  EXPECT_TRUE(*back == data);
}

/// Writes `data` and drops the File without commit().
core::Task<core::Result<void>> write_and_drop(Filesystem* fs, VirtualPath p,
                                              std::vector<std::byte> data) {
  auto file = co_await fs->open_write(p, WriteMode::replace, 0);
  if (!file)
    co_return core::unexpected(file.error());
  co_return co_await (*file)->write(data);
}

TEST_F(S3FsTest, AnUploadWithoutCommitLeavesNothing) {
  auto data = pattern(12u << 20, 4); // two parts sent, one in the buffer
  ASSERT_TRUE(run_task(write_and_drop(fs_.get(), path("/gone.bin"), data)));
  // run_task returned once the loop was idle: the spawned abort has run.
  EXPECT_EQ(run_task(fs_->stat(path("/gone.bin"))).error(), make_error_code(Errc::not_found));
  auto listing = run_task(fs_->list(path("/")));
  ASSERT_TRUE(listing);
  EXPECT_TRUE(listing->empty());
  EXPECT_EQ(tool("uploads"), "0");
  EXPECT_EQ(tool("keys", "homes/"), "0");
}

TEST_F(S3FsTest, ADroppedReplacementKeepsTheOldObject) {
  auto old = pattern(1u << 20, 5);
  ASSERT_TRUE(run_task(upload(fs_.get(), path("/keep.bin"), old, 65536)));
  auto next = pattern(7u << 20, 6);
  ASSERT_TRUE(run_task(write_and_drop(fs_.get(), path("/keep.bin"), next)));
  auto back = run_task(download(fs_.get(), path("/keep.bin")));
  ASSERT_TRUE(back);
  EXPECT_TRUE(*back == old);
  EXPECT_EQ(tool("uploads"), "0");
}

TEST_F(S3FsTest, AFolderOfAHundredObjectsIsRenamed) {
  ASSERT_TRUE(run_task(fs_->make_directory(path("/src"), 0755)));
  ASSERT_TRUE(run_task(fs_->make_directory(path("/src/sub"), 0755)));
  for (int i = 0; i < 100; ++i)
    put_raw("src/sub/f" + std::to_string(i), "content " + std::to_string(i));
  auto r = run_task(fs_->rename(path("/src"), path("/dst"), RenameMode::no_replace));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(run_task(fs_->stat(path("/src"))).error(), make_error_code(Errc::not_found));
  auto moved = run_task(fs_->list(path("/dst/sub")));
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->size(), 100u);
  auto one = run_task(download(fs_.get(), path("/dst/sub/f42")));
  ASSERT_TRUE(one);
  std::string text(reinterpret_cast<const char*>(one->data()), one->size());
  EXPECT_EQ(text, "content 42");
  EXPECT_EQ(tool("keys", "homes/alice/src"), "0");
  EXPECT_EQ(tool("keys", "homes/alice/dst/"), "102"); // two markers and 100 files
  // no_replace refuses an existing target; moving a folder into itself is refused.
  ASSERT_TRUE(run_task(fs_->make_directory(path("/other"), 0755)));
  EXPECT_EQ(run_task(fs_->rename(path("/dst"), path("/other"), RenameMode::no_replace)).error(),
            make_error_code(Errc::exists));
  EXPECT_EQ(run_task(fs_->rename(path("/dst"), path("/dst/sub/x"), RenameMode::replace)).error(),
            make_error_code(Errc::invalid_name));
}

core::Task<core::Result<std::vector<std::size_t>>> read_batches(Filesystem* fs, VirtualPath dir,
                                                                std::vector<std::string>* names) {
  auto reader = co_await fs->open_dir(dir);
  if (!reader)
    co_return core::unexpected(reader.error());
  std::vector<std::size_t> sizes;
  for (;;) {
    auto batch = co_await (*reader)->next();
    if (!batch)
      co_return core::unexpected(batch.error());
    if (batch->empty())
      break;
    sizes.push_back(batch->size());
    for (auto& e : *batch)
      names->push_back(e.name);
  }
  co_return sizes;
}

TEST_F(S3FsTest, OpenDirPagesThroughMoreThanAThousandObjects) {
  ASSERT_TRUE(run_task(fs_->make_directory(path("/many"), 0755)));
  std::vector<std::string> expected;
  for (int i = 0; i < 1100; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "n%05d", i);
    expected.emplace_back(name);
    put_raw(std::string("many/") + name, "x");
  }
  ASSERT_TRUE(run_task(fs_->make_directory(path("/many/zz-folder"), 0755)));
  expected.emplace_back("zz-folder");
  std::vector<std::string> names;
  auto sizes = run_task(read_batches(fs_.get(), path("/many"), &names));
  ASSERT_TRUE(sizes);
  EXPECT_GE(sizes->size(), 2u); // more than one page, streamed
  EXPECT_EQ(names, expected);   // in order, the folder's own marker hidden
  auto whole = run_task(fs_->list(path("/many")));
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->size(), 1101u);
}

core::Task<void> upload_noting(Filesystem* fs, VirtualPath p, std::vector<std::byte> data,
                               MemoryBudget* budget, std::size_t* max_waiting,
                               std::optional<core::Result<void>>* out) {
  auto file = co_await fs->open_write(p, WriteMode::replace, 0);
  if (!file) {
    out->emplace(core::unexpected(file.error()));
    co_return;
  }
  for (std::size_t at = 0; at < data.size(); at += 65536) {
    auto piece = std::span<const std::byte>(data).subspan(
        at, std::min<std::size_t>(65536, data.size() - at));
    auto w = co_await (*file)->write(piece);
    *max_waiting = std::max(*max_waiting, budget->waiting());
    if (!w) {
      out->emplace(w);
      co_return;
    }
  }
  out->emplace(co_await (*file)->commit());
}

TEST_F(S3FsTest, TwoUploadsShareABudgetOfOnePart) {
  auto budget = std::make_shared<MemoryBudget>(kPart);
  auto fs = open_fs(budget);
  auto a = pattern((11u << 20) + 5, 8);
  auto b = pattern((13u << 20) + 9, 9);
  std::size_t max_waiting = 0;
  std::optional<core::Result<void>> ra, rb;
  auto& ctx = ctx_;
  ctx.restart();
  asio::co_spawn(ctx, upload_noting(fs.get(), path("/a.bin"), a, budget.get(), &max_waiting, &ra),
                 asio::detached);
  asio::co_spawn(ctx, upload_noting(fs.get(), path("/b.bin"), b, budget.get(), &max_waiting, &rb),
                 asio::detached);
  ctx.run();
  ASSERT_TRUE(ra && rb);
  ASSERT_TRUE(*ra) << ra->error().message();
  ASSERT_TRUE(*rb) << rb->error().message();
  EXPECT_GE(max_waiting, 1u); // one upload waited for the other's buffer
  auto back_a = run_task(download(fs.get(), path("/a.bin")));
  auto back_b = run_task(download(fs.get(), path("/b.bin")));
  ASSERT_TRUE(back_a && back_b);
  EXPECT_TRUE(*back_a == a);
  EXPECT_TRUE(*back_b == b);
  EXPECT_EQ(budget->available(), kPart);
}

TEST_F(S3FsTest, FoldersFilesAndTimes) {
  EXPECT_EQ(run_task(fs_->make_directory(path("/d/e"), 0755)).error(),
            make_error_code(Errc::not_found)); // no parent
  ASSERT_TRUE(run_task(fs_->make_directory(path("/d"), 0755)));
  EXPECT_EQ(run_task(fs_->make_directory(path("/d"), 0755)).error(), make_error_code(Errc::exists));
  auto data = pattern(1000, 10);
  ASSERT_TRUE(run_task(upload(fs_.get(), path("/d/f"), data, 100)));
  EXPECT_EQ(run_task(fs_->remove_directory(path("/d"))).error(), make_error_code(Errc::not_empty));
  const auto when = std::chrono::system_clock::time_point(std::chrono::seconds(1000000000));
  ASSERT_TRUE(run_task(fs_->set_mtime(path("/d/f"), when)));
  auto st = run_task(fs_->stat(path("/d/f")));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->mtime, when);
  auto listing = run_task(fs_->list(path("/d")));
  ASSERT_TRUE(listing);
  ASSERT_EQ(listing->size(), 1u);
  EXPECT_EQ((*listing)[0].stat.mtime, when); // a small folder shows the stored time
  EXPECT_EQ(run_task(fs_->set_mode(path("/d/f"), 0600)).error(),
            make_error_code(Errc::unsupported));
  EXPECT_EQ(run_task(fs_->open_read(path("/d"), 0)).error(), make_error_code(Errc::is_directory));
  ASSERT_TRUE(run_task(fs_->remove_file(path("/d/f"))));
  ASSERT_TRUE(run_task(fs_->remove_directory(path("/d"))));
  EXPECT_EQ(run_task(fs_->stat(path("/d"))).error(), make_error_code(Errc::not_found));
}

core::Task<core::Result<void>> append(Filesystem* fs, VirtualPath p, std::vector<std::byte> data) {
  auto file = co_await fs->open_write(p, WriteMode::append, 0);
  if (!file)
    co_return core::unexpected(file.error());
  auto w = co_await (*file)->write(data);
  if (!w)
    co_return w;
  co_return co_await (*file)->commit();
}

TEST_F(S3FsTest, AppendKeepsTheObjectsBytesSmallAndLarge) {
  for (std::size_t first : {std::size_t{100000}, std::size_t{6u << 20}}) {
    auto head = pattern(first, 11);
    auto tail = pattern(3u << 20, 12);
    ASSERT_TRUE(run_task(upload(fs_.get(), path("/app.bin"), head, 1u << 20)));
    auto r = run_task(append(fs_.get(), path("/app.bin"), tail));
    ASSERT_TRUE(r) << r.error().message();
    auto back = run_task(download(fs_.get(), path("/app.bin")));
    ASSERT_TRUE(back);
    head.insert(head.end(), tail.begin(), tail.end());
    EXPECT_TRUE(*back == head) << "first " << first;
  }
}

TEST_F(S3FsTest, CreateNeverReplaces) {
  auto data = pattern(10, 13);
  ASSERT_TRUE(run_task(upload(fs_.get(), path("/c"), data, 10)));
  EXPECT_EQ(run_task(fs_->open_write(path("/c"), WriteMode::create, 0)).error(),
            make_error_code(Errc::exists));
}

TEST_F(S3FsTest, UsageCountsFilesAndFolders) {
  ASSERT_TRUE(run_task(fs_->make_directory(path("/u"), 0755)));
  put_raw("u/a", "12345");
  put_raw("v/w/b", "1");
  auto usage = run_task(count_usage(*client_, "homes/alice"));
  ASSERT_TRUE(usage);
  // Files a and b, folders u, v and v/w.
  EXPECT_EQ(usage->files, 5);
  EXPECT_EQ(usage->bytes, 6 + 3 * kEntryBytes);
}

core::Task<core::Result<void>> reput(Filesystem* fs, VirtualPath p, std::uint64_t from,
                                     std::vector<std::byte> data) {
  OpenFlags flags;
  flags.write = true;
  flags.create = true;
  auto file = co_await fs->open(p, flags);
  if (!file)
    co_return core::unexpected(file.error());
  auto w = co_await (*file)->write_at(from, data);
  if (!w)
    co_return w;
  co_return co_await (*file)->commit();
}

TEST_F(S3FsTest, ResumeKeepsThePrefixAndAFileRenameMovesIt) {
  auto whole = pattern(3u << 20, 14);
  std::vector<std::byte> first(whole.begin(), whole.begin() + (1u << 20));
  std::vector<std::byte> rest(whole.begin() + (1u << 20), whole.end());
  ASSERT_TRUE(run_task(upload(fs_.get(), path("/p.bin"), first, 65536)));
  // SFTP reput: an open without truncate, writing from the size it found.
  auto r = run_task(reput(fs_.get(), path("/p.bin"), 1u << 20, rest));
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_TRUE(run_task(fs_->rename(path("/p.bin"), path("/q.bin"), RenameMode::replace)));
  EXPECT_EQ(run_task(fs_->stat(path("/p.bin"))).error(), make_error_code(Errc::not_found));
  auto back = run_task(download(fs_.get(), path("/q.bin")));
  ASSERT_TRUE(back);
  EXPECT_TRUE(*back == whole);
}

TEST_F(S3FsTest, AFolderListedAfterItsLongerNamesStillComesFirst) {
  // S3 lists "f-0000".."f-1199" before the prefix "f/" ('-' < '/'), a page
  // later; by name, folder "f" comes first.
  for (int i = 0; i < 1200; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "f-%04d", i);
    put_raw(name, "x");
  }
  put_raw("f/inner", "y");
  std::vector<std::string> names;
  auto sizes = run_task(read_batches(fs_.get(), path("/"), &names));
  ASSERT_TRUE(sizes);
  ASSERT_EQ(names.size(), 1201u);
  EXPECT_EQ(names.front(), "f");
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
}

} // namespace
} // namespace berth::vfs::s3
