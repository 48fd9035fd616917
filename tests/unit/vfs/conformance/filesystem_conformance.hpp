#pragma once
// The conformance suite of vfs::Filesystem: what every backend must do, as a
// type-parameterized GoogleTest suite. A backend's test file instantiates it
// with a Backend type:
//
//   struct Backend {
//     static constexpr bool kSymlinks;          // make_symlink works (else unsupported)
//     std::unique_ptr<vfs::Filesystem> open();  // a session on the test's home,
//                                               // empty at the first call
//     void clean(Loop&, vfs::Filesystem&);      // after the test (may do nothing)
//   };
//
// Everything a test needs is made through the Filesystem under test, so the
// suite never looks behind the interface.

#include "core/task.hpp"
#include "support/run_task.hpp"
#include "support/vfs_helpers.hpp"
#include "vfs/errc.hpp"
#include "vfs/filesystem.hpp"

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace berth::vfs::conformance {

template <class T> core::Task<void> store_result(core::Task<T> task, std::optional<T>* out) {
  out->emplace(co_await std::move(task));
}

/// One io_context for the whole test: a backend's open files and its HTTP
/// connections stay bound to the loop they were made on.
class Loop {
public:
  template <class T> T run(core::Task<T> task) {
    std::optional<T> out;
    drive(store_result(std::move(task), &out));
    if (!out)
      throw std::logic_error("conformance: the task did not finish");
    return std::move(*out);
  }

private:
  void drive(core::Task<void> task) {
    bool done = false;
    std::exception_ptr error;
    asio::co_spawn(ctx_, std::move(task), [&](std::exception_ptr e) {
      error = e;
      done = true;
    });
    ctx_.restart();
    while (!done && ctx_.run_one() > 0) {
    }
    if (error)
      std::rethrow_exception(error);
  }

  asio::io_context ctx_;
};

/// Deterministic content of `n` bytes (not a repeating short pattern, so that
/// a misplaced block shows).
inline std::string pattern(std::size_t n, unsigned seed = 1) {
  std::string out(n, '\0');
  std::uint32_t x = 2463534242u + seed;
  for (auto& c : out) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x & 0xff);
  }
  return out;
}

template <class Backend> class FilesystemConformance : public ::testing::Test {
protected:
  void SetUp() override {
    fs_ = backend_.open();
    ASSERT_NE(fs_, nullptr);
  }

  void TearDown() override {
    other_.reset();
    if (fs_)
      backend_.clean(loop_, *fs_);
    fs_.reset();
  }

  Filesystem& fs() { return *fs_; }

  template <class T> T run(core::Task<T> task) { return loop_.run(std::move(task)); }

  /// A committed replace upload of `content` to `path`, in writes of `chunk` bytes.
  void put(std::string_view path, std::string_view content, std::size_t chunk = 1 << 20) {
    auto f = run(fs().open_write(test::vp(path), WriteMode::replace, 0));
    ASSERT_TRUE(f) << "open_write " << path << ": " << f.error().message();
    write(**f, content, chunk);
    auto c = run((*f)->commit());
    ASSERT_TRUE(c) << "commit " << path << ": " << c.error().message();
  }

  void write(File& f, std::string_view content, std::size_t chunk = 1 << 20) {
    for (std::size_t at = 0; at < content.size(); at += chunk) {
      auto r = run(f.write(test::bytes(content.substr(at, chunk))));
      ASSERT_TRUE(r) << "write: " << r.error().message();
    }
  }

  void mkdir(std::string_view path) {
    auto r = run(fs().make_directory(test::vp(path), 0755));
    ASSERT_TRUE(r) << "make_directory " << path << ": " << r.error().message();
  }

  /// Everything from `f`'s position to the end, read `chunk` bytes at a time.
  std::string read_all(File& f, std::size_t chunk = 64 << 10) {
    std::string out;
    std::vector<std::byte> buf(chunk);
    for (;;) {
      auto n = run(f.read(buf));
      if (!n) {
        ADD_FAILURE() << "read: " << n.error().message();
        return out;
      }
      if (*n == 0)
        return out;
      out.append(reinterpret_cast<const char*>(buf.data()), *n);
    }
  }

  /// Another session on the same home (a second login of the user).
  Filesystem& other() {
    if (!other_)
      other_ = backend_.open();
    return *other_;
  }

  /// The content of `path` from `offset` as `session` sees it (the test's
  /// own by default), or "<message>" for an error.
  std::string read(std::string_view path, std::uint64_t offset = 0, Filesystem* session = nullptr) {
    auto f = run((session ? *session : fs()).open_read(test::vp(path), offset));
    if (!f)
      return "<" + f.error().message() + ">";
    return read_all(**f);
  }

  core::Result<Stat> stat(std::string_view path) { return run(fs().stat(test::vp(path))); }

  /// The entries of `dir` by name; a test failure if it can not be listed.
  std::map<std::string, DirEntry> list(std::string_view dir) {
    std::map<std::string, DirEntry> out;
    auto entries = run(fs().list(test::vp(dir)));
    if (!entries) {
      ADD_FAILURE() << "list " << dir << ": " << entries.error().message();
      return out;
    }
    for (auto& e : *entries)
      EXPECT_TRUE(out.emplace(e.name, e).second) << "listed twice: " << e.name;
    return out;
  }

  bool exists(std::string_view path) { return static_cast<bool>(stat(path)); }

  Backend backend_;
  Loop loop_;
  std::unique_ptr<Filesystem> fs_;
  std::unique_ptr<Filesystem> other_;
};

