#include "vfs/local/local_fs.hpp"

#include "support/run_task.hpp"
#include "support/temp_dir.hpp"
#include "support/vfs_helpers.hpp"
#include "vfs/errc.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace berth::vfs {
namespace {

namespace fs = std::filesystem;
using test::bytes;
using test::host_mode;
using test::run_task;
using test::slurp;
using test::vp;

// The home is outer/root; outer also holds files a jailed user must never reach.
class LocalFsTest : public ::testing::Test {
protected:
  void SetUp() override {
    root_ = outer_.path() / "root";
    fs::create_directory(root_);
    secret_ = outer_.write("secret.txt", "outside");
    fs::create_directory(outer_.path() / "outdir");
    put("file.txt", "hello");
    fs::create_directory(root_ / "dir");
    put("dir/inner.txt", "inner");
    fs::create_directory(root_ / "empty");

    // Escaping links: absolute ones, ".." chains, and /proc magic.
    fs::create_directory_symlink("/etc", root_ / "etc_link");
    fs::create_symlink("/etc/passwd", root_ / "passwd_link");
    fs::create_directory_symlink("../../..", root_ / "up_link");
    fs::create_symlink("../secret.txt", root_ / "outside_rel");
    fs::create_symlink(secret_, root_ / "outside_abs");
    fs::create_directory_symlink(outer_.path() / "outdir", root_ / "outdir_link");
    fs::create_symlink("../../secret.txt", root_ / "dir" / "deep_up");
    fs::create_directory_symlink("/proc/self/root", root_ / "proc_root");
    fs::create_symlink("/proc/self/cwd", root_ / "proc_cwd");
    // Links that stay inside.
    fs::create_symlink("file.txt", root_ / "in_link");
    fs::create_symlink("/file.txt", root_ / "abs_in_link");
    fs::create_directory_symlink("dir", root_ / "dir_link");
    fs::create_symlink("../file.txt", root_ / "dir" / "up_file");
    fs::create_symlink("nothing-here", root_ / "dangling");

    auto lfs = LocalFs::open(root_);
    ASSERT_TRUE(lfs) << lfs.error().message();
    fs_ = std::move(*lfs);
  }

  fs::path put(const fs::path& rel, std::string_view content) const {
    return outer_.write(fs::path("root") / rel, content);
  }

  std::string read_all(File& f) const {
    std::string out;
    std::array<std::byte, 3> buf{}; // small, to exercise repeated reads
    for (int guard = 0; guard < 100000; ++guard) {
      auto n = run_task(f.read(buf));
      if (!n) {
        ADD_FAILURE() << "read: " << n.error().message();
        return out;
      }
      if (*n == 0)
        return out;
      out.append(reinterpret_cast<const char*>(buf.data()), *n);
    }
    ADD_FAILURE() << "read does not end";
    return out;
  }

  /// The content of `path` read through the jail, or "<error>" with its message.
  std::string read_via_fs(std::string_view path, std::uint64_t offset = 0) const {
    auto f = run_task(fs_->open_read(vp(path), offset));
    if (!f)
      return "<" + f.error().message() + ">";
    return read_all(**f);
  }

  std::unique_ptr<File> open_write(std::string_view path, WriteMode mode,
                                   std::uint64_t offset = 0) const {
    auto f = run_task(fs_->open_write(vp(path), mode, offset));
    if (!f) {
      ADD_FAILURE() << "open_write " << path << ": " << f.error().message();
      return nullptr;
    }
    return std::move(*f);
  }

  static void write(File& f, std::string_view data) {
    auto r = run_task(f.write(bytes(data)));
    EXPECT_TRUE(r) << r.error().message();
  }

  static void commit(File& f) {
    auto r = run_task(f.commit());
    EXPECT_TRUE(r) << r.error().message();
  }

  /// A replace upload to each of `paths` (links that leave the jail) never
  /// writes the file outside.
  void expect_replace_stays_inside(std::initializer_list<const char*> paths) const {
    for (const char* path : paths) {
      SCOPED_TRACE(path);
      auto f = run_task(fs_->open_write(vp(path), WriteMode::replace, 0));
      if (f) {
        write(**f, "pwned");
        (void)run_task((*f)->commit());
      }
      EXPECT_EQ(slurp(secret_), "outside");
    }
  }

  std::vector<std::string> temp_files(const fs::path& dir) const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) {
      auto name = e.path().filename().string();
      if (name.rfind(".berth-upload-", 0) == 0)
        out.push_back(name);
    }
    return out;
  }

  std::map<std::string, DirEntry> list(std::string_view dir) const {
    auto entries = run_task(fs_->list(vp(dir)));
    std::map<std::string, DirEntry> out;
    if (!entries) {
      ADD_FAILURE() << "list " << dir << ": " << entries.error().message();
      return out;
    }
    for (auto& e : *entries)
      out.emplace(e.name, e);
    return out;
  }

  void expect_same_file(int fd, const fs::path& host) const {
    struct stat a {};
    struct stat b {};
    ASSERT_EQ(::fstat(fd, &a), 0);
    ASSERT_EQ(::stat(host.c_str(), &b), 0);
    EXPECT_EQ(a.st_dev, b.st_dev);
    EXPECT_EQ(a.st_ino, b.st_ino) << "not " << host;
  }

  test::TempDir outer_;
  fs::path root_;
  fs::path secret_;
  std::unique_ptr<LocalFs> fs_;
};

