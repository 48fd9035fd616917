#include "vfs/guarded/guarded_fs.hpp"

#include "support/run_task.hpp"
#include "support/temp_dir.hpp"
#include "vfs/errc.hpp"
#include "vfs/local/local_fs.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace berth::vfs {
namespace {

namespace fs = std::filesystem;
using core::Perm;
using core::Permissions;
using test::run_task;
using test::slurp;

VirtualPath vp(std::string_view text) {
  auto p = VirtualPath::resolve(VirtualPath(), text);
  if (!p)
    ADD_FAILURE() << "bad virtual path " << text;
  return p ? *p : VirtualPath();
}

std::span<const std::byte> bytes(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

constexpr Perm kAllPerms[] = {Perm::list,   Perm::download, Perm::upload, Perm::overwrite,
                              Perm::remove, Perm::rename,   Perm::mkdir,  Perm::rmdir,
                              Perm::chmod,  Perm::symlink};

// A home with a few files, seen through guard() with the rules a test chooses.
class Home {
public:
  Home() {
    root_ = dir_.path() / "home";
    fs::create_directory(root_);
    put("file.txt", "hello");
    put("other.txt", "other!");
    fs::create_directory(root_ / "dir");
    put("dir/inner.txt", "inner");
    fs::create_directory(root_ / "empty");
    fs::create_symlink("file.txt", root_ / "link");
  }

  fs::path put(const fs::path& rel, std::string_view content) const {
    return dir_.write(fs::path("home") / rel, content);
  }

  /// A new session of the user: a LocalFs of the home behind `rules`.
  std::unique_ptr<Filesystem> session(Rules rules,
                                      core::UploadMode mode = core::UploadMode::atomic) const {
    auto local = LocalFs::open(root_, nullptr, mode);
    if (!local) {
      ADD_FAILURE() << local.error().message();
      return nullptr;
    }
    return guard(std::move(*local), std::move(rules));
  }

  std::unique_ptr<Filesystem> session(Permissions perms) const {
    Rules rules;
    rules.permissions = perms;
    rules.user = "alice";
    return session(std::move(rules));
  }

  /// What LocalFs::usage() finds on disk now.
  Usage disk() const {
    auto u = LocalFs::usage(root_);
    if (!u) {
      ADD_FAILURE() << u.error().message();
      return {};
    }
    return *u;
  }

  const fs::path& root() const { return root_; }

private:
  test::TempDir dir_;
  fs::path root_;
};

// --- Permissions -------------------------------------------------------------

std::error_code write_and_commit(core::Result<std::unique_ptr<File>> f) {
  if (!f)
    return f.error();
  if (auto w = run_task((*f)->write(bytes("data"))); !w)
    return w.error();
  return run_task((*f)->commit()).error();
}

std::error_code open_and_commit(Filesystem& fs, std::string_view path, OpenFlags how) {
  auto f = run_task(fs.open(vp(path), how));
  if (!f)
    return f.error();
  if (how.write)
    if (auto w = run_task((*f)->write_at(0, bytes("data"))); !w)
      return w.error();
  return run_task((*f)->commit()).error();
}

OpenFlags oflags(bool read, bool write, bool create = false, bool truncate = false,
                 bool exclusive = false, bool append = false) {
  OpenFlags f;
  f.read = read;
  f.write = write;
  f.create = create;
  f.truncate = truncate;
  f.exclusive = exclusive;
  f.append = append;
  return f;
}

struct Op {
  const char* name;
  std::vector<Perm> needs; ///< Refused without any of these, allowed with just these.
  std::error_code (*run)(Filesystem&);
};

const auto kTime = std::chrono::system_clock::time_point(std::chrono::seconds(1'600'000'000));

const std::vector<Op>& operations() {
  static const std::vector<Op> ops = {
      {"stat",
       {Perm::list},
       [](Filesystem& fs) { return run_task(fs.stat(vp("/file.txt"))).error(); }},
      {"lstat",
       {Perm::list},
       [](Filesystem& fs) { return run_task(fs.lstat(vp("/link"))).error(); }},
      {"list",
       {Perm::list},
       [](Filesystem& fs) { return run_task(fs.list(VirtualPath())).error(); }},
      {"open_dir",
       {Perm::list},
       [](Filesystem& fs) { return run_task(fs.open_dir(VirtualPath())).error(); }},
      {"read_link",
       {Perm::list},
       [](Filesystem& fs) { return run_task(fs.read_link(vp("/link"))).error(); }},
      {"fs_stats",
       {Perm::list},
       [](Filesystem& fs) { return run_task(fs.fs_stats(VirtualPath())).error(); }},
      {"open no access",
       {Perm::list},
       [](Filesystem& fs) { return open_and_commit(fs, "/file.txt", oflags(false, false)); }},
      {"open_read",
       {Perm::download},
       [](Filesystem& fs) { return run_task(fs.open_read(vp("/file.txt"), 0)).error(); }},
      {"open read",
       {Perm::download},
       [](Filesystem& fs) { return open_and_commit(fs, "/file.txt", oflags(true, false)); }},
      {"open_write replace new",
       {Perm::upload},
       [](Filesystem& fs) {
         return write_and_commit(run_task(fs.open_write(vp("/new.txt"), WriteMode::replace, 0)));
       }},
      {"open_write append new",
       {Perm::upload},
       [](Filesystem& fs) {
         return write_and_commit(run_task(fs.open_write(vp("/new.txt"), WriteMode::append, 0)));
       }},
      {"open_write resume new",
       {Perm::upload},
       [](Filesystem& fs) {
         return write_and_commit(run_task(fs.open_write(vp("/new.txt"), WriteMode::resume, 0)));
       }},
      {"open create new",
       {Perm::upload},
       [](Filesystem& fs) { return open_and_commit(fs, "/new.txt", oflags(false, true, true)); }},
      {"open create exclusive",
       {Perm::upload},
       [](Filesystem& fs) {
         return open_and_commit(fs, "/new.txt", oflags(false, true, true, false, true));
       }},
      {"open create truncate new",
       {Perm::upload},
       [](Filesystem& fs) {
         return open_and_commit(fs, "/new.txt", oflags(false, true, true, true));
       }},
      {"open create only",
       {Perm::upload},
       [](Filesystem& fs) { return open_and_commit(fs, "/new.txt", oflags(false, false, true)); }},
      {"create_unique",
       {Perm::upload},
       [](Filesystem& fs) {
         auto r = run_task(fs.create_unique(VirtualPath(), "up."));
         if (!r)
           return r.error();
         return run_task(r->first->commit()).error();
       }},
      {"open_write replace existing",
       {Perm::overwrite},
       [](Filesystem& fs) {
         return write_and_commit(run_task(fs.open_write(vp("/file.txt"), WriteMode::replace, 0)));
       }},
      {"open_write replace symlink",
       {Perm::overwrite},
       [](Filesystem& fs) {
         return write_and_commit(run_task(fs.open_write(vp("/link"), WriteMode::replace, 0)));
       }},
      {"open_write append existing",
       {Perm::overwrite},
       [](Filesystem& fs) {
         return write_and_commit(run_task(fs.open_write(vp("/file.txt"), WriteMode::append, 0)));
       }},
      {"open_write resume existing",
       {Perm::overwrite},
       [](Filesystem& fs) {
         return write_and_commit(run_task(fs.open_write(vp("/file.txt"), WriteMode::resume, 2)));
       }},
      {"open write existing",
       {Perm::overwrite},
       [](Filesystem& fs) { return open_and_commit(fs, "/file.txt", oflags(false, true)); }},
      {"open create write existing",
       {Perm::overwrite},
       [](Filesystem& fs) { return open_and_commit(fs, "/file.txt", oflags(false, true, true)); }},
      {"open create truncate existing",
       {Perm::overwrite},
       [](Filesystem& fs) {
         return open_and_commit(fs, "/file.txt", oflags(false, true, true, true));
       }},
      {"open append existing",
       {Perm::overwrite},
       [](Filesystem& fs) {
         return open_and_commit(fs, "/file.txt", oflags(false, true, false, false, false, true));
       }},
      {"open read write existing",
       {Perm::download, Perm::overwrite},
       [](Filesystem& fs) { return open_and_commit(fs, "/file.txt", oflags(true, true)); }},
      {"remove_file",
       {Perm::remove},
       [](Filesystem& fs) { return run_task(fs.remove_file(vp("/file.txt"))).error(); }},
      {"rename file",
       {Perm::rename},
       [](Filesystem& fs) {
         return run_task(fs.rename(vp("/file.txt"), vp("/moved.txt"), RenameMode::replace)).error();
       }},
      {"rename directory",
       {Perm::rename},
       [](Filesystem& fs) {
         return run_task(fs.rename(vp("/empty"), vp("/moved"), RenameMode::replace)).error();
       }},
      {"rename over file",
       {Perm::rename, Perm::overwrite},
       [](Filesystem& fs) {
         return run_task(fs.rename(vp("/file.txt"), vp("/other.txt"), RenameMode::replace)).error();
       }},
      // Issue 17, item 13: rename(2) replaces an empty directory: that removes it.
      {"rename directory onto an empty one",
       {Perm::rename, Perm::rmdir},
       [](Filesystem& fs) {
         return run_task(fs.rename(vp("/dir"), vp("/empty"), RenameMode::replace)).error();
       }},
      {"make_directory",
       {Perm::mkdir},
       [](Filesystem& fs) { return run_task(fs.make_directory(vp("/newdir"), 0777)).error(); }},
      {"remove_directory",
       {Perm::rmdir},
       [](Filesystem& fs) { return run_task(fs.remove_directory(vp("/empty"))).error(); }},
      {"set_mode",
       {Perm::chmod},
       [](Filesystem& fs) { return run_task(fs.set_mode(vp("/file.txt"), 0600)).error(); }},
      {"set_mtime",
       {Perm::chmod},
       [](Filesystem& fs) { return run_task(fs.set_mtime(vp("/file.txt"), kTime)).error(); }},
      {"set_times",
       {Perm::chmod},
       [](Filesystem& fs) {
         return run_task(fs.set_times(vp("/file.txt"), kTime, kTime)).error();
       }},
      // Issue 17, item 13: a size change changes the content.
      {"set_size",
       {Perm::overwrite},
       [](Filesystem& fs) { return run_task(fs.set_size(vp("/file.txt"), 2)).error(); }},
      {"File::set_size",
       {Perm::overwrite},
       [](Filesystem& fs) {
         auto f = run_task(fs.open(vp("/file.txt"), oflags(false, true)));
         if (!f)
           return f.error();
         return run_task((*f)->set_size(2)).error();
       }},
      {"File::set_mode",
       {Perm::download, Perm::chmod},
       [](Filesystem& fs) {
         auto f = run_task(fs.open_read(vp("/file.txt"), 0));
         if (!f)
           return f.error();
         return run_task((*f)->set_mode(0600)).error();
       }},
      {"File::set_times",
       {Perm::download, Perm::chmod},
       [](Filesystem& fs) {
         auto f = run_task(fs.open_read(vp("/file.txt"), 0));
         if (!f)
           return f.error();
         return run_task((*f)->set_times(kTime, kTime)).error();
       }},
      {"make_symlink",
       {Perm::symlink},
       [](Filesystem& fs) {
         return run_task(fs.make_symlink(vp("/file.txt"), vp("/newlink"))).error();
       }},
      {"make_hard_link",
       {Perm::symlink},
       [](Filesystem& fs) {
         return run_task(fs.make_hard_link(vp("/file.txt"), vp("/hard"))).error();
       }},
  };
  return ops;
}

bool needs(const Op& op, Perm p) {
  return std::find(op.needs.begin(), op.needs.end(), p) != op.needs.end();
}

TEST(GuardedFsPermissions, EachPermissionGuardsItsOperationsAndNoOthers) {
  for (Perm p : kAllPerms) {
    Permissions without = Permissions::all();
    without.set(p, false);
    for (const Op& op : operations()) {
      SCOPED_TRACE(std::string(op.name) + " without " + std::string(Permissions::name(p)));
      Home home; // fresh for each case: operations change the files
      auto fs = home.session(without);
      ASSERT_TRUE(fs);
      const std::error_code ec = op.run(*fs);
      if (needs(op, p))
        EXPECT_EQ(ec, Errc::permission_denied) << ec.message();
      else
        EXPECT_FALSE(ec) << ec.message();
    }
  }
}

TEST(GuardedFsPermissions, EachOperationNeedsNothingMore) {
  for (const Op& op : operations()) {
    SCOPED_TRACE(op.name);
    Permissions just = Permissions::none();
    for (Perm p : op.needs)
      just.set(p, true);
    Home home;
    auto fs = home.session(just);
    ASSERT_TRUE(fs);
    const std::error_code ec = op.run(*fs);
    EXPECT_FALSE(ec) << ec.message();
  }
}

TEST(GuardedFsPermissions, RefusalsChangeNothing) {
  Home home;
  auto fs = home.session(Permissions::read_only());
  EXPECT_EQ(run_task(fs->remove_file(vp("/file.txt"))).error(), Errc::permission_denied);
  EXPECT_EQ(run_task(fs->rename(vp("/file.txt"), vp("/x"), RenameMode::replace)).error(),
            Errc::permission_denied);
  EXPECT_EQ(run_task(fs->open_write(vp("/file.txt"), WriteMode::replace, 0)).error(),
            Errc::permission_denied);
  EXPECT_EQ(run_task(fs->open_write(vp("/new.txt"), WriteMode::replace, 0)).error(),
            Errc::permission_denied);
  EXPECT_EQ(slurp(home.root() / "file.txt"), "hello");
  EXPECT_FALSE(fs::exists(home.root() / "x"));
  EXPECT_FALSE(fs::exists(home.root() / "new.txt"));
  // What is allowed still works.
  auto f = run_task(fs->open_read(vp("/file.txt"), 0));
  ASSERT_TRUE(f);
}

// Issue 17, item 12: without `overwrite`, an upload allowed because its name
// was free never replaces the complete file another session put there meanwhile.
TEST(GuardedFsPermissions, UploadAllowedAsNewNeverReplaces) {
  Home home;
  Permissions perms = Permissions::all();
  perms.set(Perm::overwrite, false);
  auto fs = home.session(perms);
  auto ftp = run_task(fs->open_write(vp("/race.txt"), WriteMode::replace, 0));
  ASSERT_TRUE(ftp);
  ASSERT_TRUE(run_task((*ftp)->write(bytes("late"))));
  home.put("race.txt", "complete");
  EXPECT_EQ(run_task((*ftp)->commit()).error(), Errc::exists);
  ftp->reset();
  EXPECT_EQ(slurp(home.root() / "race.txt"), "complete");

  // SFTP: created O_EXCL at once, so the name is taken from the open.
  auto sftp = run_task(fs->open(vp("/race2.txt"), oflags(false, true, true, true)));
  ASSERT_TRUE(sftp);
  auto second = home.session(perms);
  EXPECT_EQ(run_task(second->open(vp("/race2.txt"), oflags(false, true, true, true))).error(),
            Errc::permission_denied);

  // A rename onto a taken name needs overwrite.
  home.put("free.txt", "appeared");
  ASSERT_TRUE(run_task(fs->rename(vp("/other.txt"), vp("/moved.txt"), RenameMode::replace)));
  EXPECT_EQ(run_task(fs->rename(vp("/moved.txt"), vp("/free.txt"), RenameMode::replace)).error(),
            Errc::permission_denied);
  EXPECT_EQ(slurp(home.root() / "free.txt"), "appeared");
}

// --- Quota -------------------------------------------------------------------

class GuardedQuotaTest : public ::testing::Test {
protected:
  /// A session whose quota starts at the home's usage on disk.
  /// The home's directories and link: what they count (kEntryBytes and one
  /// file each) comes on top of every usage and limit the tests name.
  static constexpr std::int64_t kEntries = 3;

  /// The usage of a home with `bytes` and `files` of regular files.
  static Usage in_home(std::int64_t bytes, std::int64_t files) {
    return {bytes + kEntries * kEntryBytes, files + kEntries};
  }

  /// A session whose quota starts at the home's usage on disk; its limits
  /// (0: none) are for regular files, the home's entries come on top.
  std::unique_ptr<Filesystem> session(std::int64_t max_bytes, std::int64_t max_files) {
    const Usage limit = in_home(max_bytes, max_files);
    quota_ = std::make_shared<Quota>(max_bytes != 0 ? limit.bytes : 0,
                                     max_files != 0 ? limit.files : 0, home_.disk());
    return session_sharing(quota_);
  }

  std::unique_ptr<Filesystem>
  session_sharing(std::shared_ptr<Quota> quota,
                  core::UploadMode mode = core::UploadMode::atomic) const {
    Rules rules;
    rules.quota = std::move(quota);
    rules.user = "alice";
    return home_.session(std::move(rules), mode);
  }

  static void write(File& f, std::string_view data) {
    auto r = run_task(f.write(bytes(data)));
    EXPECT_TRUE(r) << r.error().message();
  }

  static void commit(File& f) {
    auto r = run_task(f.commit());
    EXPECT_TRUE(r) << r.error().message();
  }

  void expect_consistent() const {
    EXPECT_EQ(quota_->usage(), home_.disk())
        << "quota " << quota_->usage().bytes << " bytes, " << quota_->usage().files << " files";
  }

  Home home_;
  std::shared_ptr<Quota> quota_;
};

// Regression (issue 17, item 14): directories and symlinks counted nothing,
// so 300 of each filled a disk past a 1 MiB quota.
TEST_F(GuardedQuotaTest, ScanCountsFilesDirectoriesAndLinks) {
  // The home: file.txt (5), other.txt (6), dir/inner.txt (5), a symlink, two directories.
  EXPECT_EQ(home_.disk(), (in_home(16, 3)));
  fs::create_directories(home_.root() / "a" / "b" / "c");
  home_.put("a/b/c/deep.bin", std::string(1000, 'x'));
  home_.put("a/.hidden", "12");
  home_.put(".berth-upload-0123456789ab", "in progress, not a file yet");
  fs::create_symlink("/etc/passwd", home_.root() / "a" / "escape");
  fs::create_directory_symlink("/usr", home_.root() / "a" / "usr");
  fs::create_hard_link(home_.root() / "file.txt", home_.root() / "a" / "hard");
  // Three more directories (a, b, c) and two more links, each kEntryBytes.
  EXPECT_EQ(home_.disk(), (in_home(16 + 1000 + 2 + 5 + 5 * kEntryBytes, 3 + 3 + 5)));

  auto missing = LocalFs::usage(home_.root() / "absent");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), Errc::not_found);
}

TEST_F(GuardedQuotaTest, BytesLimitStopsTheWriteThatWouldExceed) {
  auto fs = session(16 + 10, 0);
  auto f = run_task(fs->open_write(vp("/new.txt"), WriteMode::replace, 0));
  ASSERT_TRUE(f);
  write(**f, "12345678");
  auto over = run_task((*f)->write(bytes("abc")));
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error(), Errc::quota_exceeded);
  auto st = run_task((*f)->stat());
  ASSERT_TRUE(st);
  EXPECT_EQ(st->size, 8u) << "nothing of the refused write reached the file";
  write(**f, "90"); // exactly at the limit
  commit(**f);
  EXPECT_EQ(slurp(home_.root() / "new.txt"), "1234567890");
  EXPECT_EQ(quota_->usage(), (in_home(26, 4)));
  expect_consistent();
}

TEST_F(GuardedQuotaTest, DiscardedReplaceGivesBackEverything) {
  auto fs = session(0, 0);
  {
    auto f = run_task(fs->open_write(vp("/new.txt"), WriteMode::replace, 0));
    ASSERT_TRUE(f);
    write(**f, std::string(100, 'x'));
    EXPECT_EQ(quota_->usage(), (in_home(116, 4)));
  }
  {
    auto f = run_task(fs->open_write(vp("/file.txt"), WriteMode::replace, 0));
    ASSERT_TRUE(f);
    write(**f, std::string(100, 'x'));
  }
  EXPECT_EQ(quota_->usage(), (in_home(16, 3)));
  EXPECT_EQ(slurp(home_.root() / "file.txt"), "hello");
  expect_consistent();
}

TEST_F(GuardedQuotaTest, CommittedReplaceGivesBackTheOldFile) {
  auto fs = session(0, 0);
  auto f = run_task(fs->open_write(vp("/file.txt"), WriteMode::replace, 0));
  ASSERT_TRUE(f);
  write(**f, std::string(20, 'x'));
  commit(**f);
  f->reset();
  EXPECT_EQ(quota_->usage(), (in_home(16 - 5 + 20, 3)));
  expect_consistent();

  // The same through SFTP's open (create + truncate + write is a replace).
  auto g = run_task(fs->open(vp("/other.txt"), oflags(false, true, true, true)));
  ASSERT_TRUE(g);
  ASSERT_TRUE(run_task((*g)->write_at(0, bytes("ab"))));
  commit(**g);
  g->reset();
  expect_consistent();
}

TEST_F(GuardedQuotaTest, DirectReplaceGivesBackTheOldFileAtTheOpen) {
  quota_ = std::make_shared<Quota>(0, 0, home_.disk());
  auto fs = session_sharing(quota_, core::UploadMode::direct);
  auto f = run_task(fs->open_write(vp("/file.txt"), WriteMode::replace, 0));
  ASSERT_TRUE(f);
  EXPECT_EQ(quota_->usage(), (in_home(16 - 5, 3))) << "truncated in place";
  write(**f, std::string(20, 'x'));
  f->reset(); // interrupted: what was written stays, and stays charged
  EXPECT_EQ(slurp(home_.root() / "file.txt"), std::string(20, 'x'));
  expect_consistent();

  auto g = run_task(fs->open_write(vp("/dir/new.txt"), WriteMode::replace, 0));
  ASSERT_TRUE(g);
  write(**g, "abc");
  commit(**g);
  g->reset();
  expect_consistent();

  // SFTP's create + truncate + write, in place too.
  auto h = run_task(fs->open(vp("/other.txt"), oflags(false, true, true, true)));
  ASSERT_TRUE(h);
  ASSERT_TRUE(run_task((*h)->write_at(0, bytes("ab"))));
  commit(**h);
  h->reset();
  EXPECT_EQ(slurp(home_.root() / "other.txt"), "ab");
  expect_consistent();
}

TEST_F(GuardedQuotaTest, ReplaceAtTheFilesLimitOfAnExistingFile) {
  auto fs = session(0, 3); // full: three files
  auto f = run_task(fs->open_write(vp("/file.txt"), WriteMode::replace, 0));
  ASSERT_TRUE(f) << "replacing a file adds none";
  write(**f, "new");
  commit(**f);
  f->reset();
  expect_consistent();
}

TEST_F(GuardedQuotaTest, ReplaceWhoseTargetChangedMeanwhile) {
  auto fs = session(0, 0);
  auto other = session_sharing(quota_);
  // Opened over an existing file that another session removes before commit.
  auto f = run_task(fs->open_write(vp("/file.txt"), WriteMode::replace, 0));
  ASSERT_TRUE(f);
  ASSERT_TRUE(run_task(other->remove_file(vp("/file.txt"))));
  write(**f, "1234");
  commit(**f);
  f->reset();
  expect_consistent();
  // Opened as new; another session creates the target before commit.
  auto g = run_task(fs->open_write(vp("/new.txt"), WriteMode::replace, 0));
  ASSERT_TRUE(g);
  auto h = run_task(other->open_write(vp("/new.txt"), WriteMode::append, 0));
  ASSERT_TRUE(h);
  write(**h, "first");
  commit(**h);
  write(**g, "second!");
  commit(**g);
  g->reset();
  h->reset();
  expect_consistent();
}

TEST_F(GuardedQuotaTest, RemoveGivesBackTheFile) {
  auto fs = session(0, 0);
  ASSERT_TRUE(run_task(fs->remove_file(vp("/file.txt"))));
  EXPECT_EQ(quota_->usage(), (in_home(11, 2)));
  ASSERT_TRUE(run_task(fs->remove_file(vp("/link")))); // a symlink: nothing counted
  EXPECT_FALSE(run_task(fs->remove_file(vp("/missing"))));
  expect_consistent();
}

TEST_F(GuardedQuotaTest, RenameOverAFileGivesBackTheReplacedOne) {
  auto fs = session(0, 0);
  ASSERT_TRUE(run_task(fs->rename(vp("/file.txt"), vp("/other.txt"), RenameMode::replace)));
  EXPECT_EQ(quota_->usage(), (in_home(10, 2)));
  expect_consistent();
  ASSERT_TRUE(run_task(fs->rename(vp("/other.txt"), vp("/dir/moved.txt"), RenameMode::replace)));
  expect_consistent();
  // Two names of one file: rename(2) leaves both, nothing is given back.
  fs::create_hard_link(home_.root() / "dir" / "moved.txt", home_.root() / "twin");
  quota_->set_usage(home_.disk());
  ASSERT_TRUE(run_task(fs->rename(vp("/twin"), vp("/dir/moved.txt"), RenameMode::replace)));
  expect_consistent();
}

TEST_F(GuardedQuotaTest, AppendChargesItsGrowth) {
  auto fs = session(0, 0);
  auto f = run_task(fs->open_write(vp("/file.txt"), WriteMode::append, 0));
  ASSERT_TRUE(f);
  write(**f, " world");
  commit(**f);
  f->reset();
  EXPECT_EQ(slurp(home_.root() / "file.txt"), "hello world");
  EXPECT_EQ(quota_->usage(), (in_home(22, 3)));
  expect_consistent();
  // A new file by append counts one more.
  auto g = run_task(fs->open_write(vp("/log.txt"), WriteMode::append, 0));
  ASSERT_TRUE(g);
  write(**g, "x");
  g->reset(); // not committed: append keeps what it wrote
  expect_consistent();
}

TEST_F(GuardedQuotaTest, RewritingExistingBytesIsFree) {
  auto fs = session(16, 0); // full
  // Resume inside the file: free; the commit cuts the file after the last byte.
  auto f = run_task(fs->open_write(vp("/file.txt"), WriteMode::resume, 1));
  ASSERT_TRUE(f);
  write(**f, "EL");
  commit(**f);
  f->reset();
  EXPECT_EQ(slurp(home_.root() / "file.txt"), "hEL");
  EXPECT_EQ(quota_->usage(), (in_home(14, 3)));
  expect_consistent();

  // Random access in place: within the end free, past it charged.
  auto g = run_task(fs->open(vp("/other.txt"), oflags(true, true)));
  ASSERT_TRUE(g);
  ASSERT_TRUE(run_task((*g)->write_at(0, bytes("OTHER!"))));
  ASSERT_TRUE(run_task((*g)->write_at(5, bytes("!!")))); // one byte past the end
  auto over = run_task((*g)->write_at(7, bytes("xy")));  // 2 more do not fit
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error(), Errc::quota_exceeded);
  ASSERT_TRUE(run_task((*g)->write_at(7, bytes("z"))));
  EXPECT_EQ(slurp(home_.root() / "other.txt"), "OTHER!!z");
  g->reset();
  EXPECT_EQ(quota_->usage(), (in_home(16, 3)));
  expect_consistent();
}