TYPED_TEST_SUITE_P(FilesystemConformance);

// --- stat -------------------------------------------------------------------

TYPED_TEST_P(FilesystemConformance, StatOfFileDirectoryAndMissing) {
  this->put("/f.txt", "hello");
  this->mkdir("/d");
  auto f = this->stat("/f.txt");
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_EQ(f->type, FileType::regular);
  EXPECT_EQ(f->size, 5u);
  auto d = this->stat("/d");
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->type, FileType::directory);
  auto root = this->stat("/");
  ASSERT_TRUE(root) << root.error().message();
  EXPECT_EQ(root->type, FileType::directory);
  auto missing = this->stat("/missing");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), Errc::not_found);
  auto missing_below = this->stat("/d/missing");
  ASSERT_FALSE(missing_below);
  EXPECT_EQ(missing_below.error(), Errc::not_found);
}

TYPED_TEST_P(FilesystemConformance, EmptyFileIsAFile) {
  this->put("/empty.bin", "");
  auto s = this->stat("/empty.bin");
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->type, FileType::regular);
  EXPECT_EQ(s->size, 0u);
  EXPECT_EQ(this->read("/empty.bin"), "");
}

// --- list and open_dir ------------------------------------------------------

TYPED_TEST_P(FilesystemConformance, ListShowsNamesTypesAndSizes) {
  this->put("/a.txt", "aaa");
  this->put("/b.bin", std::string(1000, 'b'));
  this->mkdir("/sub");
  this->put("/sub/inner.txt", "inner"); // not listed at the top
  auto entries = this->list("/");
  ASSERT_EQ(entries.size(), 3u);
  ASSERT_TRUE(entries.count("a.txt") && entries.count("b.bin") && entries.count("sub"));
  EXPECT_EQ(entries["a.txt"].stat.type, FileType::regular);
  EXPECT_EQ(entries["a.txt"].stat.size, 3u);
  EXPECT_EQ(entries["b.bin"].stat.size, 1000u);
  EXPECT_EQ(entries["sub"].stat.type, FileType::directory);
  auto sub = this->list("/sub");
  ASSERT_EQ(sub.size(), 1u);
  EXPECT_EQ(sub.begin()->first, "inner.txt");
  EXPECT_EQ(sub.begin()->second.stat.size, 5u);
}

TYPED_TEST_P(FilesystemConformance, ListOfEmptyMissingAndFile) {
  this->mkdir("/empty");
  EXPECT_TRUE(this->list("/empty").empty());
  EXPECT_TRUE(this->list("/").count("empty"));
  this->put("/file.txt", "x");
  auto missing = this->run(this->fs().list(test::vp("/nowhere")));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), Errc::not_found);
  auto file = this->run(this->fs().list(test::vp("/file.txt")));
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error(), Errc::not_directory);
}

