// LocalFs operations added for SFTP: random-access open, lstat, links, sizes,
// times and filesystem statistics. The jail itself is tested in local_fs_test.cpp.
#include "vfs/local/local_fs.hpp"

#include "support/run_task.hpp"
#include "support/temp_dir.hpp"
#include "support/vfs_helpers.hpp"
#include "vfs/errc.hpp"

#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <initializer_list>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace berth::vfs {
namespace {

namespace fs = std::filesystem;
using test::bytes;
using test::run_task;
using test::slurp;
using test::vp;

struct stat host_lstat(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0)
    ADD_FAILURE() << "lstat " << p;
  return st;
}

std::string host_readlink(const fs::path& p) {
  std::array<char, 4096> buf{};
  ssize_t n = ::readlink(p.c_str(), buf.data(), buf.size());
  if (n < 0)
    return "<not a link>";
  return {buf.data(), static_cast<std::size_t>(n)};
}

// The host's own resolution of `p`, following every symlink as any host process would.
fs::path host_realpath(const fs::path& p) {
  std::array<char, PATH_MAX> buf{};
  if (::realpath(p.c_str(), buf.data()) == nullptr)
    return {};
  return buf.data();
}

OpenFlags flags(std::string_view letters, std::uint32_t mode = 0666) {
  OpenFlags f;
  f.read = letters.find('r') != std::string_view::npos;
  f.write = letters.find('w') != std::string_view::npos;
  f.append = letters.find('a') != std::string_view::npos;
  f.create = letters.find('c') != std::string_view::npos;
  f.truncate = letters.find('t') != std::string_view::npos;
  f.exclusive = letters.find('x') != std::string_view::npos;
  f.mode = mode;
  return f;
}

// The home is outer/root; outer also holds files a jailed user must never reach.
class LocalFsSftpTest : public ::testing::Test {
protected:
  void SetUp() override {
    root_ = outer_.path() / "root";
    fs::create_directory(root_);
    secret_ = outer_.write("secret.txt", "outside");
    fs::create_directory(outer_.path() / "outdir");
    put("file.txt", "hello");
    fs::create_directory(root_ / "dir");
    put("dir/inner.txt", "inner");
    fs::create_symlink("file.txt", root_ / "in_link");
    fs::create_symlink(secret_, root_ / "outside_abs");
    fs::create_symlink("../secret.txt", root_ / "outside_rel");
    fs::create_directory_symlink(outer_.path() / "outdir", root_ / "outdir_link");
    fs::create_directory_symlink("..", root_ / "up_link");
    fs::create_directory_symlink("dir", root_ / "dir_link");
    fs::create_symlink("nothing-here", root_ / "dangling");
    fs::create_symlink(outer_.path() / "outdir" / "planted", root_ / "dangling_out");

    auto lfs = LocalFs::open(root_);
    ASSERT_TRUE(lfs) << lfs.error().message();
    fs_ = std::move(*lfs);
  }

  fs::path put(const fs::path& rel, std::string_view content) const {
    return outer_.write(fs::path("root") / rel, content);
  }

  std::unique_ptr<File> open(std::string_view path, const OpenFlags& f) const {
    auto r = run_task(fs_->open(vp(path), f));
    if (!r) {
      ADD_FAILURE() << "open " << path << ": " << r.error().message();
      return nullptr;
    }
    return std::move(*r);
  }

  std::error_code open_error(std::string_view path, const OpenFlags& f) const {
    auto r = run_task(fs_->open(vp(path), f));
    return r ? std::error_code() : r.error();
  }

  static std::string read_at(File& f, std::uint64_t offset, std::size_t n) {
    std::string out(n, '\0');
    auto r = run_task(f.read_at(offset, std::as_writable_bytes(std::span<char>(out))));
    if (!r)
      return "<" + r.error().message() + ">";
    out.resize(*r);
    return out;
  }

  static void write_at(File& f, std::uint64_t offset, std::string_view data) {
    auto r = run_task(f.write_at(offset, bytes(data)));
    EXPECT_TRUE(r) << r.error().message();
  }

  bool has_temp_files(const fs::path& dir) const {
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().filename().string().rfind(".berth-upload-", 0) == 0)
        return true;
    return false;
  }

  test::TempDir outer_;
  fs::path root_;
  fs::path secret_;
  std::unique_ptr<LocalFs> fs_;
};

// --- open -------------------------------------------------------------------

