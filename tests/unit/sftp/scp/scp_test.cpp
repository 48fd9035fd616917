#include "sftp/scp/scp.hpp"

#include "sftp/exec/shell_words.hpp"
#include "sftp/scp/codec.hpp"
#include "support/pipe_channel.hpp"
#include "support/run_task.hpp"
#include "support/temp_dir.hpp"
#include "vfs/local/local_fs.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>

namespace berth::sftp::scp {
namespace {

using namespace std::string_literals;

TEST(ScpCommand, AcceptsWhatClientsSend) {
  const std::pair<std::string, Args> cases[] = {
      {"scp -t -- /dir", Args{true, false, false, false, "/dir"}},
      {"scp -t .", Args{true, false, false, false, "."}},
      {"scp -r -p -f 'a b'", Args{false, true, true, false, "a b"}},
      {"scp -v -d -t -- \"x y\"", Args{true, false, false, true, "x y"}},
      {"scp -rpd -t -- up", Args{true, true, true, true, "up"}},
      {"scp -q -f -- 'it'\\''s'", Args{false, false, false, false, "it's"}},
      {"scp -f a\\ b", Args{false, false, false, false, "a b"}},
      {"scp -f -- -dash", Args{false, false, false, false, "-dash"}},
      {"  scp\t-f   x  ", Args{false, false, false, false, "x"}},
      {"scp -f ''", Args{false, false, false, false, ""}},
      {"scp -f ~/x", Args{false, false, false, false, "~/x"}},
  };
  for (const auto& [command, want] : cases) {
    auto a = parse_command(command);
    ASSERT_TRUE(a) << command;
    EXPECT_EQ(*a, want) << command;
  }
}

TEST(ScpCommand, RefusesEverythingElse) {
  for (const std::string command : {"",
                                    "scp",
                                    "sftp -t x",
                                    "/usr/bin/scp -t x",
                                    "scp x",
                                    "scp -t",
                                    "scp -t -f x",
                                    "scp -t a b",
                                    "scp -x -t a",
                                    "scp -t -- a b",
                                    "scp -t 'a",
                                    "scp -t \"a",
                                    "scp -t a\\",
                                    "scp -t a; rm -rf /",
                                    "scp -t a && id",
                                    "scp -t a | cat",
                                    "scp -t $(id)",
                                    "scp -t `id`",
                                    "scp -t a > b",
                                    "scp -t a\nid"}) {
    EXPECT_FALSE(parse_command(command)) << command;
  }
  EXPECT_FALSE(parse_command("scp -t " + std::string(exec::kMaxCommandLine, 'a')));
  std::string many = "scp -t";
  for (std::size_t i = 0; i < exec::kMaxWords; ++i)
    many += " -v";
  EXPECT_FALSE(parse_command(many + " x"));
}

// Words are split as exec's other commands are (exec::split_words): never
// expanded, so a pattern or a variable is a name's bytes.
TEST(ScpCommand, TakesExpansionsAsWritten) {
  EXPECT_EQ(parse_command("scp -t *.txt")->path, "*.txt");
  EXPECT_EQ(parse_command("scp -f '$HOME'")->path, "$HOME");
  const std::vector<std::string> words = {"-r", "-f", "a b"};
  EXPECT_EQ(parse_args(words), (Args{false, true, false, false, "a b"}));
}

class ScpRun : public ::testing::Test {
protected:
  // Runs with `input` as all the client sends; returns the exit status.
  int run_scp(const std::string& command, const std::string& input) {
    auto args = parse_command(command);
    EXPECT_TRUE(args) << command;
    auto fs = vfs::LocalFs::open(root_.path());
    EXPECT_TRUE(fs);
    test::PipeChannel ch(input, 1000);
    const int status = test::run_task(run(*args, ch, **fs));
    output_ = ch.output();
    return status;
  }
  std::string read_host(const std::string& rel) { return test::slurp(root_.path() / rel); }
  void write_host(const std::string& rel, const std::string& data) { root_.write(rel, data); }
  struct stat host_stat(const std::string& rel) {
    struct stat st {};
    EXPECT_EQ(::lstat((root_.path() / rel).c_str(), &st), 0) << rel;
    return st;
  }
  // Nothing but the host files the test made (no temporary upload left).
  std::size_t host_entries() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e :
         std::filesystem::recursive_directory_iterator(root_.path()))
      ++n;
    return n;
  }

  test::TempDir root_;
  std::string output_;
};