TEST_F(GuardedQuotaTest, InPlaceTruncateGivesBack) {
  auto fs = session(0, 0);
  auto f = run_task(fs->open(vp("/other.txt"), oflags(false, true, false, true)));
  ASSERT_TRUE(f);
  expect_consistent();
  ASSERT_TRUE(run_task((*f)->write_at(0, bytes("ab"))));
  f->reset();
  expect_consistent();
}

TEST_F(GuardedQuotaTest, SetSizeAdjustsAndRefusesGrowthPastTheLimit) {
  auto fs = session(20, 0);
  ASSERT_TRUE(run_task(fs->set_size(vp("/file.txt"), 2)));
  EXPECT_EQ(quota_->usage(), (in_home(13, 3)));
  expect_consistent();
  auto over = run_task(fs->set_size(vp("/file.txt"), 10));
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error(), Errc::quota_exceeded);
  EXPECT_EQ(fs::file_size(home_.root() / "file.txt"), 2u);
  ASSERT_TRUE(run_task(fs->set_size(vp("/link"), 9))); // through the symlink
  EXPECT_EQ(quota_->usage(), (in_home(20, 3)));
  expect_consistent();

  auto f = run_task(fs->open(vp("/other.txt"), oflags(false, true)));
  ASSERT_TRUE(f);
  auto grow = run_task((*f)->set_size(7));
  ASSERT_FALSE(grow);
  EXPECT_EQ(grow.error(), Errc::quota_exceeded);
  ASSERT_TRUE(run_task((*f)->set_size(1)));
  expect_consistent();
  // The cut bytes are growth again when written back.
  ASSERT_TRUE(run_task((*f)->write_at(1, bytes("12345"))));
  ASSERT_FALSE(run_task((*f)->write_at(6, bytes("67"))));
  f->reset();
  expect_consistent();
}