TEST_F(LocalFsSftpTest, ReplaceOpenKeepsOldContentUntilCommit) {
  const auto inode = host_lstat(root_ / "file.txt").st_ino;
  auto f = open("/file.txt", flags("rwct"));
  ASSERT_TRUE(f);
  write_at(*f, 0, "new ");
  write_at(*f, 4, "content");
  EXPECT_EQ(read_at(*f, 4, 100), "content");
  EXPECT_EQ(slurp(root_ / "file.txt"), "hello");
  EXPECT_EQ(host_lstat(root_ / "file.txt").st_ino, inode);
  EXPECT_TRUE(has_temp_files(root_));
  ASSERT_TRUE(run_task(f->commit()));
  EXPECT_EQ(slurp(root_ / "file.txt"), "new content");
  EXPECT_FALSE(has_temp_files(root_));
  f.reset();
  EXPECT_EQ(slurp(root_ / "file.txt"), "new content");
}

TEST_F(LocalFsSftpTest, ReplaceOpenWithoutCommitIsDiscarded) {
  auto f = open("/file.txt", flags("wct"));
  ASSERT_TRUE(f);
  write_at(*f, 0, "partial");
  f.reset();
  EXPECT_EQ(slurp(root_ / "file.txt"), "hello");
  EXPECT_FALSE(has_temp_files(root_));

  // A new file is at its name from the open (issue 17, item 3): interrupted,
  // it stays partial, as in the direct mode; nothing complete was lost.
  auto fresh = open("/dir/fresh.txt", flags("wct"));
  ASSERT_TRUE(fresh);
  EXPECT_TRUE(fs::exists(root_ / "dir" / "fresh.txt"));
  write_at(*fresh, 0, "x");
  fresh.reset();
  EXPECT_EQ(slurp(root_ / "dir" / "fresh.txt"), "x");
  EXPECT_FALSE(has_temp_files(root_ / "dir"));
}

TEST_F(LocalFsSftpTest, DirectModeTruncatesInPlace) {
  auto lfs = LocalFs::open(root_, nullptr, core::UploadMode::direct);
  ASSERT_TRUE(lfs);
  fs_ = std::move(*lfs);
  const auto inode = host_lstat(root_ / "file.txt").st_ino;
  auto f = open("/file.txt", flags("wct"));
  ASSERT_TRUE(f);
  EXPECT_EQ(slurp(root_ / "file.txt"), "");
  write_at(*f, 0, "partial");
  f.reset();
  EXPECT_EQ(slurp(root_ / "file.txt"), "partial");
  EXPECT_EQ(host_lstat(root_ / "file.txt").st_ino, inode);
  EXPECT_FALSE(has_temp_files(root_));
}

TEST_F(LocalFsSftpTest, ReplaceOpenModes) {
  // A new file takes the requested mode without special bits; an old one keeps its own.
  auto f = open("/new.txt", flags("wct", 04600));
  ASSERT_TRUE(f);
  ASSERT_TRUE(run_task(f->commit()));
  EXPECT_EQ(host_lstat(root_ / "new.txt").st_mode & 07777, 0600u);

  fs::permissions(root_ / "file.txt", fs::perms(0640));
  auto g = open("/file.txt", flags("wct", 0666));
  ASSERT_TRUE(g);
  write_at(*g, 0, "x");
  ASSERT_TRUE(run_task(g->commit()));
  EXPECT_EQ(host_lstat(root_ / "file.txt").st_mode & 07777, 0640u);
}

TEST_F(LocalFsSftpTest, ReplaceOpenNeverWritesOutside) {
  for (const char* path : {"/outside_abs", "/outside_rel", "/outdir_link/x", "/dangling_out"}) {
    SCOPED_TRACE(path);
    auto f = run_task(fs_->open(vp(path), flags("wct")));
    if (f) {
      (void)run_task((*f)->write_at(0, bytes("pwned")));
      (void)run_task((*f)->commit());
    }
  }
  EXPECT_EQ(slurp(secret_), "outside");
  EXPECT_TRUE(fs::is_empty(outer_.path() / "outdir"));
}

TEST_F(LocalFsSftpTest, ExclusiveCreate) {
  auto f = open("/dir/excl.txt", flags("wcx", 0600));
  ASSERT_TRUE(f);
  write_at(*f, 0, "first");
  ASSERT_TRUE(run_task(f->commit()));
  f.reset();
  EXPECT_EQ(slurp(root_ / "dir" / "excl.txt"), "first");
  EXPECT_EQ(host_lstat(root_ / "dir" / "excl.txt").st_mode & 07777, 0600u);

  EXPECT_EQ(open_error("/dir/excl.txt", flags("wcx")), Errc::exists);
  EXPECT_EQ(open_error("/file.txt", flags("wctx")), Errc::exists);
  EXPECT_EQ(open_error("/dir", flags("wcx")), Errc::exists);
  EXPECT_EQ(slurp(root_ / "file.txt"), "hello");
}