TEST_F(ScpRun, SinkStoresAFile) {
  std::string data(700000, '\0');
  for (std::size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<char>(i * 7 + i / 251);
  EXPECT_EQ(run_scp("scp -t -- /", "C0644 700000 a b.bin\n" + data + "\0"s), 0);
  EXPECT_EQ(output_, "\0\0\0"s);
  EXPECT_EQ(read_host("a b.bin"), data);
}

TEST_F(ScpRun, SinkToAFileNameAndEmptyFile) {
  EXPECT_EQ(run_scp("scp -t target", "C0644 0 whatever\n\0"s), 0);
  EXPECT_EQ(read_host("target"), "");
  EXPECT_EQ(output_, "\0\0\0"s);
}

TEST_F(ScpRun, SinkPreservesTimesAndModeButNoSpecialBits) {
  EXPECT_EQ(run_scp("scp -p -t .", "T1600000000 0 1500000000 0\nC4755 3 x\nabc\0"s), 0);
  EXPECT_EQ(output_, "\0\0\0\0"s);
  auto st = host_stat("x");
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  EXPECT_EQ(st.st_mtime, 1600000000);
  EXPECT_EQ(st.st_atime, 1500000000);
}

// Times past the clock's range (year 2262) are clamped, not overflowed.
TEST_F(ScpRun, SinkClampsHugeTimes) {
  EXPECT_EQ(run_scp("scp -p -t .", "T9223372036854775807 0 99999999999 0\nC0644 1 x\na\0"s), 0);
  EXPECT_EQ(read_host("x"), "a");
  EXPECT_GT(host_stat("x").st_mtime, 9000000000);
}

TEST_F(ScpRun, SinkRecursiveTree) {
  const std::string in = "D0755 0 top\n"
                         "C0644 2 f\nhi\0"
                         "D0700 0 empty\n"
                         "E\n"
                         "D0755 0 sub\n"
                         "C0600 3 g\nabc\0"
                         "E\n"
                         "E\n"s;
  EXPECT_EQ(run_scp("scp -r -t /", in), 0);
  EXPECT_EQ(read_host("top/f"), "hi");
  EXPECT_EQ(read_host("top/sub/g"), "abc");
  EXPECT_TRUE(std::filesystem::is_directory(root_.path() / "top/empty"));
  EXPECT_EQ(output_, std::string(11, '\0'));
}

TEST_F(ScpRun, SinkRefusesADirectoryWithoutRecursive) {
  EXPECT_EQ(run_scp("scp -t /", "D0755 0 d\nE\n"), 1);
  EXPECT_EQ(output_, "\0\x02scp: received directory without -r\n"s);
  EXPECT_FALSE(std::filesystem::exists(root_.path() / "d"));
}

TEST_F(ScpRun, SinkRefusesBadNamesAndStops) {
  for (const std::string name : {"../x", "..", ".", "a/b", "/abs"}) {
    EXPECT_EQ(run_scp("scp -r -t /", "C0644 1 " + name + "\nx\0"s), 1) << name;
    EXPECT_TRUE(output_.starts_with("\0\x02scp: protocol error: unexpected filename"s)) << output_;
    EXPECT_EQ(host_entries(), 0u) << name;
  }
}

TEST_F(ScpRun, SinkRefusesAnOverlongLine) {
  EXPECT_EQ(run_scp("scp -t /", std::string(100000, 'C')), 1);
  EXPECT_EQ(output_, "\0\x02scp: protocol error: line too long\n"s);
}

TEST_F(ScpRun, CutUploadKeepsTheOldFile) {
  write_host("keep", "old content");
  EXPECT_EQ(run_scp("scp -t /keep", "C0644 100 keep\n" + std::string(50, 'n')), 0);
  EXPECT_EQ(read_host("keep"), "old content");
  EXPECT_EQ(host_entries(), 1u);
}

TEST_F(ScpRun, UploadTheClientCouldNotReadIsNotCommitted) {
  write_host("keep", "old content");
  EXPECT_EQ(run_scp("scp -t /keep", "C0644 4 keep\nxxxx\x01scp: keep: Input/output error\n"s), 1);
  EXPECT_EQ(read_host("keep"), "old content");
  EXPECT_EQ(host_entries(), 1u);
}

TEST_F(ScpRun, SinkWarnsAndGoesOnWhenAFileCanNotBeWritten) {
  std::filesystem::create_directory(root_.path() / "d");
  // "d" is a directory: the file is refused, the next one stored.
  EXPECT_EQ(run_scp("scp -t /d/../", "C0644 1 d\nC0644 1 e\nz\0"s), 1);
  EXPECT_TRUE(output_.starts_with("\0\x01scp: /d: "s)) << output_;
  EXPECT_TRUE(output_.ends_with("\n\0\0"s)) << output_;
  EXPECT_EQ(read_host("e"), "z");
}

TEST_F(ScpRun, SinkTargetMustBeADirectoryWithD) {
  write_host("f", "x");
  EXPECT_EQ(run_scp("scp -d -t f", "C0644 1 a\nz\0"s), 1);
  EXPECT_EQ(output_, "\x01scp: /f: Not a directory\n"s);
}

TEST_F(ScpRun, SourceSendsAFile) {
  write_host("a b", "hello");
  ::chmod((root_.path() / "a b").c_str(), 04755);
  EXPECT_EQ(run_scp("scp -f 'a b'", "\0\0\0"s), 0);
  EXPECT_EQ(output_, "C0755 5 a b\nhello\0"s);
}

TEST_F(ScpRun, SourcePreservesTimes) {
  write_host("t", "x");
  struct timespec ts[2] = {{1500000000, 0}, {1600000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (root_.path() / "t").c_str(), ts, 0), 0);
  ::chmod((root_.path() / "t").c_str(), 0640);
  EXPECT_EQ(run_scp("scp -p -f /t", "\0\0\0\0"s), 0);
  EXPECT_EQ(output_, "T1600000000 0 1500000000 0\nC0640 1 t\nx\0"s);
}

TEST_F(ScpRun, SourceOfAMissingFileWarnsWithExitStatus1) {
  EXPECT_EQ(run_scp("scp -f nothere", "\0"s), 1);
  EXPECT_EQ(output_, "\x01scp: /nothere: No such file\n");
}

TEST_F(ScpRun, SourceNeverLeavesTheJail) {
  EXPECT_EQ(run_scp("scp -f ../../../../etc/passwd", "\0"s), 1);
  EXPECT_EQ(output_, "\x01scp: /etc/passwd: No such file\n");
}

TEST_F(ScpRun, SourceOfADirectoryNeedsRecursive) {
  std::filesystem::create_directory(root_.path() / "d");
  EXPECT_EQ(run_scp("scp -f d", "\0"s), 1);
  EXPECT_EQ(output_, "\x01scp: /d: not a regular file\n");
}

TEST_F(ScpRun, SourceRecursiveSkipsNewlineNamesAndDirectoryLinks) {
  std::filesystem::create_directories(root_.path() / "d/e");
  write_host("d/a", "1");
  write_host("d/b\nc", "2");
  write_host("d/e/f", "3");
  std::filesystem::create_directory_symlink("..", root_.path() / "d/up");
  std::filesystem::create_symlink("a", root_.path() / "d/z");
  ::chmod((root_.path() / "d").c_str(), 0750);
  ::chmod((root_.path() / "d/e").c_str(), 0700);
  for (const char* f : {"d/a", "d/b\nc", "d/e/f"})
    ::chmod((root_.path() / f).c_str(), 0644);
  // Acks for: D d, C a, C e/f... each line and each file's end.
  EXPECT_EQ(run_scp("scp -r -f d", std::string(20, '\0')), 1);
  EXPECT_EQ(output_, "D0750 0 d\n"
                     "C0644 1 a\n1\0"
                     "\x01scp: /d/b?c: skipping, filename contains a newline or is not valid\n"
                     "D0700 0 e\n"
                     "C0644 1 f\n3\0"
                     "E\n"
                     "C0644 1 z\n1\0"
                     "E\n"s);
}

TEST_F(ScpRun, SourceSkipsAFileTheClientRefuses) {
  write_host("a", "1");
  write_host("b", "2");
  std::filesystem::create_directory(root_.path() / "d");
  std::filesystem::rename(root_.path() / "a", root_.path() / "d/a");
  std::filesystem::rename(root_.path() / "b", root_.path() / "d/b");
  ::chmod((root_.path() / "d").c_str(), 0755);
  ::chmod((root_.path() / "d/a").c_str(), 0644);
  ::chmod((root_.path() / "d/b").c_str(), 0644);
  // The client can not create "a": it answers its C line with a warning.
  const std::string in = "\0\0\x01scp: a: Permission denied\n\0\0\0"s;
  EXPECT_EQ(run_scp("scp -r -f d", in), 1);
  EXPECT_EQ(output_, "D0755 0 d\nC0644 1 a\nC0644 1 b\n2\0E\n"s);
}

} // namespace
} // namespace berth::sftp::scp