TYPED_TEST_P(FilesystemConformance, OpenDirGivesSortedBatchesToTheEnd) {
  std::vector<std::string> names;
  for (int i = 0; i < 40; ++i) {
    // written out of order, so that sorting is the reader's work
    auto name = "n" + std::to_string((i * 17) % 40 + 100);
    this->put("/" + name, "x");
    names.push_back(name);
  }
  this->mkdir("/zdir");
  names.push_back("zdir");
  std::sort(names.begin(), names.end());
  auto reader = this->run(this->fs().open_dir(test::vp("/")));
  ASSERT_TRUE(reader) << reader.error().message();
  std::vector<std::string> seen;
  int batches = 0;
  for (;;) {
    auto batch = this->run((*reader)->next());
    ASSERT_TRUE(batch) << batch.error().message();
    if (batch->empty())
      break;
    ASSERT_LT(++batches, 1000) << "open_dir does not end";
    for (auto& e : *batch)
      seen.push_back(e.name);
  }
  EXPECT_EQ(seen, names);
  // the end stays the end
  auto again = this->run((*reader)->next());
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_TRUE(again->empty());
  auto missing = this->run(this->fs().open_dir(test::vp("/nowhere")));
  if (missing) { // a streaming backend may find out at the first batch
    auto first = this->run((*missing)->next());
    ASSERT_FALSE(first);
    EXPECT_EQ(first.error(), Errc::not_found);
  } else {
    EXPECT_EQ(missing.error(), Errc::not_found);
  }
}

// --- reads ------------------------------------------------------------------

TYPED_TEST_P(FilesystemConformance, ReadFromOffsets) {
  const std::string content = pattern(100000);
  this->put("/r.bin", content);
  EXPECT_EQ(this->read("/r.bin", 0), content);
  EXPECT_EQ(this->read("/r.bin", 12345), content.substr(12345));
  EXPECT_EQ(this->read("/r.bin", content.size() - 1), content.substr(content.size() - 1));
  EXPECT_EQ(this->read("/r.bin", content.size()), "");
}

TYPED_TEST_P(FilesystemConformance, ReadAtOffsetsOfARandomAccessOpen) {
  const std::string content = pattern(70000, 2);
  this->put("/ra.bin", content);
  OpenFlags flags;
  flags.read = true;
  auto f = this->run(this->fs().open(test::vp("/ra.bin"), flags));
  ASSERT_TRUE(f) << f.error().message();
  std::vector<std::byte> buf(1000);
  auto at = [&](std::uint64_t offset) {
    auto n = this->run((*f)->read_at(offset, buf));
    if (!n)
      return "<" + n.error().message() + ">";
    return std::string(reinterpret_cast<const char*>(buf.data()), *n);
  };
  EXPECT_EQ(at(0), content.substr(0, 1000));
  EXPECT_EQ(at(35000), content.substr(35000, 1000));
  EXPECT_EQ(at(69500), content.substr(69500)); // short at the end
  EXPECT_EQ(at(70000), "");                    // at the end
  EXPECT_EQ(at(90000), "");                    // past it
  EXPECT_EQ(at(10), content.substr(10, 1000)); // backwards again
}

TYPED_TEST_P(FilesystemConformance, SequentialReadOf20MiBIsByteExact) {
  const std::string content = pattern(20u << 20, 3);
  this->put("/big.bin", content, 1u << 20);
  auto s = this->stat("/big.bin");
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->size, content.size());
  auto f = this->run(this->fs().open_read(test::vp("/big.bin"), 0));
  ASSERT_TRUE(f) << f.error().message();
  auto got = this->read_all(**f, 256 << 10);
  ASSERT_EQ(got.size(), content.size());
  EXPECT_TRUE(got == content) << "20 MiB read back differs";
}

TYPED_TEST_P(FilesystemConformance, OpenReadErrors) {
  this->mkdir("/d");
  auto dir = this->run(this->fs().open_read(test::vp("/d"), 0));
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error(), Errc::is_directory);
  auto missing = this->run(this->fs().open_read(test::vp("/missing"), 0));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), Errc::not_found);
}

// --- uploads ----------------------------------------------------------------