TEST_F(LocalFsSftpTest, ExclusiveCreateNeverFollowsFinalSymlink) {
  EXPECT_EQ(open_error("/dangling", flags("wcx")), Errc::exists);
  EXPECT_FALSE(fs::exists(fs::symlink_status(root_ / "nothing-here")));
  EXPECT_EQ(open_error("/dangling_out", flags("wcx")), Errc::exists);
  EXPECT_TRUE(fs::is_empty(outer_.path() / "outdir"));
  EXPECT_EQ(open_error("/in_link", flags("wctx")), Errc::exists);
  EXPECT_EQ(slurp(root_ / "file.txt"), "hello");
}

TEST_F(LocalFsSftpTest, ReadAtOffsets) {
  auto f = open("/file.txt", flags("r"));
  ASSERT_TRUE(f);
  EXPECT_EQ(read_at(*f, 0, 5), "hello");
  EXPECT_EQ(read_at(*f, 3, 100), "lo");
  EXPECT_EQ(read_at(*f, 1, 2), "el");
  EXPECT_EQ(read_at(*f, 5, 10), "");
  EXPECT_EQ(read_at(*f, 1000, 10), "");
  EXPECT_EQ(read_at(*f, std::numeric_limits<std::uint64_t>::max(), 10), "");
  EXPECT_EQ(f->zero_copy()->position(), 0u);
  EXPECT_EQ(run_task(f->write_at(0, bytes("x"))).error(), Errc::permission_denied);
  EXPECT_EQ(run_task(f->set_size(0)).error(), Errc::permission_denied);
  ASSERT_TRUE(run_task(f->commit())); // nothing to do
  EXPECT_EQ(slurp(root_ / "file.txt"), "hello");
}

TEST_F(LocalFsSftpTest, WriteAtInPlace) {
  put("file.txt", "hello world");
  const auto inode = host_lstat(root_ / "file.txt").st_ino;
  auto f = open("/file.txt", flags("rw"));
  ASSERT_TRUE(f);
  write_at(*f, 6, "WORLD");
  write_at(*f, 0, "J");
  EXPECT_EQ(slurp(root_ / "file.txt"), "Jello WORLD");
  write_at(*f, 13, "!"); // past the end: a hole of zeros
  EXPECT_EQ(read_at(*f, 10, 10), std::string("D\0\0!", 4));
  ASSERT_TRUE(run_task(f->commit())); // never truncates an in-place open
  f.reset();
  EXPECT_EQ(slurp(root_ / "file.txt"), std::string("Jello WORLD\0\0!", 14));
  EXPECT_EQ(host_lstat(root_ / "file.txt").st_ino, inode);

  auto w = open("/file.txt", flags("w"));
  ASSERT_TRUE(w);
  EXPECT_EQ(read_at(*w, 0, 1), "<Permission denied>");
}