// --- The kernel jail ------------------------------------------------------

TEST_F(LocalFsTest, EscapingSymlinksAreNotFound) {
  for (const char* path : {
           "/etc_link/passwd",
           "/passwd_link",
           "/outside_rel",
           "/outside_abs",
           "/up_link/secret.txt",
           "/up_link/up_link/secret.txt",
           "/dir/deep_up",
           "/outdir_link",
           "/proc_root/etc/passwd",
           "/proc_cwd",
       }) {
    SCOPED_TRACE(path);
    for (int flags : {O_RDONLY, O_PATH}) {
      auto fd = fs_->resolve_for_test(vp(path), flags);
      EXPECT_FALSE(fd) << "reached a file outside the root";
      if (!fd) {
        EXPECT_EQ(fd.error(), Errc::not_found) << fd.error().message();
      }
    }
  }
}

TEST_F(LocalFsTest, DotDotSymlinkStopsAtRoot) {
  auto fd = fs_->resolve_for_test(vp("/up_link"), O_PATH | O_DIRECTORY);
  ASSERT_TRUE(fd) << fd.error().message();
  expect_same_file(fd->get(), root_);

  auto nested = fs_->resolve_for_test(vp("/up_link/up_link/dir/inner.txt"), O_RDONLY);
  ASSERT_TRUE(nested) << nested.error().message();
  expect_same_file(nested->get(), root_ / "dir" / "inner.txt");
}

TEST_F(LocalFsTest, AbsoluteSymlinksResolveBeneathRoot) {
  // With an etc/passwd inside the home, "/etc" and "/etc/passwd" links reach it,
  // not the host's.
  fs::create_directory(root_ / "etc");
  put("etc/passwd", "jailed");
  auto fd = fs_->resolve_for_test(vp("/passwd_link"), O_RDONLY);
  ASSERT_TRUE(fd) << fd.error().message();
  expect_same_file(fd->get(), root_ / "etc" / "passwd");
  EXPECT_EQ(read_via_fs("/passwd_link"), "jailed");
  EXPECT_EQ(read_via_fs("/etc_link/passwd"), "jailed");
  auto st = run_task(fs_->stat(vp("/etc_link")));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->type, FileType::directory);
}

TEST_F(LocalFsTest, InsideSymlinksWork) {
  EXPECT_EQ(read_via_fs("/in_link"), "hello");
  EXPECT_EQ(read_via_fs("/abs_in_link"), "hello");
  EXPECT_EQ(read_via_fs("/dir/up_file"), "hello");
  EXPECT_EQ(read_via_fs("/dir_link/inner.txt"), "inner");
  EXPECT_EQ(read_via_fs("/up_link/file.txt"), "hello");
  auto st = run_task(fs_->stat(vp("/dir_link")));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->type, FileType::directory);
}

TEST_F(LocalFsTest, ResolveRootAndPlainPaths) {
  auto root = fs_->resolve_for_test(VirtualPath(), O_PATH | O_DIRECTORY);
  ASSERT_TRUE(root);
  expect_same_file(root->get(), root_);
  auto file = fs_->resolve_for_test(vp("/dir/inner.txt"), O_RDONLY);
  ASSERT_TRUE(file);
  expect_same_file(file->get(), root_ / "dir" / "inner.txt");
  auto missing = fs_->resolve_for_test(vp("/nope"), O_RDONLY);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), Errc::not_found);
  auto through_file = fs_->resolve_for_test(vp("/file.txt/x"), O_RDONLY);
  ASSERT_FALSE(through_file);
  EXPECT_EQ(through_file.error(), Errc::not_directory);
}

TEST(LocalFsOpen, MissingHome) {
  test::TempDir dir;
  auto lfs = LocalFs::open(dir.path() / "absent");
  ASSERT_FALSE(lfs);
  EXPECT_EQ(lfs.error(), Errc::not_found);
  auto file = LocalFs::open(dir.write("plain", "x"));
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error(), Errc::not_directory);
}

// --- stat and open_read -----------------------------------------------------

