#include "sftp/exec/exec.hpp"

#include "sftp/exec/checksum.hpp"
#include "support/pipe_channel.hpp"
#include "support/run_task.hpp"
#include "support/temp_dir.hpp"
#include "vfs/local/local_fs.hpp"

#include <gtest/gtest.h>

#include <fstream>

namespace berth::sftp::exec {
namespace {

struct Ran {
  int status;
  std::string out;
  std::string err;
};

class Exec : public ::testing::Test {
protected:
  Ran run_command(std::string_view command, std::string input = {}) {
    auto fs = vfs::LocalFs::open(root_.path());
    EXPECT_TRUE(fs);
    test::PipeChannel ch(std::move(input));
    int status = test::run_task(run(command, ch, **fs, nullptr));
    return {status, ch.output(), ch.errors()};
  }
  void put(const std::string& rel, const std::string& data) {
    std::ofstream(root_.path() / rel, std::ios::binary) << data;
  }
  test::TempDir root_;
};

TEST(Checksum, LinesAsCoreutilsPrintsThem) {
  EXPECT_EQ(checksum_line("ab", "a b.txt"), "ab  a b.txt\n");
  EXPECT_EQ(checksum_line("ab", "c\\d"), "\\ab  c\\\\d\n");
  EXPECT_EQ(checksum_line("ab", "e\nf"), "\\ab  e\\nf\n");
  EXPECT_EQ(checksum_line("ab", "a\rb"), "\\ab  a\\rb\n");
  EXPECT_EQ(checksum_line("ab", "-"), "ab  -\n");
}

TEST(Checksum, NamesInMessagesQuotedAsCoreutilsDoes) {
  EXPECT_EQ(quote_name("a.txt"), "a.txt");
  EXPECT_EQ(quote_name("dir/x-1_2"), "dir/x-1_2");
  EXPECT_EQ(quote_name("a b"), "'a b'");
  EXPECT_EQ(quote_name("it's"), "'it'\\''s'");
}

TEST_F(Exec, Checksums) {
  put("a b.txt", "hello\n");
  Ran r = run_command("md5sum 'a b.txt'");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "b1946ac92492d2347c6235b4d2611184  a b.txt\n");
  EXPECT_EQ(r.err, "");
  r = run_command("sha1sum a\\ b.txt");
  EXPECT_EQ(r.out, "f572d396fae9206628714fb2ce00f72e94f2258f  a b.txt\n");
  r = run_command("sha256sum /a\\ b.txt");
  EXPECT_EQ(r.out, "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  /a b.txt\n");
  r = run_command("sha512sum -- 'a b.txt'");
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(r.out.starts_with("e7c22b994c59d9cf2b48e549b1e24666636045930d3da7c1acb299d1c3b7f931"))
      << r.out;
}

TEST_F(Exec, ChecksumOfTheInput) {
  // rclone's probe: md5sum of an empty input.
  Ran r = run_command("md5sum");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "d41d8cd98f00b204e9800998ecf8427e  -\n");
  r = run_command("sha1sum -", "hello\n");
  EXPECT_EQ(r.out, "f572d396fae9206628714fb2ce00f72e94f2258f  -\n");
}

TEST_F(Exec, MissingFilesAndDirectories) {
  put("x", "hello\n");
  std::filesystem::create_directory(root_.path() / "d");
  Ran r = run_command("md5sum nope 'no pe' x d");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "b1946ac92492d2347c6235b4d2611184  x\n");
  EXPECT_EQ(r.err, "md5sum: nope: No such file or directory\n"
                   "md5sum: 'no pe': No such file or directory\n"
                   "md5sum: d: Is a directory\n");
}

TEST_F(Exec, PathsStayInTheJail) {
  Ran r = run_command("md5sum ../../etc/passwd /etc/passwd");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "md5sum: ../../etc/passwd: No such file or directory\n"
                   "md5sum: /etc/passwd: No such file or directory\n");
}

TEST_F(Exec, OptionsAreRefused) {
  put("x", "hello\n");
  Ran r = run_command("md5sum -c x");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "md5sum: unrecognized option '-c'\n");
}

TEST_F(Exec, PwdAndEcho) {
  EXPECT_EQ(run_command("pwd").out, "/\n");
  EXPECT_EQ(run_command("echo ${ShellType}%ShellType%").out, "${ShellType}%ShellType%\n");
  EXPECT_EQ(run_command("echo 'a  b' c").out, "a  b c\n");
  EXPECT_EQ(run_command("echo -n x").out, "x");
}

TEST_F(Exec, EverythingElseIsNotFound) {
  for (const char* line : {"ls", "sh -c id", "/bin/sh", "/usr/bin/scp -t /", "rm -rf /", "cd /"}) {
    Ran r = run_command(line);
    EXPECT_EQ(r.status, 127) << line;
    EXPECT_EQ(r.out, "") << line;
    const std::string name(std::string_view(line).substr(0, std::string_view(line).find(' ')));
    EXPECT_EQ(r.err, "berth: " + name + ": command not found\n") << line;
  }
}

TEST_F(Exec, ShellSyntaxIsRefused) {
  put("x", "hello\n");
  Ran r = run_command("md5sum x; id");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "berth: shell syntax is not supported\n");
  r = run_command("md5sum 'x");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "berth: unterminated quote\n");
}

TEST_F(Exec, NoShell) {
  Ran r = run_command("");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(r.err.starts_with("berth: there is no shell here")) << r.err;
}

} // namespace
} // namespace berth::sftp::exec