// With an I/O pool, a read whose pages are not cached (evicted here; tmpfs
// refuses RWF_NOWAIT outright) falls back to the pool instead of failing.
TEST_F(LocalFsSftpTest, UncachedReadsGoToThePool) {
  std::string content(3 << 20, '\0');
  for (std::size_t i = 0; i < content.size(); ++i)
    content[i] = static_cast<char>(i * 31 + 7);
  const fs::path host = put("cold.bin", content);
  core::WorkerPool pool(2);
  auto lfs = LocalFs::open_for_test(root_, &pool);
  ASSERT_TRUE(lfs);
  auto f = run_task((*lfs)->open(vp("/cold.bin"), flags("r")));
  ASSERT_TRUE(f);
  int fd = ::open(host.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
  std::string got;
  while (got.size() < content.size()) {
    std::string chunk = read_at(**f, got.size(), 256 * 1024);
    ASSERT_FALSE(chunk.empty());
    ASSERT_NE(chunk.front(), '<') << chunk;
    got += chunk;
  }
  EXPECT_EQ(got, content);
  EXPECT_EQ(read_at(**f, content.size(), 10), "");
  auto w = run_task((*lfs)->open(vp("/cold.bin"), flags("rw")));
  ASSERT_TRUE(w);
  write_at(**w, 1, "xyz");
  EXPECT_EQ(read_at(**w, 0, 5), content.substr(0, 1) + "xyz" + content.substr(4, 1));
}

// Issue 17: with a file partly in the page cache, RWF_NOWAIT read the cached
// head of a range and read_at returned it, a short SFTP READ mid-file that
// clients took for the end (or a damaged file). Every read_at and read must
// now return the whole range short of the end of the file.
TEST_F(LocalFsSftpTest, PartlyCachedReadsReturnTheWholeRange) {
  constexpr std::size_t kPage = 4096;
  std::string content(64 * kPage + 123, '\0');
  for (std::size_t i = 0; i < content.size(); ++i)
    content[i] = static_cast<char>(i * 131 + i / 7);
  const fs::path host = put("patchy.bin", content);
  struct statfs sfs {};
  ASSERT_EQ(::statfs(host.c_str(), &sfs), 0);
  if (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC)
    GTEST_SKIP() << "the temporary directory is in memory: nothing to evict";
  core::WorkerPool pool(1);
  auto lfs = LocalFs::open_for_test(root_, &pool);
  ASSERT_TRUE(lfs);
  // Evicts the file, then reads every fourth page back in (without readahead).
  auto patchy = [&host] {
    int fd = ::open(host.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
    std::array<char, kPage> page{};
    for (off_t at = 0; at < 64 * static_cast<off_t>(kPage); at += 4 * kPage)
      ASSERT_EQ(::pread(fd, page.data(), page.size(), at), static_cast<ssize_t>(kPage));
    ::close(fd);
  };
  for (std::size_t chunk : {std::size_t{32768}, std::size_t{65536}, 3 * kPage + 17}) {
    SCOPED_TRACE(chunk);
    auto f = run_task((*lfs)->open(vp("/patchy.bin"), flags("r")));
    ASSERT_TRUE(f);
    patchy();
    std::string got;
    while (got.size() < content.size()) {
      std::string piece = read_at(**f, got.size(), chunk);
      ASSERT_NE(piece.substr(0, 1), "<") << piece;
      ASSERT_EQ(piece.size(), std::min(chunk, content.size() - got.size())) << "at " << got.size();
      got += piece;
    }
    EXPECT_EQ(got, content);
    EXPECT_EQ(read_at(**f, content.size(), chunk), "");
  }
  // Sequential reads (FTP) keep the same promise.
  auto r = run_task((*lfs)->open_read(vp("/patchy.bin"), kPage));
  ASSERT_TRUE(r);
  patchy();
  std::string all(content.size(), '\0');
  auto n = run_task((*r)->read(std::as_writable_bytes(std::span<char>(all))));
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, content.size() - kPage);
  all.resize(*n);
  EXPECT_EQ(all, content.substr(kPage));
  EXPECT_EQ((*r)->zero_copy()->position(), content.size());
}

TEST_F(LocalFsSftpTest, OpenInPlaceCreateAndTruncate) {
  EXPECT_EQ(open_error("/missing.txt", flags("rw")), Errc::not_found);
  auto c = open("/created.txt", flags("wc", 0640));
  ASSERT_TRUE(c);
  write_at(*c, 0, "abc");
  c.reset();
  EXPECT_EQ(slurp(root_ / "created.txt"), "abc");
  EXPECT_EQ(host_lstat(root_ / "created.txt").st_mode & 07777, 0640u);

  // create without truncate keeps content; truncate without create empties in place.
  auto keep = open("/created.txt", flags("rwc"));
  ASSERT_TRUE(keep);
  EXPECT_EQ(read_at(*keep, 0, 10), "abc");
  keep.reset();
  const auto inode = host_lstat(root_ / "file.txt").st_ino;
  auto t = open("/file.txt", flags("wt"));
  ASSERT_TRUE(t);
  EXPECT_EQ(slurp(root_ / "file.txt"), "");
  EXPECT_EQ(host_lstat(root_ / "file.txt").st_ino, inode);
  // Truncation needs a handle that may write.
  put("file.txt", "hello");
  auto r = open("/file.txt", flags("rt"));
  ASSERT_TRUE(r);
  EXPECT_EQ(slurp(root_ / "file.txt"), "hello");
  // Inside links are followed for in-place opens.
  auto l = open("/in_link", flags("r"));
  ASSERT_TRUE(l);
  EXPECT_EQ(read_at(*l, 0, 10), "hello");
}

TEST_F(LocalFsSftpTest, Append) {
  auto f = open("/file.txt", flags("wa"));
  ASSERT_TRUE(f);
  write_at(*f, 0, " there");
  write_at(*f, 2, "!"); // the offset does not matter
  ASSERT_TRUE(run_task(f->commit()));
  f.reset();
  EXPECT_EQ(slurp(root_ / "file.txt"), "hello there!");

  auto g = open("/dir/log.txt", flags("wac"));
  ASSERT_TRUE(g);
  write_at(*g, 100, "one");
  write_at(*g, 0, "two");
  g.reset();
  EXPECT_EQ(slurp(root_ / "dir" / "log.txt"), "onetwo");
}

TEST_F(LocalFsSftpTest, OpenErrors) {
  for (auto f : {flags("r"), flags("w"), flags("rwc"), flags("wct"), flags("wcx")}) {
    EXPECT_EQ(open_error("/", f), Errc::is_directory);
    if (!f.exclusive) {
      EXPECT_EQ(open_error("/dir", f), Errc::is_directory);
      EXPECT_EQ(open_error("/dir_link", f), Errc::is_directory);
    }
    EXPECT_EQ(open_error("/nodir/x", f), Errc::not_found);
    EXPECT_EQ(open_error("/file.txt/x", f), Errc::not_directory);
  }
  for (auto f : {flags("r"), flags("w"), flags("rwa")}) {
    EXPECT_EQ(open_error("/outside_abs", f), Errc::not_found);
    EXPECT_EQ(open_error("/outside_rel", f), Errc::not_found);
  }
  EXPECT_EQ(open_error("/outdir_link/new", flags("wc")), Errc::not_found);
  EXPECT_TRUE(fs::is_empty(outer_.path() / "outdir"));
  EXPECT_EQ(slurp(secret_), "outside");

  // A FIFO must neither block nor be served.
  ASSERT_EQ(::mkfifo((root_ / "fifo").c_str(), 0644), 0);
  EXPECT_EQ(open_error("/fifo", flags("r")), Errc::permission_denied);
}

// --- File attributes ----------------------------------------------------------

TEST_F(LocalFsSftpTest, FileStatSyncAndSize) {
  auto f = open("/file.txt", flags("rw"));
  ASSERT_TRUE(f);
  auto st = run_task(f->stat());
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(st->type, FileType::regular);
  EXPECT_EQ(st->size, 5u);
  EXPECT_EQ(st->inode, host_lstat(root_ / "file.txt").st_ino);
  ASSERT_TRUE(run_task(f->sync()));
  ASSERT_TRUE(run_task(f->set_size(2)));
  EXPECT_EQ(slurp(root_ / "file.txt"), "he");
  ASSERT_TRUE(run_task(f->set_size(4)));
  EXPECT_EQ(slurp(root_ / "file.txt"), std::string("he\0\0", 4));
  EXPECT_EQ(run_task(f->stat())->size, 4u);
}

TEST_F(LocalFsSftpTest, FileSetModeMasksSpecialBits) {
  auto f = open("/file.txt", flags("r"));
  ASSERT_TRUE(f);
  for (auto [given, want] : std::initializer_list<std::pair<std::uint32_t, std::uint32_t>>{
           {0640, 0640}, {04755, 0755}, {02755, 0755}, {01777, 0777}, {07777, 0777}}) {
    SCOPED_TRACE(given);
    ASSERT_TRUE(run_task(f->set_mode(given)));
    EXPECT_EQ(host_lstat(root_ / "file.txt").st_mode & 07777, want);
    EXPECT_EQ(run_task(f->stat())->mode, want);
  }
}

TEST_F(LocalFsSftpTest, FileSetTimes) {
  using namespace std::chrono;
  const auto atime = sys_days{year{2001} / 9 / 9} + hours(1) + nanoseconds(5);
  const auto mtime = sys_days{year{1969} / 12 / 31} + hours(23) + milliseconds(250);
  auto f = open("/file.txt", flags("w"));
  ASSERT_TRUE(f);
  ASSERT_TRUE(run_task(f->set_times(atime, mtime)));
  auto st = host_lstat(root_ / "file.txt");
  EXPECT_EQ(st.st_atim.tv_sec, 999997200);
  EXPECT_EQ(st.st_atim.tv_nsec, 5);
  EXPECT_EQ(st.st_mtim.tv_sec, -3600);
  EXPECT_EQ(st.st_mtim.tv_nsec, 250000000);
  EXPECT_EQ(run_task(f->stat())->mtime, mtime);
}

// --- lstat and read_link --------------------------------------------------------

TEST_F(LocalFsSftpTest, LstatSaysSymlinkWhereStatFollows) {
  auto l = run_task(fs_->lstat(vp("/in_link")));
  ASSERT_TRUE(l) << l.error().message();
  EXPECT_EQ(l->type, FileType::symlink);
  EXPECT_EQ(l->size, std::string_view("file.txt").size());
  auto s = run_task(fs_->stat(vp("/in_link")));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->type, FileType::regular);
  EXPECT_EQ(s->size, 5u);

  // Escaping and dangling links are themselves inside the root.
  for (const char* path : {"/outside_abs", "/dangling", "/outdir_link"}) {
    auto e = run_task(fs_->lstat(vp(path)));
    ASSERT_TRUE(e) << path;
    EXPECT_EQ(e->type, FileType::symlink) << path;
  }
  EXPECT_EQ(run_task(fs_->lstat(vp("/dir_link/inner.txt")))->type, FileType::regular);
  EXPECT_EQ(run_task(fs_->lstat(vp("/file.txt")))->type, FileType::regular);
  auto root = run_task(fs_->lstat(VirtualPath()));
  ASSERT_TRUE(root);
  EXPECT_EQ(root->type, FileType::directory);
  EXPECT_EQ(root->inode, host_lstat(root_).st_ino);
  EXPECT_EQ(run_task(fs_->lstat(vp("/missing"))).error(), Errc::not_found);
  EXPECT_EQ(run_task(fs_->lstat(vp("/outdir_link/x"))).error(), Errc::not_found);
}