TEST_F(LocalFsTest, Stat) {
  fs::permissions(root_ / "file.txt", fs::perms(0640));
  auto st = run_task(fs_->stat(vp("/file.txt")));
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(st->type, FileType::regular);
  EXPECT_EQ(st->size, 5u);
  EXPECT_EQ(st->mode, 0640u);
  EXPECT_EQ(st->nlink, 1u);
  EXPECT_NE(st->inode, 0u);
  // Issue 17: access time, owner and group are the file's own.
  const timespec times[2] = {{1500000000, 0}, {1600000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (root_ / "file.txt").c_str(), times, 0), 0);
  st = run_task(fs_->stat(vp("/file.txt")));
  ASSERT_TRUE(st);
  EXPECT_EQ(std::chrono::system_clock::to_time_t(st->atime), 1500000000);
  EXPECT_EQ(std::chrono::system_clock::to_time_t(st->mtime), 1600000000);
  EXPECT_EQ(st->uid, ::geteuid());
  EXPECT_EQ(st->gid, ::getegid());

  auto dir = run_task(fs_->stat(vp("/dir")));
  ASSERT_TRUE(dir);
  EXPECT_EQ(dir->type, FileType::directory);

  auto root = run_task(fs_->stat(VirtualPath()));
  ASSERT_TRUE(root);
  EXPECT_EQ(root->type, FileType::directory);

  auto missing = run_task(fs_->stat(vp("/missing")));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), Errc::not_found);

  auto escape = run_task(fs_->stat(vp("/outside_abs")));
  ASSERT_FALSE(escape);
  EXPECT_EQ(escape.error(), Errc::not_found);
}

TEST_F(LocalFsTest, OpenReadAtOffset) {
  auto f = run_task(fs_->open_read(vp("/file.txt"), 2));
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_EQ((*f)->zero_copy()->position(), 2u);
  EXPECT_GE((*f)->zero_copy()->descriptor(), 0);
  EXPECT_EQ(read_all(**f), "llo");
  EXPECT_EQ((*f)->zero_copy()->position(), 5u);
  EXPECT_EQ(read_via_fs("/file.txt", 5), "");
  EXPECT_EQ(read_via_fs("/file.txt", 99), "");
}

TEST_F(LocalFsTest, OpenReadAdvance) {
  auto f = run_task(fs_->open_read(vp("/file.txt"), 0));
  ASSERT_TRUE(f);
  (*f)->zero_copy()->advance(4);
  EXPECT_EQ((*f)->zero_copy()->position(), 4u);
  EXPECT_EQ(read_all(**f), "o");
}

TEST_F(LocalFsTest, OpenReadErrors) {
  auto dir = run_task(fs_->open_read(vp("/dir"), 0));
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error(), Errc::is_directory);
  auto root = run_task(fs_->open_read(VirtualPath(), 0));
  ASSERT_FALSE(root);
  EXPECT_EQ(root.error(), Errc::is_directory);
  auto missing = run_task(fs_->open_read(vp("/missing"), 0));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), Errc::not_found);
  auto dangling = run_task(fs_->open_read(vp("/dangling"), 0));
  ASSERT_FALSE(dangling);
  EXPECT_EQ(dangling.error(), Errc::not_found);

  // A FIFO must neither block nor be served.
  ASSERT_EQ(::mkfifo((root_ / "fifo").c_str(), 0644), 0);
  auto fifo = run_task(fs_->open_read(vp("/fifo"), 0));
  ASSERT_FALSE(fifo);
  EXPECT_EQ(fifo.error(), Errc::permission_denied);
}

// --- open_write -------------------------------------------------------------

TEST_F(LocalFsTest, ReplaceKeepsOldContentUntilCommit) {
  auto f = open_write("/file.txt", WriteMode::replace);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->zero_copy()->position(), 0u);
  write(*f, "new ");
  write(*f, "content");
  EXPECT_EQ(f->zero_copy()->position(), 11u);
  EXPECT_EQ(slurp(root_ / "file.txt"), "hello");
  EXPECT_EQ(temp_files(root_).size(), 1u);
  commit(*f);
  EXPECT_EQ(slurp(root_ / "file.txt"), "new content");
  EXPECT_TRUE(temp_files(root_).empty());
  f.reset();
  EXPECT_EQ(slurp(root_ / "file.txt"), "new content");
  EXPECT_TRUE(temp_files(root_).empty());
}

TEST_F(LocalFsTest, ReplaceWithoutCommitIsDiscarded) {
  auto f = open_write("/file.txt", WriteMode::replace);
  ASSERT_TRUE(f);
  write(*f, "partial upload");
  f.reset();
  EXPECT_EQ(slurp(root_ / "file.txt"), "hello");
  EXPECT_TRUE(temp_files(root_).empty());

  // FTP stages a new file too (SFTP creates it at its name, see open()).
  auto fresh = open_write("/dir/fresh.txt", WriteMode::replace);
  ASSERT_TRUE(fresh);
  write(*fresh, "x");
  fresh.reset();
  EXPECT_FALSE(fs::exists(root_ / "dir" / "fresh.txt"));
  EXPECT_TRUE(temp_files(root_ / "dir").empty());
}

// Pages of `p` in the page cache (mincore(2) of a mapping that touches none).
std::size_t cached_pages(const fs::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  const auto size = static_cast<std::size_t>(fs::file_size(p));
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED)
    return 0;
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident((size + page - 1) / page);
  std::size_t n = 0;
  if (::mincore(map, size, resident.data()) == 0)
    for (auto r : resident)
      n += r & 1U;
  ::munmap(map, size);
  return n;
}