TEST_F(GuardedQuotaTest, FilesLimit) {
  auto fs = session(0, 4);
  auto f = run_task(fs->open_write(vp("/new.txt"), WriteMode::replace, 0));
  ASSERT_TRUE(f);
  // The fifth file, however it is made, is refused.
  auto refused = [&](std::error_code ec) { EXPECT_EQ(ec, Errc::quota_exceeded) << ec.message(); };
  refused(run_task(fs->open_write(vp("/b.txt"), WriteMode::replace, 0)).error());
  refused(run_task(fs->open_write(vp("/b.txt"), WriteMode::append, 0)).error());
  refused(run_task(fs->open_write(vp("/b.txt"), WriteMode::resume, 0)).error());
  refused(run_task(fs->open(vp("/b.txt"), oflags(false, true, true))).error());
  refused(run_task(fs->open(vp("/b.txt"), oflags(false, true, true, false, true))).error());
  refused(run_task(fs->create_unique(VirtualPath(), "up.")).error());
  EXPECT_EQ(run_task(fs->make_hard_link(vp("/file.txt"), vp("/hard"))).error(),
            Errc::permission_denied);
  EXPECT_FALSE(fs::exists(home_.root() / "b.txt"));
  EXPECT_FALSE(fs::exists(home_.root() / "hard"));
  // Directories and links count as files too.
  refused(run_task(fs->make_directory(vp("/sub"), 0777)).error());
  refused(run_task(fs->make_symlink(vp("/file.txt"), vp("/sym"))).error());
  EXPECT_FALSE(fs::exists(home_.root() / "sub"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(home_.root() / "sym")));
  // A discarded upload frees its place.
  f->reset();
  EXPECT_EQ(quota_->usage(), (in_home(16, 3)));
  auto g = run_task(fs->create_unique(VirtualPath(), "up."));
  ASSERT_TRUE(g);
  commit(*g->first);
  expect_consistent();
}