TYPED_TEST_P(FilesystemConformance, ReplaceIsAtomic) {
  this->put("/t.txt", "old content");
  auto f = this->run(this->fs().open_write(test::vp("/t.txt"), WriteMode::replace, 0));
  ASSERT_TRUE(f) << f.error().message();
  this->write(**f, "new");
  // the uploading session may see its upload at the name; nobody else does
  EXPECT_EQ(this->read("/t.txt", 0, &this->other()), "old content") << "visible before commit()";
  auto c = this->run((*f)->commit());
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(this->read("/t.txt"), "new");
  EXPECT_EQ(this->read("/t.txt", 0, &this->other()), "new");
  EXPECT_EQ(this->stat("/t.txt")->size, 3u);
}

TYPED_TEST_P(FilesystemConformance, UploadDroppedWithoutCommitLeavesTheOldFile) {
  this->put("/keep.txt", "precious");
  {
    auto f = this->run(this->fs().open_write(test::vp("/keep.txt"), WriteMode::replace, 0));
    ASSERT_TRUE(f) << f.error().message();
    this->write(**f, pattern(3u << 20, 4), 1u << 20);
  }
  EXPECT_EQ(this->read("/keep.txt"), "precious");
  {
    auto f = this->run(this->fs().open_write(test::vp("/never.txt"), WriteMode::replace, 0));
    ASSERT_TRUE(f) << f.error().message();
    this->write(**f, "half");
  }
  auto entries = this->list("/");
  EXPECT_EQ(entries.size(), 1u) << "an upload without commit() left something";
  EXPECT_TRUE(entries.count("keep.txt"));
}

TYPED_TEST_P(FilesystemConformance, CreateRefusesAnExistingName) {
  this->put("/c.txt", "first");
  auto f = this->run(this->fs().open_write(test::vp("/c.txt"), WriteMode::create, 0));
  if (f) { // an atomic backend may find out at commit()
    this->write(**f, "second");
    auto c = this->run((*f)->commit());
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error(), Errc::exists);
  } else {
    EXPECT_EQ(f.error(), Errc::exists);
  }
  EXPECT_EQ(this->read("/c.txt"), "first");
  auto n = this->run(this->fs().open_write(test::vp("/new.txt"), WriteMode::create, 0));
  ASSERT_TRUE(n) << n.error().message();
  this->write(**n, "fresh");
  ASSERT_TRUE(this->run((*n)->commit()));
  EXPECT_EQ(this->read("/new.txt"), "fresh");
}

TYPED_TEST_P(FilesystemConformance, AppendAddsAtTheEndAndCreates) {
  this->put("/log.txt", "abc");
  auto f = this->run(this->fs().open_write(test::vp("/log.txt"), WriteMode::append, 0));
  ASSERT_TRUE(f) << f.error().message();
  this->write(**f, "def");
  ASSERT_TRUE(this->run((*f)->commit()));
  EXPECT_EQ(this->read("/log.txt"), "abcdef");
  auto g = this->run(this->fs().open_write(test::vp("/fresh.txt"), WriteMode::append, 0));
  ASSERT_TRUE(g) << g.error().message();
  this->write(**g, "xyz");
  ASSERT_TRUE(this->run((*g)->commit()));
  EXPECT_EQ(this->read("/fresh.txt"), "xyz");
}

TYPED_TEST_P(FilesystemConformance, ResumeKeepsWhatIsBeforeTheOffset) {
  const std::string content = pattern(300000, 5);
  this->put("/part.bin", content.substr(0, 100000));
  auto f = this->run(this->fs().open_write(test::vp("/part.bin"), WriteMode::resume, 100000));
  ASSERT_TRUE(f) << f.error().message();
  this->write(**f, std::string_view(content).substr(100000), 65536);
  ASSERT_TRUE(this->run((*f)->commit()));
  EXPECT_TRUE(this->read("/part.bin") == content) << "resumed file differs";
  // resuming inside the file cuts what was after the last byte written
  auto g = this->run(this->fs().open_write(test::vp("/part.bin"), WriteMode::resume, 10));
  ASSERT_TRUE(g) << g.error().message();
  this->write(**g, "XY");
  ASSERT_TRUE(this->run((*g)->commit()));
  EXPECT_EQ(this->read("/part.bin"), content.substr(0, 10) + "XY");
}