TEST_F(LocalFsTest, ReplaceDropsTheOldFilesCacheAndKeepsItsBytes) {
  // The new copy is written into the memory the old one's cache held, as an
  // in-place truncation would; the old bytes stay on disk until the rename.
  struct statfs sfs {};
  ASSERT_EQ(::statfs(root_.c_str(), &sfs), 0);
  if (sfs.f_type == TMPFS_MAGIC)
    GTEST_SKIP() << "a tmpfs file is its cache: nothing to drop";
  const std::string old(1 << 20, 'o');
  auto path = put("big.bin", old);
  {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::fsync(fd), 0); // clean pages, as an old file's are
    std::string buf(old.size(), '\0');
    ASSERT_EQ(::read(fd, buf.data(), buf.size()), static_cast<ssize_t>(buf.size()));
    ::close(fd);
  }
  ASSERT_GT(cached_pages(path), 0u);
  auto f = open_write("/big.bin", WriteMode::replace);
  ASSERT_TRUE(f);
  EXPECT_EQ(cached_pages(path), 0u);
  EXPECT_EQ(slurp(path), old);
  write(*f, "new");
  commit(*f);
  EXPECT_EQ(slurp(path), "new");
}

TEST_F(LocalFsTest, ReplaceCreatesNewFileAndKeepsMode) {
  auto f = open_write("/dir/new.txt", WriteMode::replace);
  ASSERT_TRUE(f);
  write(*f, "fresh");
  commit(*f);
  EXPECT_EQ(slurp(root_ / "dir" / "new.txt"), "fresh");

  fs::permissions(root_ / "file.txt", fs::perms(0600));
  auto g = open_write("/file.txt", WriteMode::replace);
  ASSERT_TRUE(g);
  write(*g, "private");
  commit(*g);
  EXPECT_EQ(slurp(root_ / "file.txt"), "private");
  EXPECT_EQ(host_mode(root_ / "file.txt"), 0600u);
}

TEST_F(LocalFsTest, ReplaceNeverWritesThroughEscapingLink) {
  expect_replace_stays_inside({"/outside_abs", "/outside_rel", "/dir/deep_up", "/proc_cwd"});
}

// upload_mode = "direct": a replace writes the target itself, from empty.
TEST_F(LocalFsTest, DirectReplaceWritesInPlace) {
  auto lfs = LocalFs::open(root_, nullptr, core::UploadMode::direct);
  ASSERT_TRUE(lfs);
  fs_ = std::move(*lfs);
  EXPECT_EQ(fs_->upload_mode(), core::UploadMode::direct);
  auto inode = [&] {
    struct stat st {};
    return ::stat((root_ / "file.txt").c_str(), &st) == 0 ? st.st_ino : 0;
  };
  const auto before = inode();
  auto f = open_write("/file.txt", WriteMode::replace);
  ASSERT_TRUE(f);
  EXPECT_EQ(slurp(root_ / "file.txt"), ""); // truncated at the open
  write(*f, "part");
  EXPECT_EQ(slurp(root_ / "file.txt"), "part");
  EXPECT_TRUE(temp_files(root_).empty());
  f.reset(); // no commit: an interrupted upload leaves what it wrote, to resume
  EXPECT_EQ(slurp(root_ / "file.txt"), "part");
  EXPECT_EQ(inode(), before); // the same file, never a new one

  auto g = open_write("/dir/new.txt", WriteMode::replace);
  ASSERT_TRUE(g);
  write(*g, "fresh");
  commit(*g);
  EXPECT_EQ(slurp(root_ / "dir" / "new.txt"), "fresh");
  EXPECT_TRUE(temp_files(root_ / "dir").empty());
}

TEST_F(LocalFsTest, DirectReplaceStaysInTheJail) {
  auto lfs = LocalFs::open(root_, nullptr, core::UploadMode::direct);
  ASSERT_TRUE(lfs);
  fs_ = std::move(*lfs);
  expect_replace_stays_inside({"/outside_abs", "/outside_rel", "/dir/deep_up", "/proc_cwd"});
  // Inside the jail a link is written through, as a resume would.
  auto f = open_write("/in_link", WriteMode::replace);
  ASSERT_TRUE(f);
  write(*f, "via link");
  commit(*f);
  EXPECT_EQ(slurp(root_ / "file.txt"), "via link");
  EXPECT_TRUE(fs::is_symlink(root_ / "in_link"));
  EXPECT_FALSE(run_task(fs_->open_write(vp("/dir"), WriteMode::replace, 0)));
}

TEST_F(LocalFsTest, ResumeTruncatesAtCommit) {
  put("file.txt", "hello world");
  auto f = open_write("/file.txt", WriteMode::resume, 5);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->zero_copy()->position(), 5u);
  write(*f, "XY");
  EXPECT_EQ(f->zero_copy()->position(), 7u);
  EXPECT_EQ(slurp(root_ / "file.txt"), "helloXYorld");
  commit(*f);
  EXPECT_EQ(slurp(root_ / "file.txt"), "helloXY");
}

TEST_F(LocalFsTest, ResumeWithoutCommitKeepsTail) {
  put("file.txt", "hello world");
  auto f = open_write("/file.txt", WriteMode::resume, 0);
  ASSERT_TRUE(f);
  write(*f, "HE");
  f.reset();
  EXPECT_EQ(slurp(root_ / "file.txt"), "HEllo world");
}