// Issue 18: statvfs (SFTP) and AVBL (FTP) show a quota user the quota as the
// filesystem's size and what is left of it as its free space, as SFTPGo does.
TEST_F(GuardedQuotaTest, FsStatsShowTheQuota) {
  auto disk = run_task(session(0, 0)->fs_stats(VirtualPath()));
  ASSERT_TRUE(disk);
  EXPECT_GT(disk->blocks, 0u);
  const std::int64_t max_bytes = 40 * 4096;
  const std::int64_t max_files = 100;
  quota_ = std::make_shared<Quota>(max_bytes, max_files, home_.disk());
  auto fs = session_sharing(quota_);
  auto st = run_task(fs->fs_stats(VirtualPath()));
  ASSERT_TRUE(st);
  const Usage used = home_.disk();
  ASSERT_GT(st->fragment_size, 0u);
  EXPECT_EQ(st->blocks * st->fragment_size, static_cast<std::uint64_t>(max_bytes));
  EXPECT_EQ(st->blocks_available,
            static_cast<std::uint64_t>(max_bytes - used.bytes) / st->fragment_size);
  EXPECT_EQ(st->blocks_free, st->blocks_available);
  EXPECT_EQ(st->files, static_cast<std::uint64_t>(max_files));
  EXPECT_EQ(st->files_available, static_cast<std::uint64_t>(max_files - used.files));
  // Past the limit (the usage was found larger than it): nothing is free.
  quota_->adjust(max_bytes, max_files);
  st = run_task(fs->fs_stats(VirtualPath()));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->blocks_available, 0u);
  EXPECT_EQ(st->files_available, 0u);
  // Limits of 0 leave the disk's figures.
  quota_->set_limits(0, 0);
  st = run_task(fs->fs_stats(VirtualPath()));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->blocks, disk->blocks);
  EXPECT_EQ(st->files, disk->files);
}