TYPED_TEST_P(FilesystemConformance, UploadErrors) {
  this->put("/file.txt", "x");
  this->mkdir("/d");
  auto into_missing =
      this->run(this->fs().open_write(test::vp("/nowhere/x"), WriteMode::replace, 0));
  if (into_missing) { // an atomic backend may find out at commit()
    this->write(**into_missing, "x");
    auto c = this->run((*into_missing)->commit());
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error(), Errc::not_found);
  } else {
    EXPECT_EQ(into_missing.error(), Errc::not_found);
  }
  auto onto_dir = this->run(this->fs().open_write(test::vp("/d"), WriteMode::replace, 0));
  if (onto_dir) {
    this->write(**onto_dir, "x");
    auto c = this->run((*onto_dir)->commit());
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error(), Errc::is_directory);
  } else {
    EXPECT_EQ(onto_dir.error(), Errc::is_directory);
  }
  EXPECT_EQ(this->stat("/d")->type, FileType::directory);
  EXPECT_FALSE(this->exists("/nowhere"));
}

// --- renames ----------------------------------------------------------------

TYPED_TEST_P(FilesystemConformance, RenameFile) {
  this->put("/a.txt", "A");
  this->mkdir("/d");
  ASSERT_TRUE(
      this->run(this->fs().rename(test::vp("/a.txt"), test::vp("/b.txt"), RenameMode::no_replace)));
  EXPECT_FALSE(this->exists("/a.txt"));
  EXPECT_EQ(this->read("/b.txt"), "A");
  ASSERT_TRUE(
      this->run(this->fs().rename(test::vp("/b.txt"), test::vp("/d/c.txt"), RenameMode::replace)));
  EXPECT_FALSE(this->exists("/b.txt"));
  EXPECT_EQ(this->read("/d/c.txt"), "A");
  auto missing =
      this->run(this->fs().rename(test::vp("/missing"), test::vp("/other"), RenameMode::replace));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), Errc::not_found);
}

TYPED_TEST_P(FilesystemConformance, RenameFolderWithContents) {
  this->mkdir("/src");
  this->put("/src/one.txt", "1");
  this->mkdir("/src/deep");
  this->put("/src/deep/two.txt", "22");
  this->mkdir("/src/deep/empty");
  ASSERT_TRUE(
      this->run(this->fs().rename(test::vp("/src"), test::vp("/dst"), RenameMode::no_replace)));
  EXPECT_FALSE(this->exists("/src"));
  EXPECT_FALSE(this->exists("/src/one.txt"));
  EXPECT_EQ(this->read("/dst/one.txt"), "1");
  EXPECT_EQ(this->read("/dst/deep/two.txt"), "22");
  auto empty = this->stat("/dst/deep/empty");
  ASSERT_TRUE(empty) << empty.error().message();
  EXPECT_EQ(empty->type, FileType::directory);
  auto top = this->list("/");
  EXPECT_EQ(top.size(), 1u);
  EXPECT_TRUE(top.count("dst"));
}

TYPED_TEST_P(FilesystemConformance, RenameOntoAnExistingFile) {
  this->put("/a.txt", "A");
  this->put("/b.txt", "B");
  auto refused =
      this->run(this->fs().rename(test::vp("/a.txt"), test::vp("/b.txt"), RenameMode::no_replace));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), Errc::exists);
  EXPECT_EQ(this->read("/a.txt"), "A");
  EXPECT_EQ(this->read("/b.txt"), "B");
  ASSERT_TRUE(
      this->run(this->fs().rename(test::vp("/a.txt"), test::vp("/b.txt"), RenameMode::replace)));
  EXPECT_FALSE(this->exists("/a.txt"));
  EXPECT_EQ(this->read("/b.txt"), "A");
}

// --- folders and removal ----------------------------------------------------

