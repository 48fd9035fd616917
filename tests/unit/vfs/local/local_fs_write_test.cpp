#include "vfs/local/local_fs.hpp"

#include "support/run_task.hpp"
#include "support/temp_dir.hpp"
#include "support/vfs_helpers.hpp"
#include "vfs/errc.hpp"

#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <string>
#include <string_view>

// How uploads reach the disk: what a file being written looks like to the
// session writing it and to others, the modes uploads create, renames that
// must not replace, and links that move (issue 17, items 3, 10, 11, 12, 15, 22).
namespace berth::vfs {
namespace {

namespace fs = std::filesystem;
using test::bytes;
using test::host_mode;
using test::run_task;
using test::slurp;
using test::vp;

OpenFlags create_truncate_write(bool read = false, std::uint32_t mode = 0666) {
  OpenFlags f;
  f.read = read;
  f.write = true;
  f.create = true;
  f.truncate = true;
  f.mode = mode;
  return f;
}

std::string read_all(File& f) {
  std::string out(4096, '\0');
  auto n = run_task(f.read_at(0, std::as_writable_bytes(std::span<char>(out))));
  if (!n)
    return "<" + n.error().message() + ">";
  out.resize(*n);
  return out;
}

class LocalFsWriteTest : public ::testing::Test {
protected:
  void SetUp() override {
    old_umask_ = ::umask(022);
    root_ = dir_.path() / "root";
    fs::create_directory(root_);
    dir_.write("root/file.txt", "hello");
    fs::create_directory(root_ / "dir");
    fs_ = open_fs();
  }
  void TearDown() override { ::umask(old_umask_); }

  std::unique_ptr<LocalFs> open_fs(core::UploadMode mode = core::UploadMode::atomic) const {
    auto lfs = LocalFs::open(root_, nullptr, mode);
    EXPECT_TRUE(lfs) << lfs.error().message();
    return lfs ? std::move(*lfs) : nullptr;
  }

  std::unique_ptr<File> open(LocalFs& fs, std::string_view path, const OpenFlags& how) const {
    auto f = run_task(fs.open(vp(path), how));
    EXPECT_TRUE(f) << path << ": " << f.error().message();
    return f ? std::move(*f) : nullptr;
  }

  test::TempDir dir_;
  fs::path root_;
  std::unique_ptr<LocalFs> fs_;
  mode_t old_umask_ = 0;
};

// Item 3: sshfs stats a file right after creating it; a new file is at its name at once.
TEST_F(LocalFsWriteTest, NewFileIsAtItsNameFromTheOpen) {
  auto f = open(*fs_, "/dir/new.txt", create_truncate_write());
  ASSERT_TRUE(f);
  ASSERT_TRUE(run_task(f->write_at(0, bytes("abc"))));
  auto st = run_task(fs_->stat(vp("/dir/new.txt")));
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(st->size, 3u);
  EXPECT_TRUE(run_task(fs_->lstat(vp("/dir/new.txt"))));
  auto other = open_fs(); // another session sees it too
  EXPECT_TRUE(run_task(other->stat(vp("/dir/new.txt"))));
  ASSERT_TRUE(run_task(f->commit()));
  EXPECT_EQ(slurp(root_ / "dir" / "new.txt"), "abc");
}

// Item 3: a replacement is staged; its session sees the staged file by name,
// others the complete old one until the commit.
TEST_F(LocalFsWriteTest, StagedReplaceIsSeenByItsSession) {
  auto f = open(*fs_, "/file.txt", create_truncate_write());
  ASSERT_TRUE(f);
  auto empty = run_task(fs_->lstat(vp("/file.txt")));
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->size, 0u); // as O_TRUNC would leave it
  ASSERT_TRUE(run_task(f->write_at(0, bytes("new!"))));
  EXPECT_EQ(run_task(fs_->stat(vp("/file.txt")))->size, 4u);
  EXPECT_EQ(run_task(fs_->lstat(vp("/file.txt")))->size, 4u);
  OpenFlags r;
  r.read = true;
  auto reader = open(*fs_, "/file.txt", r);
  ASSERT_TRUE(reader);
  EXPECT_EQ(read_all(*reader), "new!");
  auto by_read = run_task(fs_->open_read(vp("/file.txt"), 0));
  ASSERT_TRUE(by_read);
  EXPECT_EQ(read_all(**by_read), "new!");

  auto other = open_fs();
  EXPECT_EQ(run_task(other->stat(vp("/file.txt")))->size, 5u);
  EXPECT_EQ(slurp(root_ / "file.txt"), "hello");