TEST_F(LocalFsSftpTest, ReadLink) {
  EXPECT_EQ(*run_task(fs_->read_link(vp("/in_link"))), "file.txt");
  EXPECT_EQ(*run_task(fs_->read_link(vp("/dangling"))), "nothing-here");
  EXPECT_EQ(*run_task(fs_->read_link(vp("/outside_abs"))), secret_.string()); // as stored
  EXPECT_EQ(run_task(fs_->read_link(vp("/file.txt"))).error(), Errc::invalid_name);
  EXPECT_EQ(run_task(fs_->read_link(VirtualPath())).error(), Errc::invalid_name);
  EXPECT_EQ(run_task(fs_->read_link(vp("/missing"))).error(), Errc::not_found);
  EXPECT_EQ(run_task(fs_->read_link(vp("/outdir_link/x"))).error(), Errc::not_found);

  const std::string longest(1000, 'x');
  fs::create_symlink(longest, root_ / "long_link");
  EXPECT_EQ(*run_task(fs_->read_link(vp("/long_link"))), longest);
}

// --- make_symlink ---------------------------------------------------------------

TEST_F(LocalFsSftpTest, SymlinkIsStoredRelative) {
  fs::create_directories(root_ / "a" / "b");
  fs::create_directories(root_ / "docs");
  put("docs/x", "doc");
  put("a/b/c", "c");
  struct Case {
    const char* target;
    const char* link;
    const char* stored;
  };
  for (auto c : {Case{"/docs/x", "/a/b/l1", "../../docs/x"}, Case{"/a/b/c", "/a/b/l2", "c"},
                 Case{"/", "/a/l3", ".."}, Case{"/a/b", "/a/b/l4", "."},
                 Case{"/a/bc/d", "/a/b/l5", "../bc/d"}, Case{"/file.txt", "/l6", "file.txt"},
                 Case{"/", "/l7", "."}}) {
    SCOPED_TRACE(c.link);
    auto r = run_task(fs_->make_symlink(vp(c.target), vp(c.link)));
    ASSERT_TRUE(r) << r.error().message();
    const auto host = root_ / fs::path(c.link).relative_path();
    EXPECT_EQ(host_readlink(host), c.stored);
    EXPECT_EQ(*run_task(fs_->read_link(vp(c.link))), c.stored);
  }
  // Resolvable inside the jail and, identically, on the host.
  EXPECT_EQ(run_task(fs_->stat(vp("/a/b/l1")))->inode, host_lstat(root_ / "docs" / "x").st_ino);
  EXPECT_EQ(host_realpath(root_ / "a" / "b" / "l1"), host_realpath(root_ / "docs" / "x"));
  auto f = open("/a/b/l1", flags("r"));
  ASSERT_TRUE(f);
  EXPECT_EQ(read_at(*f, 0, 10), "doc");
  EXPECT_EQ(run_task(fs_->stat(vp("/a/l3/file.txt")))->size, 5u);
}