TEST_F(LocalFsTest, ResumeCreatesMissingFile) {
  auto f = open_write("/dir/resumed.bin", WriteMode::resume, 0);
  ASSERT_TRUE(f);
  write(*f, "abc");
  commit(*f);
  EXPECT_EQ(slurp(root_ / "dir" / "resumed.bin"), "abc");
}

TEST_F(LocalFsTest, Append) {
  auto f = open_write("/file.txt", WriteMode::append);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->zero_copy()->position(), 5u);
  write(*f, " there");
  EXPECT_EQ(f->zero_copy()->position(), 11u);
  commit(*f);
  f.reset();
  EXPECT_EQ(slurp(root_ / "file.txt"), "hello there");

  auto g = open_write("/dir/log.txt", WriteMode::append);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->zero_copy()->position(), 0u);
  write(*g, "one");
  g.reset(); // append needs no commit
  auto h = open_write("/dir/log.txt", WriteMode::append);
  ASSERT_TRUE(h);
  write(*h, "two");
  h.reset();
  EXPECT_EQ(slurp(root_ / "dir" / "log.txt"), "onetwo");
}

// Fills a pipe with `data` and moves it into `f` with write_from_pipe().
void splice_into(File& f, std::string_view data) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ASSERT_EQ(::write(fds[1], data.data(), data.size()), static_cast<ssize_t>(data.size()));
  for (std::size_t left = data.size(); left > 0;) {
    auto n = run_task(f.zero_copy()->write_from_pipe(fds[0], left));
    ASSERT_TRUE(n) << n.error().message();
    ASSERT_GT(*n, 0u);
    left -= *n;
  }
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST_F(LocalFsTest, WriteFromPipeAtThePosition) {
  auto f = open_write("/file.txt", WriteMode::resume, 2);
  ASSERT_TRUE(f);
  splice_into(*f, "LLO WORLD");
  EXPECT_EQ(f->zero_copy()->position(), 11u);
  commit(*f);
  f.reset();
  EXPECT_EQ(slurp(root_ / "file.txt"), "heLLO WORLD");

  auto g = open_write("/new.bin", WriteMode::replace);
  ASSERT_TRUE(g);
  const std::string big(180000, 'x');
  for (int i = 0; i < 3; ++i) // three pipe-fulls, one after another
    splice_into(*g, std::string_view(big).substr(0, 60000));
  EXPECT_EQ(g->zero_copy()->position(), 180000u);
  EXPECT_FALSE(fs::exists(root_ / "new.bin")); // atomic: nothing before commit
  commit(*g);
  g.reset();
  EXPECT_EQ(slurp(root_ / "new.bin"), big.substr(0, 180000));
}

TEST_F(LocalFsTest, WriteFromPipeAppendsAndOnThePool) {
  // An append open refuses splice(2) (EINVAL); the bytes go by read and write.
  auto f = open_write("/file.txt", WriteMode::append);
  ASSERT_TRUE(f);
  splice_into(*f, " there");
  f.reset();
  EXPECT_EQ(slurp(root_ / "file.txt"), "hello there");

  core::WorkerPool pool(1);
  auto pooled = LocalFs::open_for_test(root_, &pool);
  ASSERT_TRUE(pooled);
  auto g = run_task((*pooled)->open_write(vp("/pooled.txt"), WriteMode::replace, 0));
  ASSERT_TRUE(g);
  splice_into(**g, "from the pool");
  ASSERT_TRUE(run_task((*g)->commit()));
  g->reset();
  EXPECT_EQ(slurp(root_ / "pooled.txt"), "from the pool");
}

TEST_F(LocalFsTest, WriteFromPipeNeedsAWritableFile) {
  auto f = run_task(fs_->open_read(vp("/file.txt"), 0));
  ASSERT_TRUE(f);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  auto n = run_task((*f)->zero_copy()->write_from_pipe(fds[0], 1));
  ::close(fds[0]);
  ::close(fds[1]);
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error(), Errc::permission_denied);
  EXPECT_EQ(slurp(root_ / "file.txt"), "hello");
}

TEST_F(LocalFsTest, AppendAndResumeStayInsideRoot) {
  for (auto mode : {WriteMode::append, WriteMode::resume}) {
    for (const char* path : {"/outside_abs", "/outside_rel", "/outdir_link/new.txt",
                             "/up_link/secret.txt", "/dir/deep_up"}) {
      SCOPED_TRACE(path);
      auto f = run_task(fs_->open_write(vp(path), mode, 0));
      if (f) {
        write(**f, "pwned");
        (void)run_task((*f)->commit());
      }
    }
  }
  EXPECT_EQ(slurp(secret_), "outside");
  EXPECT_TRUE(fs::is_empty(outer_.path() / "outdir"));
}