// Regression (review of #5): usage counts names, so a file growing through one
// name while another existed was charged once and given back once per name.
// With a quota there are no hard links.
TEST_F(GuardedQuotaTest, NoHardLinksWithAQuota) {
  auto fs = session(0, 0);
  EXPECT_EQ(run_task(fs->make_hard_link(vp("/file.txt"), vp("/hard"))).error(),
            Errc::permission_denied);
  EXPECT_FALSE(fs::exists(home_.root() / "hard"));
  expect_consistent();
}

// Regression (review of #5): a second handle that cut the file was given its
// bytes back; rewriting them through the first handle must be charged again.
TEST_F(GuardedQuotaTest, BytesCutByAnotherHandleAreChargedAgain) {
  auto fs = session(0, 0);
  const Usage start = quota_->usage();
  auto a = run_task(fs->open(vp("/file.txt"), oflags(false, true, false)));
  ASSERT_TRUE(a);
  auto b = run_task(fs->open(vp("/file.txt"), oflags(false, true, false, true)));
  ASSERT_TRUE(b); // write + truncate, no create: cut in place
  b->reset();
  const std::string data(5000, 'q');
  ASSERT_TRUE(run_task((*a)->write_at(0, bytes(data))));
  ASSERT_TRUE(run_task((*a)->commit()));
  a->reset();
  expect_consistent();
  EXPECT_GT(quota_->usage().bytes, start.bytes);
}