TEST_F(LocalFsSftpTest, SymlinkToAbsoluteVirtualTargetStaysInsideRoot) {
  fs::create_directories(root_ / "etc");
  put("etc/passwd", "jailed");
  ASSERT_TRUE(run_task(fs_->make_symlink(vp("/etc/passwd"), vp("/dir/pw"))));
  ASSERT_TRUE(run_task(fs_->make_symlink(vp("/etc"), vp("/etc_dir"))));
  EXPECT_EQ(host_readlink(root_ / "dir" / "pw"), "../etc/passwd");
  EXPECT_EQ(host_readlink(root_ / "etc_dir"), "etc");
  EXPECT_EQ(host_realpath(root_ / "dir" / "pw"), host_realpath(root_ / "etc" / "passwd"));
  EXPECT_EQ(slurp(root_ / "etc_dir" / "passwd"), "jailed");
  auto f = open("/etc_dir/passwd", flags("r"));
  ASSERT_TRUE(f);
  EXPECT_EQ(read_at(*f, 0, 10), "jailed");

  // Dangling too: the host path it names is beneath the root.
  ASSERT_TRUE(run_task(fs_->make_symlink(vp("/etc/shadow"), vp("/dir/sh"))));
  EXPECT_EQ(host_readlink(root_ / "dir" / "sh"), "../etc/shadow");
}