TEST_F(LocalFsTest, OpenWriteErrors) {
  for (auto mode : {WriteMode::replace, WriteMode::append, WriteMode::resume}) {
    SCOPED_TRACE(static_cast<int>(mode));
    auto root = run_task(fs_->open_write(VirtualPath(), mode, 0));
    ASSERT_FALSE(root);
    EXPECT_EQ(root.error(), Errc::is_directory);
    auto dir = run_task(fs_->open_write(vp("/dir"), mode, 0));
    ASSERT_FALSE(dir);
    EXPECT_EQ(dir.error(), Errc::is_directory);
    auto no_parent = run_task(fs_->open_write(vp("/nodir/x"), mode, 0));
    ASSERT_FALSE(no_parent);
    EXPECT_EQ(no_parent.error(), Errc::not_found);
    auto file_parent = run_task(fs_->open_write(vp("/file.txt/x"), mode, 0));
    ASSERT_FALSE(file_parent);
    EXPECT_EQ(file_parent.error(), Errc::not_directory);
  }
  EXPECT_EQ(slurp(root_ / "file.txt"), "hello");
}

TEST_F(LocalFsTest, CreateUnique) {
  auto a = run_task(fs_->create_unique(vp("/dir"), "stou."));
  ASSERT_TRUE(a) << a.error().message();
  auto& [file, name] = *a;
  EXPECT_EQ(name.rfind("stou.", 0), 0u);
  EXPECT_GT(name.size(), 5u);
  EXPECT_EQ(name.find('/'), std::string::npos);
  EXPECT_TRUE(fs::is_regular_file(root_ / "dir" / name));
  write(*file, "unique data");
  commit(*file);
  file.reset();
  EXPECT_EQ(slurp(root_ / "dir" / name), "unique data");

  auto b = run_task(fs_->create_unique(vp("/dir"), "stou."));
  ASSERT_TRUE(b);
  EXPECT_NE(b->second, name);

  auto missing = run_task(fs_->create_unique(vp("/nodir"), "x"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), Errc::not_found);
  auto escaping = run_task(fs_->create_unique(vp("/outdir_link"), "x"));
  ASSERT_FALSE(escaping);
  EXPECT_EQ(escaping.error(), Errc::not_found);
  EXPECT_TRUE(fs::is_empty(outer_.path() / "outdir"));
}

// --- namespace operations ---------------------------------------------------

TEST_F(LocalFsTest, MakeDirectory) {
  auto r = run_task(fs_->make_directory(vp("/newdir"), 0777));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(fs::is_directory(root_ / "newdir"));
  auto nested = run_task(fs_->make_directory(vp("/newdir/sub"), 0777));
  ASSERT_TRUE(nested);
  EXPECT_TRUE(fs::is_directory(root_ / "newdir" / "sub"));

  auto again = run_task(fs_->make_directory(vp("/newdir"), 0777));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), Errc::exists);
  auto root = run_task(fs_->make_directory(VirtualPath(), 0777));
  ASSERT_FALSE(root);
  EXPECT_EQ(root.error(), Errc::exists);
  auto no_parent = run_task(fs_->make_directory(vp("/nodir/x"), 0777));
  ASSERT_FALSE(no_parent);
  EXPECT_EQ(no_parent.error(), Errc::not_found);
  auto escaping = run_task(fs_->make_directory(vp("/outdir_link/sub"), 0777));
  ASSERT_FALSE(escaping);
  EXPECT_EQ(escaping.error(), Errc::not_found);
  EXPECT_TRUE(fs::is_empty(outer_.path() / "outdir"));
}

TEST_F(LocalFsTest, RemoveDirectory) {
  auto r = run_task(fs_->remove_directory(vp("/empty")));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(fs::exists(root_ / "empty"));

  auto full = run_task(fs_->remove_directory(vp("/dir")));
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error(), Errc::not_empty);
  auto root = run_task(fs_->remove_directory(VirtualPath()));
  ASSERT_FALSE(root);
  EXPECT_EQ(root.error(), Errc::permission_denied);
  auto file = run_task(fs_->remove_directory(vp("/file.txt")));
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error(), Errc::not_directory);
  auto missing = run_task(fs_->remove_directory(vp("/missing")));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), Errc::not_found);
  fs::create_directory(outer_.path() / "outdir" / "victim");
  auto escaping = run_task(fs_->remove_directory(vp("/outdir_link/victim")));
  ASSERT_FALSE(escaping);
  EXPECT_EQ(escaping.error(), Errc::not_found);
  EXPECT_TRUE(fs::is_directory(outer_.path() / "outdir" / "victim"));
}

