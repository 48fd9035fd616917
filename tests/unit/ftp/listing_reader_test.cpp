#include "ftp/listing_reader.hpp"

#include "support/batch_fs.hpp"
#include "support/run_task.hpp"
#include "support/vfs_helpers.hpp"

#include <gtest/gtest.h>

#include <string>
#include <system_error>
#include <vector>

namespace berth::ftp {
namespace {

using test::BatchFs;
using test::run_task;
using test::vp;

// Every name the listing shows, batch by batch; the number of batches in `batches`.
std::vector<std::string> read_all(ListingReader& reader, std::size_t* batches = nullptr) {
  std::vector<std::string> names;
  for (std::size_t n = 0;; ++n) {
    auto batch = run_task(reader.next());
    EXPECT_TRUE(batch) << batch.error().message();
    if (!batch || batch->empty()) {
      if (batches != nullptr)
        *batches = n;
      break;
    }
    for (const auto& e : *batch)
      names.push_back(e.name);
  }
  return names;
}

std::vector<vfs::DirEntry> six() {
  return {BatchFs::file("a"), BatchFs::file("b"), BatchFs::file("c"),
          BatchFs::file("d"), BatchFs::file("e"), BatchFs::file("f")};
}

// Issue 19: a listing streams the filesystem's batches (object storage's
// pages) and never reads the directory whole.
TEST(ListingReader, DirectoryStreamsEveryBatchInOrderWithoutList) {
  BatchFs fs(six(), 2);
  auto reader = run_task(ListingReader::open(fs, vp("/"), "", false, false));
  ASSERT_TRUE(reader) << reader.error().message();
  EXPECT_TRUE(reader->is_directory());
  std::size_t batches = 0;
  EXPECT_EQ(read_all(*reader, &batches), (std::vector<std::string>{"a", "b", "c", "d", "e", "f"}));
  EXPECT_EQ(batches, 3u);         // one batch handed on as it came
  EXPECT_EQ(fs.batches_read, 4u); // three, then the empty end
  EXPECT_EQ(fs.list_calls, 0u);
  EXPECT_EQ(fs.readers_open, 0u); // closed once the end was read
}

TEST(ListingReader, PatternMatchesAcrossBatchesWithTheClientsPrefix) {
  std::vector<vfs::DirEntry> entries = {BatchFs::file(".x1"),   BatchFs::file("a.txt"),
                                        BatchFs::file("b.bin"), BatchFs::file("c.bin"),
                                        BatchFs::file("d.txt"), BatchFs::file("e.txt")};
  BatchFs fs(entries, 2);
  // "./*.txt" names a directory part as the client wrote it: it prefixes every match.
  auto reader = run_task(ListingReader::open(fs, vp("/*.txt"), "./*.txt", true, false));
  ASSERT_TRUE(reader) << reader.error().message();
  EXPECT_FALSE(reader->is_directory());
  EXPECT_EQ(read_all(*reader), (std::vector<std::string>{"./a.txt", "./d.txt", "./e.txt"}));
  EXPECT_EQ(fs.list_calls, 0u);

  // A batch with no match is not the end; -a lets the pattern match dotfiles.
  auto dots = run_task(ListingReader::open(fs, vp("/?x1"), "?x1", true, true));
  ASSERT_TRUE(dots);
  EXPECT_EQ(read_all(*dots), (std::vector<std::string>{".x1"}));
  auto hidden = run_task(ListingReader::open(fs, vp("/?x1"), "?x1", true, false));
  ASSERT_TRUE(hidden);
  EXPECT_EQ(read_all(*hidden), (std::vector<std::string>{}));
  auto tail = run_task(ListingReader::open(fs, vp("/e*"), "e*", true, false));
  ASSERT_TRUE(tail);
  EXPECT_EQ(read_all(*tail), (std::vector<std::string>{"e.txt"}));
  EXPECT_EQ(fs.list_calls, 0u);
}

TEST(ListingReader, UnlistableNamesAreLeftOut) {
  std::vector<vfs::DirEntry> entries = {BatchFs::file("a"), BatchFs::file("b\r\nX"),
                                        BatchFs::file("c")};
  BatchFs fs(entries, 1);
  auto reader = run_task(ListingReader::open(fs, vp("/"), "", false, false));
  ASSERT_TRUE(reader);
  EXPECT_EQ(read_all(*reader), (std::vector<std::string>{"a", "c"}));
}

TEST(ListingReader, FileListsItselfAsShown) {
  BatchFs fs(six(), 2);
  auto reader = run_task(ListingReader::open(fs, vp("/c"), "sub/../c", true, false));
  ASSERT_TRUE(reader);
  EXPECT_FALSE(reader->is_directory());
  EXPECT_EQ(read_all(*reader), (std::vector<std::string>{"sub/../c"}));
  EXPECT_EQ(fs.batches_read, 0u);
}

TEST(ListingReader, ErrorsComeBeforeAnythingIsRead) {
  BatchFs fs(six(), 2);
  auto missing = run_task(ListingReader::open(fs, vp("/nothing"), "nothing", true, false));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), vfs::Errc::not_found);
  // Without glob (MLSD, STAT) a wildcard is a name like any other.
  auto literal = run_task(ListingReader::open(fs, vp("/*"), "*", false, false));
  ASSERT_FALSE(literal);
  EXPECT_EQ(literal.error(), vfs::Errc::not_found);
  auto bad = run_task(ListingReader::open(fs, vp("/[z-a]"), "[z-a]", true, false));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), std::errc::invalid_argument);
  EXPECT_EQ(fs.list_calls, 0u);
}

} // namespace
} // namespace berth::ftp