TEST_F(LocalFsSftpTest, SymlinkIsRelativeToTheRealDirectory) {
  // "/up_link" is the root and "/dir_link" is "/dir": the stored text must name
  // the target from where the link really is, or it would leave the root on the host.
  ASSERT_TRUE(run_task(fs_->make_symlink(vp("/file.txt"), vp("/up_link/l"))));
  EXPECT_EQ(host_readlink(root_ / "l"), "file.txt");
  ASSERT_TRUE(run_task(fs_->make_symlink(vp("/file.txt"), vp("/up_link/up_link/dir_link/l"))));
  EXPECT_EQ(host_readlink(root_ / "dir" / "l"), "../file.txt");
  EXPECT_EQ(host_realpath(root_ / "dir" / "l"), host_realpath(root_ / "file.txt"));
}

TEST_F(LocalFsSftpTest, SymlinkErrors) {
  EXPECT_EQ(run_task(fs_->make_symlink(vp("/dir"), vp("/file.txt"))).error(), Errc::exists);
  EXPECT_EQ(run_task(fs_->make_symlink(vp("/dir"), vp("/dangling"))).error(), Errc::exists);
  EXPECT_EQ(run_task(fs_->make_symlink(vp("/dir"), VirtualPath())).error(), Errc::exists);
  EXPECT_EQ(run_task(fs_->make_symlink(vp("/dir"), vp("/nodir/l"))).error(), Errc::not_found);
  EXPECT_EQ(run_task(fs_->make_symlink(vp("/dir"), vp("/outdir_link/l"))).error(), Errc::not_found);
  EXPECT_TRUE(fs::is_empty(outer_.path() / "outdir"));
  EXPECT_EQ(host_readlink(root_ / "dangling"), "nothing-here");
}

// --- make_hard_link ---------------------------------------------------------------

TEST_F(LocalFsSftpTest, HardLinkSharesInode) {
  auto r = run_task(fs_->make_hard_link(vp("/file.txt"), vp("/dir/hard.txt")));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(host_lstat(root_ / "dir" / "hard.txt").st_ino, host_lstat(root_ / "file.txt").st_ino);
  EXPECT_EQ(run_task(fs_->stat(vp("/file.txt")))->nlink, 2u);
  put("dir/hard.txt", "changed");
  EXPECT_EQ(slurp(root_ / "file.txt"), "changed");

  EXPECT_EQ(run_task(fs_->make_hard_link(vp("/file.txt"), vp("/dir/inner.txt"))).error(),
            Errc::exists);
  EXPECT_EQ(run_task(fs_->make_hard_link(vp("/missing"), vp("/x"))).error(), Errc::not_found);
  EXPECT_EQ(run_task(fs_->make_hard_link(vp("/dir"), vp("/x"))).error(), Errc::permission_denied);
  EXPECT_EQ(run_task(fs_->make_hard_link(VirtualPath(), vp("/x"))).error(),
            Errc::permission_denied);
  EXPECT_EQ(run_task(fs_->make_hard_link(vp("/file.txt"), VirtualPath())).error(), Errc::exists);
  EXPECT_EQ(run_task(fs_->make_hard_link(vp("/file.txt"), vp("/outdir_link/x"))).error(),
            Errc::not_found);
  EXPECT_EQ(run_task(fs_->make_hard_link(vp("/outdir_link/x"), vp("/x"))).error(), Errc::not_found);
  EXPECT_TRUE(fs::is_empty(outer_.path() / "outdir"));
}