TEST_F(LocalFsTest, RemoveFile) {
  auto r = run_task(fs_->remove_file(vp("/dir/inner.txt")));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(fs::exists(root_ / "dir" / "inner.txt"));
  auto again = run_task(fs_->remove_file(vp("/dir/inner.txt")));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), Errc::not_found);

  // Links are removed, never followed.
  ASSERT_TRUE(run_task(fs_->remove_file(vp("/in_link"))));
  EXPECT_FALSE(fs::exists(fs::symlink_status(root_ / "in_link")));
  EXPECT_EQ(slurp(root_ / "file.txt"), "hello");
  ASSERT_TRUE(run_task(fs_->remove_file(vp("/outside_abs"))));
  EXPECT_FALSE(fs::exists(fs::symlink_status(root_ / "outside_abs")));
  EXPECT_EQ(slurp(secret_), "outside");
  ASSERT_TRUE(run_task(fs_->remove_file(vp("/dir_link"))));
  EXPECT_TRUE(fs::is_directory(root_ / "dir"));

  auto dir = run_task(fs_->remove_file(vp("/dir")));
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error(), Errc::is_directory);
  auto root = run_task(fs_->remove_file(VirtualPath()));
  ASSERT_FALSE(root);
  EXPECT_EQ(root.error(), Errc::is_directory);
  auto victim = outer_.write("outdir/victim", "v");
  auto escaping = run_task(fs_->remove_file(vp("/outdir_link/victim")));
  ASSERT_FALSE(escaping);
  EXPECT_EQ(escaping.error(), Errc::not_found);
  EXPECT_EQ(slurp(victim), "v");
}

TEST_F(LocalFsTest, Rename) {
  auto r = run_task(fs_->rename(vp("/file.txt"), vp("/renamed.txt"), RenameMode::replace));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(fs::exists(root_ / "file.txt"));
  EXPECT_EQ(slurp(root_ / "renamed.txt"), "hello");

  // Replaces a file target, across directories.
  ASSERT_TRUE(run_task(fs_->rename(vp("/renamed.txt"), vp("/dir/inner.txt"), RenameMode::replace)));
  EXPECT_EQ(slurp(root_ / "dir" / "inner.txt"), "hello");

  ASSERT_TRUE(run_task(fs_->rename(vp("/empty"), vp("/dir/moved"), RenameMode::replace)));
  EXPECT_TRUE(fs::is_directory(root_ / "dir" / "moved"));

  auto missing = run_task(fs_->rename(vp("/missing"), vp("/x"), RenameMode::replace));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), Errc::not_found);
  auto no_parent = run_task(fs_->rename(vp("/dir/inner.txt"), vp("/nodir/x"), RenameMode::replace));
  ASSERT_FALSE(no_parent);
  EXPECT_EQ(no_parent.error(), Errc::not_found);
  auto from_root = run_task(fs_->rename(VirtualPath(), vp("/x"), RenameMode::replace));
  ASSERT_FALSE(from_root);
  EXPECT_EQ(from_root.error(), Errc::permission_denied);
  auto to_root = run_task(fs_->rename(vp("/dir/inner.txt"), VirtualPath(), RenameMode::replace));
  ASSERT_FALSE(to_root);
  EXPECT_EQ(to_root.error(), Errc::permission_denied);

  auto out =
      run_task(fs_->rename(vp("/dir/inner.txt"), vp("/outdir_link/stolen"), RenameMode::replace));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error(), Errc::not_found);
  EXPECT_TRUE(fs::is_empty(outer_.path() / "outdir"));
  auto victim = outer_.write("outdir/victim", "v");
  auto in = run_task(fs_->rename(vp("/outdir_link/victim"), vp("/stolen"), RenameMode::replace));
  ASSERT_FALSE(in);
  EXPECT_EQ(in.error(), Errc::not_found);
  EXPECT_EQ(slurp(victim), "v");
  EXPECT_FALSE(fs::exists(fs::symlink_status(root_ / "stolen")));
}

TEST_F(LocalFsTest, SetMtime) {
  using namespace std::chrono;
  const auto when = sys_days{year{2001} / 9 / 9} + hours(1) + minutes(46) + seconds(40);
  auto r = run_task(fs_->set_mtime(vp("/file.txt"), when));
  ASSERT_TRUE(r) << r.error().message();
  auto st = run_task(fs_->stat(vp("/file.txt")));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->mtime, when);

  ASSERT_TRUE(run_task(fs_->set_mtime(vp("/dir"), when)));
  EXPECT_EQ(run_task(fs_->stat(vp("/dir")))->mtime, when);

  auto missing = run_task(fs_->set_mtime(vp("/missing"), when));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), Errc::not_found);

  const auto before = fs::last_write_time(secret_);
  auto escaping = run_task(fs_->set_mtime(vp("/outside_abs"), when));
  ASSERT_FALSE(escaping);
  EXPECT_EQ(escaping.error(), Errc::not_found);
  EXPECT_EQ(fs::last_write_time(secret_), before);
}

TEST_F(LocalFsTest, SetModeMasksSpecialBits) {
  struct Case {
    std::uint32_t given;
    std::uint32_t want;
  };
  for (auto c : {Case{0640, 0640}, Case{04755, 0755}, Case{02755, 0755}, Case{01777, 0777},
                 Case{07777, 0777}, Case{0, 0}}) {
    SCOPED_TRACE(c.given);
    auto r = run_task(fs_->set_mode(vp("/file.txt"), c.given));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(host_mode(root_ / "file.txt"), c.want);
    EXPECT_EQ(run_task(fs_->stat(vp("/file.txt")))->mode, c.want);
  }
  ASSERT_TRUE(run_task(fs_->set_mode(vp("/dir"), 02775)));
  EXPECT_EQ(host_mode(root_ / "dir"), 0775u);
}