TEST_F(GuardedQuotaTest, FailedOpensChargeNothing) {
  auto fs = session(0, 0);
  EXPECT_FALSE(run_task(fs->open_write(vp("/dir"), WriteMode::replace, 0)));
  EXPECT_FALSE(run_task(fs->open_write(vp("/missing/x"), WriteMode::append, 0)));
  EXPECT_FALSE(run_task(fs->open(vp("/file.txt"), oflags(false, true, true, false, true))));
  EXPECT_FALSE(run_task(fs->create_unique(vp("/missing"), "up.")));
  EXPECT_EQ(quota_->usage(), (in_home(16, 3)));
}

TEST_F(GuardedQuotaTest, RacingSessionsNeverPassTheLimit) {
  constexpr std::int64_t kRoom = 64 * 1024;
  auto first = session(16 + kRoom, 0);
  auto second = session_sharing(quota_);
  const std::string chunk(1000, 'x');
  auto upload = [&chunk](Filesystem* fs, const char* path, std::int64_t* written) {
    auto f = run_task(fs->open_write(vp(path), WriteMode::replace, 0));
    ASSERT_TRUE(f);
    for (;;) {
      auto r = run_task((*f)->write(bytes(chunk)));
      if (!r) {
        EXPECT_EQ(r.error(), Errc::quota_exceeded);
        break;
      }
      *written += static_cast<std::int64_t>(chunk.size());
    }
    ASSERT_TRUE(run_task((*f)->commit()));
  };
  std::int64_t a = 0;
  std::int64_t b = 0;
  std::thread one(upload, first.get(), "/a.bin", &a);
  std::thread two(upload, second.get(), "/b.bin", &b);
  one.join();
  two.join();
  EXPECT_LE(a + b, kRoom);
  EXPECT_GT(a + b, kRoom - 2 * static_cast<std::int64_t>(chunk.size()));
  EXPECT_EQ(static_cast<std::int64_t>(fs::file_size(home_.root() / "a.bin")), a);
  EXPECT_EQ(static_cast<std::int64_t>(fs::file_size(home_.root() / "b.bin")), b);
  expect_consistent();
}

// Regression (issue 17, item 14): a directory or a link is one file and
// kEntryBytes, charged when made and given back when it goes, however it goes.
TEST_F(GuardedQuotaTest, DirectoriesAndLinksAreChargedAndGivenBack) {
  auto fs = session(0, 0);
  ASSERT_TRUE(run_task(fs->make_directory(vp("/sub"), 0777)));
  ASSERT_TRUE(run_task(fs->make_symlink(vp("/file.txt"), vp("/sub/sym"))));
  EXPECT_EQ(quota_->usage(), in_home(16 + 2 * kEntryBytes, 3 + 2));
  expect_consistent();
  // A link replaced by a rename, by an upload, and removed.
  ASSERT_TRUE(run_task(fs->make_symlink(vp("/file.txt"), vp("/sym2"))));
  ASSERT_TRUE(run_task(fs->rename(vp("/sub/sym"), vp("/sym2"), RenameMode::replace)));
  expect_consistent();
  auto f = run_task(fs->open_write(vp("/sym2"), WriteMode::replace, 0));
  ASSERT_TRUE(f);
  write(**f, "abc");
  commit(**f);
  f->reset();
  EXPECT_EQ(fs::symlink_status(home_.root() / "sym2").type(), fs::file_type::regular);
  expect_consistent();
  ASSERT_TRUE(run_task(fs->remove_file(vp("/link"))));
  expect_consistent();
  // An empty directory replaced by a rename, and one removed.
  ASSERT_TRUE(run_task(fs->rename(vp("/sub"), vp("/empty"), RenameMode::replace)));
  expect_consistent();
  ASSERT_TRUE(run_task(fs->remove_directory(vp("/empty"))));
  EXPECT_EQ(quota_->usage(), in_home(16 + 3 - 2 * kEntryBytes, 4 - 2));
  expect_consistent();
  // Refused: past the bytes limit, and when making it fails.
  auto full = session_sharing(std::make_shared<Quota>(1, 0, home_.disk()));
  EXPECT_EQ(run_task(full->make_directory(vp("/big"), 0777)).error(), Errc::quota_exceeded);
  EXPECT_EQ(run_task(full->make_symlink(vp("/file.txt"), vp("/big"))).error(),
            Errc::quota_exceeded);
  EXPECT_FALSE(fs::exists(fs::symlink_status(home_.root() / "big")));
  auto any = session(0, 0);
  EXPECT_FALSE(run_task(any->make_directory(vp("/dir"), 0777)));
  EXPECT_FALSE(run_task(any->make_symlink(vp("/file.txt"), vp("/dir"))));
  expect_consistent();
}