// Issue 17, item 15: a hard link to a symlink would carry its relative text to
// another directory; symlinks are never hard-linked, escaping or not.
TEST_F(LocalFsSftpTest, HardLinkOfSymlinkIsRefused) {
  const auto secret = host_lstat(secret_);
  for (const char* link : {"/outside_abs", "/in_link", "/dangling"}) {
    SCOPED_TRACE(link);
    auto r = run_task(fs_->make_hard_link(vp(link), vp("/stolen")));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), Errc::permission_denied);
    EXPECT_FALSE(fs::exists(fs::symlink_status(root_ / "stolen")));
  }
  EXPECT_EQ(host_lstat(secret_).st_nlink, secret.st_nlink);
}

// --- set_size, set_times, fs_stats --------------------------------------------

TEST_F(LocalFsSftpTest, SetSize) {
  ASSERT_TRUE(run_task(fs_->set_size(vp("/file.txt"), 2)));
  EXPECT_EQ(slurp(root_ / "file.txt"), "he");
  ASSERT_TRUE(run_task(fs_->set_size(vp("/in_link"), 3)));
  EXPECT_EQ(slurp(root_ / "file.txt"), std::string("he\0", 3));
  EXPECT_TRUE(S_ISLNK(host_lstat(root_ / "in_link").st_mode));

  EXPECT_EQ(run_task(fs_->set_size(vp("/dir"), 0)).error(), Errc::is_directory);
  EXPECT_EQ(run_task(fs_->set_size(VirtualPath(), 0)).error(), Errc::is_directory);
  EXPECT_EQ(run_task(fs_->set_size(vp("/missing"), 0)).error(), Errc::not_found);
  EXPECT_EQ(run_task(fs_->set_size(vp("/outside_abs"), 0)).error(), Errc::not_found);
  EXPECT_EQ(
      run_task(fs_->set_size(vp("/file.txt"), std::numeric_limits<std::uint64_t>::max())).error(),
      Errc::no_space);
  EXPECT_EQ(slurp(secret_), "outside");
  EXPECT_FALSE(fs::exists(root_ / "missing"));
}

TEST_F(LocalFsSftpTest, SetTimes) {
  using namespace std::chrono;
  const auto atime = sys_days{year{2001} / 9 / 9} + hours(1) + nanoseconds(7);
  const auto mtime = sys_days{year{2010} / 1 / 1} + milliseconds(500);
  ASSERT_TRUE(run_task(fs_->set_times(vp("/file.txt"), atime, mtime)));
  auto st = host_lstat(root_ / "file.txt");
  EXPECT_EQ(st.st_atim.tv_sec, 999997200);
  EXPECT_EQ(st.st_atim.tv_nsec, 7);
  EXPECT_EQ(run_task(fs_->stat(vp("/file.txt")))->mtime, mtime);

  ASSERT_TRUE(run_task(fs_->set_times(vp("/dir"), atime, mtime)));
  EXPECT_EQ(run_task(fs_->stat(vp("/dir")))->mtime, mtime);

  const auto before = host_lstat(secret_);
  EXPECT_EQ(run_task(fs_->set_times(vp("/outside_abs"), atime, mtime)).error(), Errc::not_found);
  EXPECT_EQ(run_task(fs_->set_times(vp("/missing"), atime, mtime)).error(), Errc::not_found);
  EXPECT_EQ(host_lstat(secret_).st_mtim.tv_sec, before.st_mtim.tv_sec);
}

TEST_F(LocalFsSftpTest, FsStats) {
  for (const char* path : {"/", "/dir", "/file.txt", "/in_link"}) {
    SCOPED_TRACE(path);
    auto s = run_task(fs_->fs_stats(vp(path)));
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_NE(s->block_size, 0u);
    EXPECT_NE(s->fragment_size, 0u);
    EXPECT_NE(s->blocks, 0u);
    EXPECT_NE(s->name_max, 0u);
    EXPECT_LE(s->blocks_available, s->blocks);
    EXPECT_EQ(s->flags & ~std::uint64_t{3}, 0u);
  }
  EXPECT_EQ(run_task(fs_->fs_stats(vp("/missing"))).error(), Errc::not_found);
  EXPECT_EQ(run_task(fs_->fs_stats(vp("/outside_abs"))).error(), Errc::not_found);
}

} // namespace
} // namespace berth::vfs