TEST_F(LocalFsTest, SetModeFollowsOnlyInsideLinks) {
  ASSERT_TRUE(run_task(fs_->set_mode(vp("/in_link"), 0604)));
  EXPECT_EQ(host_mode(root_ / "file.txt"), 0604u);

  const auto before = host_mode(secret_);
  auto escaping = run_task(fs_->set_mode(vp("/outside_abs"), 0777));
  ASSERT_FALSE(escaping);
  EXPECT_EQ(escaping.error(), Errc::not_found);
  EXPECT_EQ(host_mode(secret_), before);
  auto missing = run_task(fs_->set_mode(vp("/missing"), 0644));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), Errc::not_found);
}

// --- list -----------------------------------------------------------------

// Issue 17: entries are reported as lstat(2) sees them. A link to a directory
// shown as a directory made sshfs `rm -rf` delete through it.
TEST_F(LocalFsTest, ListShowsLinksAsLinks) {
  auto entries = list("/");
  std::vector<std::string> names;
  for (const auto& [name, e] : entries)
    names.push_back(name);
  EXPECT_THAT(names, ::testing::UnorderedElementsAre(
                         "file.txt", "dir", "empty", "etc_link", "passwd_link", "up_link",
                         "outside_rel", "outside_abs", "outdir_link", "proc_root", "proc_cwd",
                         "in_link", "abs_in_link", "dir_link", "dangling"));

  EXPECT_EQ(entries["file.txt"].stat.type, FileType::regular);
  EXPECT_EQ(entries["file.txt"].stat.size, 5u);
  EXPECT_EQ(entries["file.txt"].link_target, "");
  EXPECT_EQ(entries["dir"].stat.type, FileType::directory);
  // Every link is itself: its type, the size of its text, the text as stored;
  // nothing of what it points to, inside the jail or out.
  struct stat secret {};
  ASSERT_EQ(::stat(secret_.c_str(), &secret), 0);
  for (const auto& [name, text] :
       std::map<std::string, std::string>{{"in_link", "file.txt"},
                                          {"abs_in_link", "/file.txt"},
                                          {"dir_link", "dir"},
                                          {"up_link", "../../.."},
                                          {"etc_link", "/etc"},
                                          {"passwd_link", "/etc/passwd"},
                                          {"outside_rel", "../secret.txt"},
                                          {"outside_abs", secret_.string()},
                                          {"outdir_link", (outer_.path() / "outdir").string()},
                                          {"proc_root", "/proc/self/root"},
                                          {"proc_cwd", "/proc/self/cwd"},
                                          {"dangling", "nothing-here"}}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(entries[name].stat.type, FileType::symlink);
    EXPECT_EQ(entries[name].stat.size, text.size());
    EXPECT_EQ(entries[name].link_target, text);
    EXPECT_NE(entries[name].stat.inode, secret.st_ino);
  }
  // stat() still follows a link that stays inside.
  auto followed = run_task(fs_->stat(vp("/dir_link")));
  ASSERT_TRUE(followed);
  EXPECT_EQ(followed->type, FileType::directory);

  auto sub = list("/dir_link");
  std::vector<std::string> sub_names;
  for (const auto& [name, e] : sub)
    sub_names.push_back(name);
  EXPECT_THAT(sub_names, ::testing::UnorderedElementsAre("inner.txt", "deep_up", "up_file"));
  EXPECT_EQ(sub["up_file"].stat.type, FileType::symlink);
  EXPECT_EQ(sub["deep_up"].stat.type, FileType::symlink);

  EXPECT_TRUE(list("/empty").empty());
}

TEST_F(LocalFsTest, ListOnTheIoPoolSeesTheSame) {
  core::WorkerPool pool(1);
  auto pooled = LocalFs::open_for_test(root_, &pool);
  ASSERT_TRUE(pooled);
  for (const char* dir : {"/", "/dir_link", "/empty"}) {
    SCOPED_TRACE(dir);
    auto here = run_task(fs_->list(vp(dir)));
    auto there = run_task((*pooled)->list(vp(dir)));
    ASSERT_TRUE(here && there);
    std::map<std::string, std::pair<FileType, std::uint64_t>> a, b;
    for (const auto& e : *here)
      a[e.name] = {e.stat.type, e.stat.size};
    for (const auto& e : *there)
      b[e.name] = {e.stat.type, e.stat.size};
    EXPECT_EQ(a, b);
  }
  auto missing = run_task((*pooled)->list(vp("/outdir_link")));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), Errc::not_found);
}

TEST_F(LocalFsTest, ListErrors) {
  auto file = run_task(fs_->list(vp("/file.txt")));
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error(), Errc::not_directory);
  auto missing = run_task(fs_->list(vp("/missing")));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), Errc::not_found);
  auto escaping = run_task(fs_->list(vp("/outdir_link")));
  ASSERT_FALSE(escaping);
  EXPECT_EQ(escaping.error(), Errc::not_found);
  auto etc = run_task(fs_->list(vp("/etc_link")));
  ASSERT_FALSE(etc);
  EXPECT_EQ(etc.error(), Errc::not_found);
}

} // namespace
} // namespace berth::vfs