  ASSERT_TRUE(run_task(f->commit()));
  EXPECT_EQ(slurp(root_ / "file.txt"), "new!");
  EXPECT_EQ(run_task(fs_->stat(vp("/file.txt")))->size, 4u);
}

// Item 3: an interrupted replace never replaces the complete file.
TEST_F(LocalFsWriteTest, InterruptedReplaceKeepsTheOldFile) {
  auto f = open(*fs_, "/file.txt", create_truncate_write());
  ASSERT_TRUE(f);
  ASSERT_TRUE(run_task(f->write_at(0, bytes("part"))));
  f.reset();
  EXPECT_EQ(slurp(root_ / "file.txt"), "hello");
  EXPECT_EQ(run_task(fs_->stat(vp("/file.txt")))->size, 5u);
}

// Item 3: renaming or removing a file being written acts on what the session sees.
TEST_F(LocalFsWriteTest, RenamingAStagedFileMovesItsNewContent) {
  auto f = open(*fs_, "/file.txt", create_truncate_write());
  ASSERT_TRUE(f);
  ASSERT_TRUE(run_task(f->write_at(0, bytes("staged"))));
  ASSERT_TRUE(run_task(fs_->rename(vp("/file.txt"), vp("/moved.txt"), RenameMode::replace)));
  EXPECT_EQ(slurp(root_ / "moved.txt"), "staged");
  EXPECT_FALSE(fs::exists(root_ / "file.txt"));
  ASSERT_TRUE(run_task(f->commit()));
  f.reset();
  EXPECT_FALSE(fs::exists(root_ / "file.txt"));
}

// Item 10: no upload leaves a setuid or setgid file.
TEST_F(LocalFsWriteTest, UploadsNeverKeepSetIdBits) {
  const fs::path file = root_ / "file.txt";
  auto reset = [&] { ASSERT_EQ(::chmod(file.c_str(), 06755), 0); };
  reset();
  auto ftp = run_task(fs_->open_write(vp("/file.txt"), WriteMode::replace, 0));
  ASSERT_TRUE(ftp);
  ASSERT_TRUE(run_task((*ftp)->write(bytes("x"))));
  ASSERT_TRUE(run_task((*ftp)->commit()));
  EXPECT_EQ(host_mode(file), 0755u);

  reset();
  auto sftp = open(*fs_, "/file.txt", create_truncate_write());
  ASSERT_TRUE(run_task(sftp->commit()));
  sftp.reset();
  EXPECT_EQ(host_mode(file), 0755u);

  for (WriteMode mode : {WriteMode::append, WriteMode::resume}) {
    reset();
    auto f = run_task(fs_->open_write(vp("/file.txt"), mode, 0));
    ASSERT_TRUE(f);
    EXPECT_EQ(host_mode(file), 0755u);
  }
  reset();
  OpenFlags in_place;
  in_place.write = true;
  auto g = open(*fs_, "/file.txt", in_place);
  EXPECT_EQ(host_mode(file), 0755u);
  reset();
  ASSERT_TRUE(run_task(fs_->set_size(vp("/file.txt"), 1)));
  EXPECT_EQ(host_mode(file), 0755u);

  auto direct = open_fs(core::UploadMode::direct);
  reset();
  auto d = run_task(direct->open_write(vp("/file.txt"), WriteMode::replace, 0));
  ASSERT_TRUE(d);
  EXPECT_EQ(host_mode(file), 0755u);
}

// Item 11: directories get the rule files get: the client's mode less the umask.
TEST_F(LocalFsWriteTest, DirectoriesAndFilesGetTheUmask) {
  ASSERT_TRUE(run_task(fs_->make_directory(vp("/wide"), 0777)));
  EXPECT_EQ(host_mode(root_ / "wide"), 0755u);
  ASSERT_TRUE(run_task(fs_->make_directory(vp("/narrow"), 0700)));
  EXPECT_EQ(host_mode(root_ / "narrow"), 0700u);
  ASSERT_TRUE(run_task(fs_->make_directory(vp("/special"), 07777)));
  EXPECT_EQ(host_mode(root_ / "special"), 0755u);
  auto f = open(*fs_, "/wide.txt", create_truncate_write(false, 0777));
  ASSERT_TRUE(f);
  EXPECT_EQ(host_mode(root_ / "wide.txt"), 0755u);
}

// Item 12: a rename that must not replace fails, and changes nothing.
TEST_F(LocalFsWriteTest, RenameNoReplace) {
  dir_.write("root/dir/other.txt", "other");
  auto r = run_task(fs_->rename(vp("/file.txt"), vp("/dir/other.txt"), RenameMode::no_replace));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::exists);
  EXPECT_EQ(slurp(root_ / "file.txt"), "hello");
  EXPECT_EQ(slurp(root_ / "dir" / "other.txt"), "other");
  ASSERT_TRUE(run_task(fs_->rename(vp("/file.txt"), vp("/dir/new.txt"), RenameMode::no_replace)));
  EXPECT_EQ(slurp(root_ / "dir" / "new.txt"), "hello");
}