// Lets other coroutines of the loop run, as a backend whose calls wait for a
// disk would.
core::Task<void> yield_loop() {
  auto ex = co_await asio::this_coro::executor;
  co_await asio::post(ex, asio::use_awaitable);
}

// A LocalFs whose every call lets the loop run others before it, so that two
// sessions' operations interleave.
class YieldingFs final : public Filesystem {
public:
  explicit YieldingFs(std::unique_ptr<Filesystem> inner) : inner_(std::move(inner)) {}

  // vfs::Filesystem
  core::Task<core::Result<Stat>> stat(const VirtualPath& p) override {
    co_await yield_loop();
    co_return co_await inner_->stat(p);
  }
  core::Task<core::Result<std::vector<DirEntry>>> list(const VirtualPath& p) override {
    co_await yield_loop();
    co_return co_await inner_->list(p);
  }
  core::Task<core::Result<std::unique_ptr<File>>> open_read(const VirtualPath& p,
                                                            std::uint64_t offset) override {
    co_await yield_loop();
    co_return co_await inner_->open_read(p, offset);
  }
  core::Task<core::Result<std::unique_ptr<File>>> open_write(const VirtualPath& p, WriteMode mode,
                                                             std::uint64_t offset) override {
    co_await yield_loop();
    co_return co_await inner_->open_write(p, mode, offset);
  }
  core::UploadMode upload_mode() const override { return inner_->upload_mode(); }
  core::Task<core::Result<std::pair<std::unique_ptr<File>, std::string>>>
  create_unique(const VirtualPath& dir, std::string_view prefix) override {
    co_await yield_loop();
    co_return co_await inner_->create_unique(dir, prefix);
  }
  core::Task<core::Result<void>> make_directory(const VirtualPath& p, std::uint32_t mode) override {
    co_await yield_loop();
    co_return co_await inner_->make_directory(p, mode);
  }
  core::Task<core::Result<void>> remove_directory(const VirtualPath& p) override {
    co_await yield_loop();
    co_return co_await inner_->remove_directory(p);
  }
  core::Task<core::Result<void>> remove_file(const VirtualPath& p) override {
    co_await yield_loop();
    co_return co_await inner_->remove_file(p);
  }
  core::Task<core::Result<void>> rename(const VirtualPath& from, const VirtualPath& to,
                                        RenameMode mode) override {
    co_await yield_loop();
    co_return co_await inner_->rename(from, to, mode);
  }
  core::Task<core::Result<void>> set_mtime(const VirtualPath& p,
                                           std::chrono::system_clock::time_point t) override {
    co_await yield_loop();
    co_return co_await inner_->set_mtime(p, t);
  }
  core::Task<core::Result<void>> set_mode(const VirtualPath& p, std::uint32_t mode) override {
    co_await yield_loop();
    co_return co_await inner_->set_mode(p, mode);
  }
  core::Task<core::Result<Stat>> lstat(const VirtualPath& p) override {
    co_await yield_loop();
    co_return co_await inner_->lstat(p);
  }
  core::Task<core::Result<std::unique_ptr<File>>> open(const VirtualPath& p,
                                                       const OpenFlags& flags) override {
    co_await yield_loop();
    co_return co_await inner_->open(p, flags);
  }
  core::Task<core::Result<std::string>> read_link(const VirtualPath& p) override {
    co_await yield_loop();
    co_return co_await inner_->read_link(p);
  }
  core::Task<core::Result<void>> make_symlink(const VirtualPath& target,
                                              const VirtualPath& link) override {
    co_await yield_loop();
    co_return co_await inner_->make_symlink(target, link);
  }
  core::Task<core::Result<void>> make_hard_link(const VirtualPath& target,
                                                const VirtualPath& link) override {
    co_await yield_loop();
    co_return co_await inner_->make_hard_link(target, link);
  }
  core::Task<core::Result<void>> set_size(const VirtualPath& p, std::uint64_t size) override {
    co_await yield_loop();
    co_return co_await inner_->set_size(p, size);
  }
  core::Task<core::Result<void>> set_times(const VirtualPath& p,
                                           std::chrono::system_clock::time_point atime,
                                           std::chrono::system_clock::time_point mtime) override {
    co_await yield_loop();
    co_return co_await inner_->set_times(p, atime, mtime);
  }
  core::Task<core::Result<FsStats>> fs_stats(const VirtualPath& p) override {
    co_await yield_loop();
    co_return co_await inner_->fs_stats(p);
  }

private:
  std::unique_ptr<Filesystem> inner_;
};

core::Task<void> cut_to_zero(Filesystem* fs, VirtualPath path, int* done) {
  auto r = co_await fs->set_size(path, 0);
  EXPECT_TRUE(r) << r.error().message();
  ++*done;
}

core::Task<void> cut_by_open(Filesystem* fs, VirtualPath path, int* done) {
  OpenFlags flags;
  flags.write = true;
  flags.truncate = true;
  auto r = co_await fs->open(path, flags);
  EXPECT_TRUE(r) << r.error().message();
  ++*done;
}

// Regression (issue 17, item 14): two sessions truncating one file at once
// both looked at its size before either cut it, and both gave it back (1.43 MB
// stored under a 1 MiB quota). The two run interleaved on one loop.
TEST_F(GuardedQuotaTest, RacingTruncationsGiveTheBytesBackOnce) {
  session(0, 0);
  auto yielding = [&] {
    auto local = LocalFs::open(home_.root(), nullptr, core::UploadMode::atomic);
    EXPECT_TRUE(local);
    Rules rules;
    rules.quota = quota_;
    rules.user = "alice";
    return guard(std::make_unique<YieldingFs>(std::move(*local)), std::move(rules));
  };
  auto a = yielding();
  auto b = yielding();
  for (int round = 0; round < 2; ++round) {
    home_.put("big.bin", std::string(1000, 'b'));
    quota_->set_usage(home_.disk());
    asio::io_context ctx;
    int done = 0;
    const VirtualPath path = vp("/big.bin");
    if (round == 0) {
      asio::co_spawn(ctx, cut_to_zero(a.get(), path, &done), asio::detached);
      asio::co_spawn(ctx, cut_to_zero(b.get(), path, &done), asio::detached);
    } else {
      asio::co_spawn(ctx, cut_by_open(a.get(), path, &done), asio::detached);
      asio::co_spawn(ctx, cut_by_open(b.get(), path, &done), asio::detached);
    }
    ctx.run();
    ASSERT_EQ(done, 2);
    ASSERT_EQ(fs::file_size(home_.root() / "big.bin"), 0u);
    expect_consistent();
  }
}