TYPED_TEST_P(FilesystemConformance, MakeAndRemoveDirectories) {
  this->mkdir("/d");
  auto again = this->run(this->fs().make_directory(test::vp("/d"), 0755));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), Errc::exists);
  this->mkdir("/d/inner");
  EXPECT_EQ(this->stat("/d/inner")->type, FileType::directory);
  auto no_parent = this->run(this->fs().make_directory(test::vp("/nowhere/x"), 0755));
  ASSERT_FALSE(no_parent);
  EXPECT_EQ(no_parent.error(), Errc::not_found);
  this->put("/file.txt", "x");
  auto under_file = this->run(this->fs().make_directory(test::vp("/file.txt/x"), 0755));
  ASSERT_FALSE(under_file);
  EXPECT_EQ(under_file.error(), Errc::not_directory);

  auto not_empty = this->run(this->fs().remove_directory(test::vp("/d")));
  ASSERT_FALSE(not_empty);
  EXPECT_EQ(not_empty.error(), Errc::not_empty);
  EXPECT_TRUE(this->exists("/d/inner"));
  ASSERT_TRUE(this->run(this->fs().remove_directory(test::vp("/d/inner"))));
  this->put("/d/f", "f");
  auto with_file = this->run(this->fs().remove_directory(test::vp("/d")));
  ASSERT_FALSE(with_file);
  EXPECT_EQ(with_file.error(), Errc::not_empty);
  ASSERT_TRUE(this->run(this->fs().remove_file(test::vp("/d/f"))));
  ASSERT_TRUE(this->run(this->fs().remove_directory(test::vp("/d"))));
  EXPECT_FALSE(this->exists("/d"));
  auto missing = this->run(this->fs().remove_directory(test::vp("/d")));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), Errc::not_found);
  auto file = this->run(this->fs().remove_directory(test::vp("/file.txt")));
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error(), Errc::not_directory);
}

TYPED_TEST_P(FilesystemConformance, RemoveFile) {
  this->put("/gone.txt", "x");
  this->put("/stays.txt", "y");
  ASSERT_TRUE(this->run(this->fs().remove_file(test::vp("/gone.txt"))));
  EXPECT_FALSE(this->exists("/gone.txt"));
  EXPECT_EQ(this->read("/stays.txt"), "y");
  auto missing = this->run(this->fs().remove_file(test::vp("/gone.txt")));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), Errc::not_found);
  this->mkdir("/d");
  auto dir = this->run(this->fs().remove_file(test::vp("/d")));
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error(), Errc::is_directory);
  EXPECT_TRUE(this->exists("/d"));
}

// --- times and what a backend can not do -------------------------------------

TYPED_TEST_P(FilesystemConformance, SetMtimeIsShownByStatAndList) {
  this->put("/m.txt", "m");
  using namespace std::chrono;
  const auto when = system_clock::time_point(seconds(1234567890));
  ASSERT_TRUE(this->run(this->fs().set_mtime(test::vp("/m.txt"), when)));
  auto s = this->stat("/m.txt");
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(duration_cast<seconds>(s->mtime.time_since_epoch()).count(), 1234567890);
  auto entries = this->list("/");
  ASSERT_TRUE(entries.count("m.txt"));
  EXPECT_EQ(duration_cast<seconds>(entries["m.txt"].stat.mtime.time_since_epoch()).count(),
            1234567890);
  EXPECT_EQ(this->read("/m.txt"), "m");
  auto missing = this->run(this->fs().set_mtime(test::vp("/missing"), when));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), Errc::not_found);
}

TYPED_TEST_P(FilesystemConformance, SymlinksWhereSupported) {
  this->put("/target.txt", "T");
  auto r = this->run(this->fs().make_symlink(test::vp("/target.txt"), test::vp("/link")));
  if constexpr (TypeParam::kSymlinks) {
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(this->read("/link"), "T");
  } else {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), Errc::unsupported);
    EXPECT_FALSE(this->exists("/link"));
  }
}

REGISTER_TYPED_TEST_SUITE_P(FilesystemConformance, StatOfFileDirectoryAndMissing, EmptyFileIsAFile,
                            ListShowsNamesTypesAndSizes, ListOfEmptyMissingAndFile,
                            OpenDirGivesSortedBatchesToTheEnd, ReadFromOffsets,
                            ReadAtOffsetsOfARandomAccessOpen, SequentialReadOf20MiBIsByteExact,
                            OpenReadErrors, ReplaceIsAtomic,
                            UploadDroppedWithoutCommitLeavesTheOldFile, CreateRefusesAnExistingName,
                            AppendAddsAtTheEndAndCreates, ResumeKeepsWhatIsBeforeTheOffset,
                            UploadErrors, RenameFile, RenameFolderWithContents,
                            RenameOntoAnExistingFile, MakeAndRemoveDirectories, RemoveFile,
                            SetMtimeIsShownByStatAndList, SymlinksWhereSupported);

} // namespace berth::vfs::conformance