// Item 12: an upload allowed as new never replaces what appeared at its name
// meanwhile: the commit renames with RENAME_NOREPLACE (direct: O_EXCL).
TEST_F(LocalFsWriteTest, CreateNeverReplaces) {
  auto r = run_task(fs_->open_write(vp("/file.txt"), WriteMode::create, 0));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::exists);
  EXPECT_EQ(slurp(root_ / "file.txt"), "hello");

  auto f = run_task(fs_->open_write(vp("/fresh.txt"), WriteMode::create, 0));
  ASSERT_TRUE(f);
  ASSERT_TRUE(run_task((*f)->write(bytes("mine"))));
  dir_.write("root/fresh.txt", "another session's complete file");
  auto c = run_task((*f)->commit());
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), Errc::exists);
  f->reset();
  EXPECT_EQ(slurp(root_ / "fresh.txt"), "another session's complete file");

  auto g = run_task(fs_->open_write(vp("/new.txt"), WriteMode::create, 0));
  ASSERT_TRUE(g);
  ASSERT_TRUE(run_task((*g)->write(bytes("new"))));
  ASSERT_TRUE(run_task((*g)->commit()));
  EXPECT_EQ(slurp(root_ / "new.txt"), "new");

  auto direct = open_fs(core::UploadMode::direct);
  auto d = run_task(direct->open_write(vp("/direct.txt"), WriteMode::create, 0));
  ASSERT_TRUE(d);
  EXPECT_TRUE(fs::exists(root_ / "direct.txt"));
  EXPECT_EQ(run_task(direct->open_write(vp("/direct.txt"), WriteMode::create, 0)).error(),
            Errc::exists);
}

// Item 15: a moved link names the same file from its new directory, on the host too.
TEST_F(LocalFsWriteTest, MovedSymlinkKeepsItsTarget) {
  fs::create_directories(root_ / "a" / "b");
  fs::create_directory(root_ / "etc");
  dir_.write("root/etc/shadow", "jailed shadow");
  ASSERT_TRUE(run_task(fs_->make_symlink(vp("/etc/shadow"), vp("/a/b/l"))));
  EXPECT_EQ(fs::read_symlink(root_ / "a" / "b" / "l"), "../../etc/shadow");
  ASSERT_TRUE(run_task(fs_->rename(vp("/a/b/l"), vp("/l"), RenameMode::replace)));
  EXPECT_EQ(fs::read_symlink(root_ / "l"), "etc/shadow");
  EXPECT_EQ(slurp(root_ / "l"), "jailed shadow"); // followed by the host
  EXPECT_FALSE(fs::exists(fs::symlink_status(root_ / "a" / "b" / "l")));

  ASSERT_TRUE(run_task(fs_->rename(vp("/l"), vp("/a/l2"), RenameMode::no_replace)));
  EXPECT_EQ(fs::read_symlink(root_ / "a" / "l2"), "../etc/shadow");
  // Within one directory the text stays.
  ASSERT_TRUE(run_task(fs_->rename(vp("/a/l2"), vp("/a/l3"), RenameMode::replace)));
  EXPECT_EQ(fs::read_symlink(root_ / "a" / "l3"), "../etc/shadow");
  // A link moved onto an existing name without replace: nothing moves.
  auto r = run_task(fs_->rename(vp("/a/l3"), vp("/file.txt"), RenameMode::no_replace));
  EXPECT_EQ(r.error(), Errc::exists);
  EXPECT_EQ(slurp(root_ / "file.txt"), "hello");
  EXPECT_EQ(fs::read_symlink(root_ / "a" / "l3"), "../etc/shadow");
}

// Item 22: a FIFO (or device) is never opened for I/O: its type is checked first
// on an O_PATH descriptor, which inotify does not report as an open.
TEST_F(LocalFsWriteTest, SpecialFilesAreNeverOpened) {
  ASSERT_EQ(::mkfifo((root_ / "fifo").c_str(), 0666), 0);
  int in = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  ASSERT_GE(in, 0);
  ASSERT_GE(::inotify_add_watch(in, (root_ / "fifo").c_str(), IN_OPEN), 0);
  EXPECT_EQ(run_task(fs_->open_read(vp("/fifo"), 0)).error(), Errc::permission_denied);
  OpenFlags rw;
  rw.read = rw.write = true;
  EXPECT_EQ(run_task(fs_->open(vp("/fifo"), rw)).error(), Errc::permission_denied);
  EXPECT_EQ(run_task(fs_->open_write(vp("/fifo"), WriteMode::append, 0)).error(),
            Errc::permission_denied);
  EXPECT_EQ(run_task(fs_->set_size(vp("/fifo"), 0)).error(), Errc::permission_denied);
  std::array<char, 4096> events{};
  EXPECT_LT(::read(in, events.data(), events.size()), 0) << "the FIFO was opened";
  ::close(in);
}

} // namespace
} // namespace berth::vfs