// --- Open files --------------------------------------------------------------

// Regression (issue 17, item 7): one user's sessions held every descriptor.
// Every way of opening a file, and a listing, takes a place of the user's.
TEST(GuardedFsOpenFiles, AUsersShareOfOpenFilesIsEnforced) {
  Home home;
  auto budget = std::make_shared<OpenFiles>(10, 2);
  auto session_of = [&](const char* user) {
    Rules rules;
    rules.open_files = budget;
    rules.user = user;
    return home.session(std::move(rules));
  };
  auto one = session_of("alice");
  auto two = session_of("alice"); // the share is the user's, not a session's
  OpenFlags read;
  read.read = true;
  auto a = run_task(one->open_read(vp("/file.txt"), 0));
  ASSERT_TRUE(a);
  auto b = run_task(two->open(vp("/other.txt"), read));
  ASSERT_TRUE(b);
  EXPECT_EQ(budget->open_by("alice"), 2u);
  auto refused = [](std::error_code ec) {
    EXPECT_EQ(ec, Errc::too_many_open_files) << ec.message();
  };
  refused(run_task(one->open_read(vp("/file.txt"), 0)).error());
  refused(run_task(two->open(vp("/file.txt"), read)).error());
  refused(run_task(one->open_write(vp("/new.txt"), WriteMode::replace, 0)).error());
  refused(run_task(one->create_unique(VirtualPath(), "up.")).error());
  refused(run_task(one->list(VirtualPath())).error());
  refused(run_task(one->open_dir(VirtualPath())).error());
  EXPECT_FALSE(fs::exists(home.root() / "new.txt"));
  // Another user is not limited by alice's files.
  auto bob = session_of("bob");
  EXPECT_TRUE(run_task(bob->list(VirtualPath())));
  EXPECT_TRUE(run_task(bob->open_read(vp("/file.txt"), 0)));
  // A directory being read holds a place until its reader is gone (issue 19).
  auto reading = run_task(bob->open_dir(VirtualPath()));
  ASSERT_TRUE(reading);
  EXPECT_EQ(budget->open_by("bob"), 1u);
  auto names = run_task((*reading)->next());
  ASSERT_TRUE(names);
  EXPECT_FALSE(names->empty());
  reading->reset();
  EXPECT_EQ(budget->open_by("bob"), 0u);
  // A closed file gives its place back.
  a->reset();
  EXPECT_EQ(budget->open_by("alice"), 1u);
  auto c = run_task(one->open_write(vp("/new.txt"), WriteMode::replace, 0));
  ASSERT_TRUE(c);
  ASSERT_TRUE(run_task((*c)->write(bytes("new"))));
  ASSERT_TRUE(run_task((*c)->commit()));
  c->reset();
  b->reset();
  EXPECT_EQ(budget->open(), 0u);
}

// --- Throttles ---------------------------------------------------------------

TEST(GuardedFsThrottle, ZeroCopyOnlyWhenNothingIsBypassed) {
  Home home;
  auto handle_of = [&home](Rules rules, bool write) {
    auto fs = home.session(std::move(rules));
    auto f = write ? run_task(fs->open_write(vp("/file.txt"), WriteMode::append, 0))
                   : run_task(fs->open_read(vp("/file.txt"), 0));
    EXPECT_TRUE(f);
    if (!f)
      return -2;
    net::ZeroCopyFile* zc = (*f)->zero_copy();
    return zc != nullptr ? zc->descriptor() : -1;
  };
  EXPECT_GE(handle_of(Rules{}, false), 0);
  EXPECT_GE(handle_of(Rules{}, true), 0);

  Rules unlimited;
  unlimited.download.push_back(std::make_shared<net::Throttle>(0));
  unlimited.download.push_back(nullptr);
  EXPECT_GE(handle_of(unlimited, false), 0);

  Rules slow_down;
  slow_down.download.push_back(std::make_shared<net::Throttle>(1'000'000));
  EXPECT_EQ(handle_of(slow_down, false), -1);
  EXPECT_GE(handle_of(slow_down, true), 0);

  Rules slow_up;
  slow_up.upload.push_back(std::make_shared<net::Throttle>(1'000'000));
  EXPECT_GE(handle_of(slow_up, false), 0);
  EXPECT_EQ(handle_of(slow_up, true), -1);

  Rules quota;
  quota.quota = std::make_shared<Quota>(0, 0);
  EXPECT_GE(handle_of(quota, false), 0);
  EXPECT_EQ(handle_of(quota, true), -1);
}

TEST(GuardedFsThrottle, ThrottledTransfersMoveTheirBytes) {
  Home home;
  Rules rules;
  // 4 MB/s: a 1 MiB burst, then the 4 KiB past it wait about a millisecond.
  auto shared = std::make_shared<net::Throttle>(4'000'000);
  rules.upload = {shared};
  rules.download = {std::make_shared<net::Throttle>(shared->rate()),
                    std::make_shared<net::Throttle>(0)};
  auto fs = home.session(std::move(rules));
  auto w = run_task(fs->open_write(vp("/new.txt"), WriteMode::replace, 0));
  ASSERT_TRUE(w);
  const std::string big(net::Throttle::burst_for(shared->rate()) + 4096, 'b');
  ASSERT_TRUE(run_task((*w)->write(bytes(big))));
  ASSERT_TRUE(run_task((*w)->write_at(big.size(), bytes("!"))));
  ASSERT_TRUE(run_task((*w)->commit()));
  auto r = run_task(fs->open_read(vp("/new.txt"), 0));
  ASSERT_TRUE(r);
  // Sequential readers are told a size that passes the throttle soon (a
  // quarter second of the rate); unthrottled files have no such limit.
  EXPECT_EQ((*r)->read_size_limit(), shared->rate() / 4);
  EXPECT_EQ((*w)->read_size_limit(), 0u);
  // A throttled read is paced piece by piece but never short before the end
  // of the file (issue 17: SFTP clients take a short READ for the end).
  std::vector<std::byte> buf(big.size() + 10);
  auto mid = run_task((*r)->read_at(1, std::span(buf).first(big.size() - 1)));
  ASSERT_TRUE(mid);
  EXPECT_EQ(*mid, big.size() - 1);
  auto n = run_task((*r)->read(buf));
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, big.size() + 1);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.data()), *n), big + "!");
  auto end = run_task((*r)->read(buf));
  ASSERT_TRUE(end);
  EXPECT_EQ(*end, 0u);
  auto m = run_task((*r)->read_at(0, std::span(buf).first(3)));
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, 3u);
}

} // namespace
} // namespace berth::vfs
