#include "sftp/session.hpp"

#include "sftp/handlers.hpp"
#include "support/batch_fs.hpp"
#include "support/pipe_channel.hpp"
#include "support/run_task.hpp"
#include "support/temp_dir.hpp"
#include "vfs/local/local_fs.hpp"

#include "core/errc.hpp"
#include "core/wakeup.hpp"

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace berth::sftp {
namespace {

// Builds client requests.
class Client {
public:
  Client() {
    w_.start(Type::init);
    w_.u32(3);
    w_.finish();
  }
  Writer& request(Type t, std::uint32_t id) {
    w_.start(t);
    w_.u32(id);
    return w_;
  }
  void end() { w_.finish(); }
  /// An OPEN of `path` with `pflags` and no attributes.
  void open(std::uint32_t id, std::string_view path, std::uint32_t pflags) {
    auto& o = request(Type::open, id);
    o.string(path);
    o.u32(pflags);
    o.attrs(Attrs{});
    end();
  }
  /// A check-file-name (or, with a handle, "check-file-handle" or "check-file") request.
  void check_file(std::uint32_t id, std::string_view name, std::string_view target,
                  std::string_view algorithms, std::uint64_t start, std::uint64_t length,
                  std::uint32_t block) {
    auto& cf = request(Type::extended, id);
    cf.string(name);
    cf.string(target);
    cf.string(algorithms);
    cf.u64(start);
    cf.u64(length);
    cf.u32(block);
    end();
  }
  std::string bytes() const { return w_.bytes(); }

private:
  Writer w_;
};

// One decoded reply.
struct Reply {
  Type type;
  std::uint32_t id = 0;
  std::string body; // after the id
};

std::vector<Reply> parse(const std::string& out) {
  std::vector<Reply> replies;
  std::span<const std::uint8_t> rest(reinterpret_cast<const std::uint8_t*>(out.data()), out.size());
  while (!rest.empty()) {
    auto f = frame(rest, 1 << 24);
    EXPECT_TRUE(f && f->has_value());
    if (!f || !f->has_value())
      break;
    Reader r(rest.subspan(4, **f - 4));
    Reply rep;
    rep.type = static_cast<Type>(*r.u8());
    if (rep.type != Type::version)
      rep.id = *r.u32();
    auto body = rest.subspan(4 + 1 + (rep.type == Type::version ? 0 : 4),
                             **f - 5 - (rep.type == Type::version ? 0 : 4));
    rep.body.assign(reinterpret_cast<const char*>(body.data()), body.size());
    replies.push_back(std::move(rep));
    rest = rest.subspan(**f);
  }
  return replies;
}

std::uint32_t status_of(const Reply& r) {
  EXPECT_EQ(r.type, Type::status);
  Reader rd(r.body);
  return *rd.u32();
}

std::string string_of(const Reply& r) {
  Reader rd(r.body);
  return std::string(*rd.string());
}

class SftpSession : public ::testing::Test {
protected:
  std::vector<Reply> run(const Client& c, std::size_t chunk = 1 << 20, Limits limits = {}) {
    auto fs = vfs::LocalFs::open(root_.path());
    EXPECT_TRUE(fs);
    test::PipeChannel ch(c.bytes(), chunk);
    test::run_task(run_session(ch, **fs, limits));
    return parse(ch.output());
  }
  std::string read_host(const std::string& rel) {
    std::ifstream in(root_.path() / rel, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  void write_host(const std::string& rel, const std::string& data) {
    std::ofstream(root_.path() / rel, std::ios::binary) << data;
  }
  test::TempDir dir_;
  test::TempDir root_;
};

TEST_F(SftpSession, InitGetsVersion3WithExtensions) {
  Client c;
  auto replies = run(c);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].type, Type::version);
  Reader r(replies[0].body);
  EXPECT_EQ(*r.u32(), 3u);
  std::vector<std::string> names;
  while (!r.at_end()) {
    names.emplace_back(*r.string());
    (void)r.string();
  }
  for (const auto& ext : extension_table()) {
    if (!ext.version_data.empty()) {
      EXPECT_NE(std::find(names.begin(), names.end(), ext.name), names.end()) << ext.name;
    }
  }
}

// Pipelined READs and WRITEs run on a worker pool; every request gets exactly
// one reply, READs and WRITEs of a handle are done and answered in order
// (OpenSSH's client truncates uploads at the first gap in the acks, and scp's
// downloads at the first out-of-order reply), and a request of any other kind
// (CLOSE) waits for all before it.
TEST_F(SftpSession, PipelinedReadsAndWritesKeepTheirOrderOnAHandle) {
  core::WorkerPool pool(4);
  Client c;
  auto& open = c.request(Type::open, 1);
  open.string("/p.bin");
  open.u32(pflag_read | pflag_write | pflag_creat | pflag_trunc);
  open.attrs(Attrs{});
  c.end();
  const std::string first(100000, 'A');
  auto& w1 = c.request(Type::write, 2);
  w1.string("1");
  w1.u64(0);
  w1.string(first);
  c.end();
  auto& r1 = c.request(Type::read, 3); // overlaps write 2: must see its bytes
  r1.string("1");
  r1.u64(0);
  r1.u32(100000);
  c.end();
  std::string expected = first;
  for (std::uint32_t k = 0; k < 32; ++k) {
    std::string block(1000, static_cast<char>('a' + k % 26));
    auto& w = c.request(Type::write, 10 + k);
    w.string("1");
    w.u64(100000 + k * 1000);
    w.string(block);
    c.end();
    expected += block;
  }
  auto& r2 = c.request(Type::read, 50);
  r2.string("1");
  r2.u64(0);
  r2.u32(200000);
  c.end();
  c.request(Type::close, 60).string("1");
  c.end();

  auto fs = vfs::LocalFs::open_for_test(root_.path(), &pool);
  ASSERT_TRUE(fs);
  test::PipeChannel ch(c.bytes(), 4096);
  test::run_task(run_session(ch, **fs, {}));
  auto replies = parse(ch.output());
  ASSERT_EQ(replies.size(), 1u + 1 + 1 + 1 + 32 + 1 + 1);
  std::map<std::uint32_t, Reply> by_id;
  std::vector<std::uint32_t> write_acks;
  for (std::size_t i = 1; i < replies.size(); ++i) {
    EXPECT_TRUE(by_id.emplace(replies[i].id, replies[i]).second) << "twice: " << replies[i].id;
    if (replies[i].id == 2 || (replies[i].id >= 10 && replies[i].id < 42))
      write_acks.push_back(replies[i].id);
  }
  EXPECT_TRUE(std::is_sorted(write_acks.begin(), write_acks.end()));
  EXPECT_EQ(write_acks.size(), 33u);
  EXPECT_EQ(replies.back().id, 60u);
  EXPECT_EQ(status_of(replies.back()), static_cast<std::uint32_t>(Status::ok));
  ASSERT_EQ(by_id.at(3).type, Type::data);
  EXPECT_EQ(string_of(by_id.at(3)), first);
  for (std::uint32_t k = 0; k < 32; ++k)
    EXPECT_EQ(status_of(by_id.at(10 + k)), static_cast<std::uint32_t>(Status::ok));
  ASSERT_EQ(by_id.at(50).type, Type::data);
  EXPECT_EQ(string_of(by_id.at(50)), expected); // after every write it overlaps
  EXPECT_EQ(read_host("p.bin"), expected);
}

// Issue 17: READs of one handle that went to the pool were answered in the
// order they finished, and scp truncated its download at the first reply out
// of order. Each READ is also whole: never short before the end of the file.
TEST_F(SftpSession, PipelinedReadsOfAHandleAreAnsweredInOrder) {
  core::WorkerPool pool(4);
  std::string content(64 * 40000 + 77, '\0');
  for (std::size_t i = 0; i < content.size(); ++i)
    content[i] = static_cast<char>(i * 7 + i / 1000);
  {
    std::ofstream out(root_.path() / "r.bin", std::ios::binary);
    out << content;
  }
  // Out of the page cache but for the second READ's range: the first waits
  // for the disk on the pool, the second could be answered at once.
  const int fd = ::open((root_.path() / "r.bin").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
  std::string second(40000, '\0');
  EXPECT_EQ(::pread(fd, second.data(), second.size(), 40000), 40000);
  ::close(fd);
  Client c;
  auto& open = c.request(Type::open, 1);
  open.string("/r.bin");
  open.u32(pflag_read);
  open.attrs(Attrs{});
  c.end();
  for (std::uint32_t k = 0; k < 70; ++k) {
    auto& r = c.request(Type::read, 10 + k);
    r.string("1");
    r.u64(std::uint64_t{k} * 40000);
    r.u32(40000);
    c.end();
  }
  auto fs = vfs::LocalFs::open_for_test(root_.path(), &pool);
  ASSERT_TRUE(fs);
  test::PipeChannel ch(c.bytes(), 4096);
  test::run_task(run_session(ch, **fs, {}));
  auto replies = parse(ch.output());
  ASSERT_EQ(replies.size(), 1u + 1 + 70);
  std::string got;
  for (std::uint32_t k = 0; k < 70; ++k) {
    const Reply& r = replies[2 + k];
    ASSERT_EQ(r.id, 10 + k);
    if (k <= 64) {
      ASSERT_EQ(r.type, Type::data) << k;
      got += string_of(r);
    } else {
      EXPECT_EQ(status_of(r), static_cast<std::uint32_t>(Status::eof)) << k;
    }
  }
  EXPECT_EQ(got, content);
}

TEST_F(SftpSession, RequestBeforeInitGetsNoAnswer) {
  Writer w;
  w.start(Type::stat);
  w.u32(1);
  w.string("/");
  w.finish();
  auto fs = vfs::LocalFs::open(root_.path());
  test::PipeChannel ch(w.bytes());
  test::run_task(run_session(ch, **fs, {}));
  EXPECT_TRUE(ch.output().empty());
}

TEST_F(SftpSession, UploadThenDownloadByteForByte) {
  std::string payload(300000, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i)
    payload[i] = static_cast<char>(i * 7 + 3);
  Client up;
  auto& w = up.request(Type::open, 1);
  w.string("/up.bin");
  w.u32(pflag_write | pflag_creat | pflag_trunc);
  w.attrs(Attrs{});
  up.end();
  auto replies = run(up);
  ASSERT_EQ(replies.size(), 2u);
  ASSERT_EQ(replies[1].type, Type::handle);
  std::string handle = string_of(replies[1]);

  // Same session: open, write in 3 pieces out of order, close.
  Client s2;
  auto& o = s2.request(Type::open, 1);
  o.string("/up.bin");
  o.u32(pflag_write | pflag_creat | pflag_trunc);
  o.attrs(Attrs{});
  s2.end();
  // Handles are "1", "2", ... per session: the first open gets "1".
  const std::size_t cut1 = 100000, cut2 = 200000;
  for (auto [off, len, id] :
       {std::tuple<std::size_t, std::size_t, std::uint32_t>{cut2, payload.size() - cut2, 2},
        {0, cut1, 3},
        {cut1, cut2 - cut1, 4}}) {
    auto& wr = s2.request(Type::write, id);
    wr.string("1");
    wr.u64(off);
    wr.string(std::string_view(payload).substr(off, len));
    s2.end();
  }
  s2.request(Type::close, 5).string("1");
  s2.end();
  auto r2 = run(s2);
  ASSERT_EQ(r2.size(), 6u);
  for (std::size_t i = 2; i < 6; ++i)
    EXPECT_EQ(status_of(r2[i]), 0u) << i;
  EXPECT_EQ(read_host("up.bin"), payload);

  Client s3;
  s3.open(1, "up.bin", pflag_read);
  std::uint64_t off = 0;
  std::uint32_t id = 2;
  while (off < payload.size() + 65536) { // one read past the end: EOF
    auto& rd = s3.request(Type::read, id++);
    rd.string("1");
    rd.u64(off);
    rd.u32(65536);
    s3.end();
    off += 65536;
  }
  auto r3 = run(s3);
  std::string back;
  bool eof = false;
  for (std::size_t i = 2; i < r3.size(); ++i) {
    if (r3[i].type == Type::data)
      back += string_of(r3[i]);
    else
      eof = status_of(r3[i]) == static_cast<std::uint32_t>(Status::eof);
  }
  EXPECT_EQ(back, payload);
  EXPECT_TRUE(eof);
}

// Transfers go to the transfer log: a handle written is an upload, one read
// a download, one opened for reading and never read nothing; a handle left
// open when the session ends is an incomplete transfer.
TEST_F(SftpSession, TransfersAreReportedAtCloseOrSessionEnd) {
  write_host("down.bin", std::string(5000, 'd'));
  write_host("peek.bin", "x");
  auto xferlog = core::XferlogFile::open(dir_.path() / "xferlog");
  ASSERT_TRUE(xferlog);
  auto telemetry = std::make_shared<core::Telemetry>(std::move(*xferlog));
  const SessionInfo info{"alice", "192.0.2.9", telemetry};
  Client c;
  auto open = [&](std::uint32_t id, std::string_view path, std::uint32_t flags) {
    auto& o = c.request(Type::open, id);
    o.string(path);
    o.u32(flags);
    o.attrs(Attrs{});
    c.end();
  };
  open(1, "/up load.bin", pflag_write | pflag_creat | pflag_trunc); // handle "1"
  auto& w = c.request(Type::write, 2);
  w.string("1");
  w.u64(0);
  w.string(std::string(1234, 'u'));
  c.end();
  c.request(Type::close, 3).string("1");
  c.end();
  open(4, "/down.bin", pflag_read);   // "2"
  for (std::uint32_t id : {5u, 6u}) { // all of it, then EOF
    auto& rd = c.request(Type::read, id);
    rd.string("2");
    rd.u64(id == 5 ? 0 : 5000);
    rd.u32(65536);
    c.end();
  }
  c.request(Type::close, 7).string("2");
  c.end();
  open(8, "/peek.bin", pflag_read); // "3": never read
  c.request(Type::close, 9).string("3");
  c.end();
  open(10, "/partial.bin", pflag_write | pflag_creat | pflag_trunc); // "4": never closed
  auto& w2 = c.request(Type::write, 11);
  w2.string("4");
  w2.u64(0);
  w2.string("abc");
  c.end();

  auto fs = vfs::LocalFs::open(root_.path());
  ASSERT_TRUE(fs);
  test::PipeChannel ch(c.bytes());
  test::run_task(run_session(ch, **fs, {}, &info));

  std::ifstream in(dir_.path() / "xferlog");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    lines.push_back(line.substr(25)); // after the date
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "1 192.0.2.9 1234 /up_load.bin b _ i r alice sftp 0 * c");
  EXPECT_EQ(lines[1], "1 192.0.2.9 5000 /down.bin b _ o r alice sftp 0 * c");
  EXPECT_EQ(lines[2], "1 192.0.2.9 3 /partial.bin b _ i r alice sftp 0 * i");
  auto text = telemetry->metrics().render();
  EXPECT_NE(text.find("berth_bytes_total{protocol=\"sftp\",direction=\"in\"} 1237\n"),
            std::string::npos);
  EXPECT_NE(text.find("berth_transfers_total{protocol=\"sftp\",direction=\"out\",result="
                      "\"ok\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("berth_transfers_total{protocol=\"sftp\",direction=\"in\",result="
                      "\"aborted\"} 1\n"),
            std::string::npos);
}

TEST_F(SftpSession, ByteAtATimeInputGivesTheSameReplies) {
  write_host("f", "hello");
  Client c;
  c.request(Type::stat, 9).string("/f");
  c.end();
  c.request(Type::realpath, 10).string("a/../b/./c");
  c.end();
  auto whole = run(c);
  auto grind = run(c, 1);
  ASSERT_EQ(whole.size(), 3u);
  ASSERT_EQ(grind.size(), 3u);
  for (std::size_t i = 0; i < whole.size(); ++i)
    EXPECT_EQ(whole[i].body, grind[i].body);
  EXPECT_EQ(whole[1].type, Type::attrs);
  Reader a(whole[1].body);
  auto attrs = a.attrs();
  ASSERT_TRUE(attrs);
  EXPECT_EQ(attrs->size.value_or(0), 5u);
  EXPECT_EQ(whole[2].type, Type::name);
  Reader n(whole[2].body);
  EXPECT_EQ(*n.u32(), 1u);
  EXPECT_EQ(*n.string(), "/b/c");
}

TEST_F(SftpSession, MalformedRequestsGetBadMessageAndTheSessionGoesOn) {
  Client c;
  c.request(Type::stat, 1); // no path at all
  c.end();
  auto& t = c.request(Type::remove, 2);
  t.string("/x");
  t.u32(99); // trailing bytes
  c.end();
  c.request(Type::stat, 3).string("/");
  c.end();
  auto r = run(c);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(status_of(r[1]), static_cast<std::uint32_t>(Status::bad_message));
  EXPECT_EQ(status_of(r[2]), static_cast<std::uint32_t>(Status::bad_message));
  EXPECT_EQ(r[3].type, Type::attrs);
}

TEST_F(SftpSession, OversizedPacketEndsTheSession) {
  Client c;
  std::string bytes = c.bytes();
  bytes += std::string("\x00\x10\x00\x01", 4); // just over 1 MiB declared
  bytes += std::string(100, 'x');
  auto fs = vfs::LocalFs::open(root_.path());
  test::PipeChannel ch(bytes);
  test::run_task(run_session(ch, **fs, {}));
  auto r = parse(ch.output());
  ASSERT_EQ(r.size(), 1u); // VERSION only
}

TEST_F(SftpSession, UnknownTypeAndExtensionAreUnsupported) {
  Client c;
  c.request(static_cast<Type>(99), 1);
  c.end();
  c.request(Type::extended, 2).string("nope@example.com");
  c.end();
  auto r = run(c);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(status_of(r[1]), static_cast<std::uint32_t>(Status::op_unsupported));
  EXPECT_EQ(status_of(r[2]), static_cast<std::uint32_t>(Status::op_unsupported));
}

TEST_F(SftpSession, HandleCapAnswersWithAnError) {
  write_host("f", "x");
  Client c;
  for (std::uint32_t i = 1; i <= 5; ++i) {
    auto& o = c.request(Type::open, i);
    o.string("/f");
    o.u32(pflag_read);
    o.attrs(Attrs{});
    c.end();
  }
  Limits l;
  l.max_handles = 3;
  auto r = run(c, 1 << 20, l);
  ASSERT_EQ(r.size(), 6u);
  for (std::size_t i = 1; i <= 3; ++i)
    EXPECT_EQ(r[i].type, Type::handle);
  EXPECT_EQ(status_of(r[4]), static_cast<std::uint32_t>(Status::failure));
  EXPECT_EQ(status_of(r[5]), static_cast<std::uint32_t>(Status::failure));
}

// Each directory handle holds its whole listing: 1,024 of them on a
// 4,000-entry directory held 500 MiB, so directories have a cap of their own.
TEST_F(SftpSession, DirectoryHandleCapAnswersWithAnError) {
  write_host("f", "x");
  Client c;
  for (std::uint32_t i = 1; i <= 3; ++i) {
    c.request(Type::opendir, i).string("/");
    c.end();
  }
  auto& o = c.request(Type::open, 4); // files do not count against it
  o.string("/f");
  o.u32(pflag_read);
  o.attrs(Attrs{});
  c.end();
  c.request(Type::close, 5).string("1");
  c.end();
  c.request(Type::opendir, 6).string("/");
  c.end();
  Limits l;
  l.max_dir_handles = 2;
  auto r = run(c, 1 << 20, l);
  ASSERT_EQ(r.size(), 7u);
  EXPECT_EQ(r[1].type, Type::handle);
  EXPECT_EQ(r[2].type, Type::handle);
  EXPECT_EQ(status_of(r[3]), static_cast<std::uint32_t>(Status::failure));
  EXPECT_EQ(r[4].type, Type::handle);
  EXPECT_EQ(status_of(r[5]), static_cast<std::uint32_t>(Status::ok));
  EXPECT_EQ(r[6].type, Type::handle); // closing one makes room
}

// Directory handles hold their entries until closed: a session may hold
// max_dir_entries of them, but always one directory, however big.
TEST_F(SftpSession, OpenDirectoriesHoldBoundedEntries) {
  for (int i = 0; i < 300; ++i)
    write_host("f" + std::to_string(i), "");
  Client c;
  for (std::uint32_t id = 1; id <= 2; ++id) {
    c.request(Type::opendir, id).string("/");
    c.end();
  }
  c.request(Type::close, 3).string("1");
  c.end();
  c.request(Type::opendir, 4).string("/");
  c.end();
  Limits l;
  l.max_dir_entries = 200;
  auto r = run(c, 1 << 20, l);
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r[1].type, Type::handle);
  EXPECT_EQ(string_of(r[1]), "1");
  EXPECT_EQ(status_of(r[2]), static_cast<std::uint32_t>(Status::failure));
  EXPECT_EQ(status_of(r[3]), 0u);
  EXPECT_EQ(r[4].type, Type::handle);
}

TEST_F(SftpSession, JailHoldsForPathsLinksAndRenames) {
  Client c;
  c.request(Type::stat, 1).string("/../../../etc/passwd");
  c.end();
  auto& sl = c.request(Type::symlink, 2);
  sl.string("/etc"); // OpenSSH order: target, then link
  sl.string("/etclink");
  c.end();
  c.request(Type::stat, 3).string("/etclink/passwd");
  c.end();
  auto& rn = c.request(Type::rename, 4);
  rn.string("/nothing");
  rn.string("/../../tmp/x");
  c.end();
  auto r = run(c);
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(status_of(r[1]), static_cast<std::uint32_t>(Status::no_such_file));
  EXPECT_EQ(status_of(r[2]), 0u);
  EXPECT_EQ(status_of(r[3]), static_cast<std::uint32_t>(Status::no_such_file));
  EXPECT_EQ(status_of(r[4]), static_cast<std::uint32_t>(Status::no_such_file));
  // The link was stored relative, inside the root.
  char target[256] = {};
  ASSERT_GT(::readlink((root_.path() / "etclink").c_str(), target, sizeof target - 1), 0);
  EXPECT_EQ(std::string(target), "etc");
}

TEST_F(SftpSession, RenameRefusesAnExistingTargetPosixRenameReplaces) {
  write_host("a", "A");
  write_host("b", "B");
  Client c;
  auto& rn = c.request(Type::rename, 1);
  rn.string("/a");
  rn.string("/b");
  c.end();
  auto& pr = c.request(Type::extended, 2);
  pr.string("posix-rename@openssh.com");
  pr.string("/a");
  pr.string("/b");
  c.end();
  auto r = run(c);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(status_of(r[1]), static_cast<std::uint32_t>(Status::failure));
  EXPECT_EQ(status_of(r[2]), 0u);
  EXPECT_EQ(read_host("b"), "A");
}

TEST_F(SftpSession, ReaddirReturnsEveryEntryThenEof) {
  for (int i = 0; i < 300; ++i)
    write_host("f" + std::to_string(i), "");
  Client c;
  c.request(Type::opendir, 1).string("/");
  c.end();
  for (std::uint32_t id = 2; id < 10; ++id) {
    c.request(Type::readdir, id).string("1");
    c.end();
  }
  auto r = run(c);
  std::size_t names = 0;
  bool eof = false;
  for (std::size_t i = 2; i < r.size(); ++i) {
    if (r[i].type == Type::name) {
      Reader n(r[i].body);
      names += *n.u32();
    } else if (status_of(r[i]) == static_cast<std::uint32_t>(Status::eof)) {
      eof = true;
    }
  }
  EXPECT_EQ(names, 300u);
  EXPECT_TRUE(eof);
}

// The names of a NAME reply.
std::vector<std::string> names_of(const Reply& r) {
  EXPECT_EQ(r.type, Type::name);
  std::vector<std::string> names;
  if (r.type != Type::name)
    return names;
  Reader n(r.body);
  const std::uint32_t count = *n.u32();
  for (std::uint32_t i = 0; i < count; ++i) {
    names.emplace_back(*n.string());
    (void)n.string(); // longname
    (void)n.attrs();
  }
  return names;
}

std::vector<Reply> run_on(vfs::Filesystem& fs, const Client& c, Limits limits) {
  test::PipeChannel ch(c.bytes(), 1 << 20);
  test::run_task(run_session(ch, fs, limits));
  return parse(ch.output());
}

// Issue 19: READDIR reads the directory through open_dir() a batch at a time
// (object storage's pages), fills each reply across batches as it did from a
// whole listing, and never calls list().
TEST(SftpReaddir, StreamsBatchesInOrderWithoutList) {
  std::vector<vfs::DirEntry> entries;
  for (const char* name : {"a", "b", "c", "d", "e", "f"})
    entries.push_back(test::BatchFs::file(name, 1));
  test::BatchFs fs(entries, 2);
  Client c;
  c.request(Type::opendir, 1).string("/");
  c.end();
  for (std::uint32_t id = 2; id <= 5; ++id) {
    c.request(Type::readdir, id).string("1");
    c.end();
  }
  c.request(Type::close, 6).string("1");
  c.end();
  Limits l;
  l.readdir_batch = 4;
  auto r = run_on(fs, c, l);
  ASSERT_EQ(r.size(), 7u);
  EXPECT_EQ(r[1].type, Type::handle);
  EXPECT_EQ(names_of(r[2]), (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(names_of(r[3]), (std::vector<std::string>{"e", "f"}));
  EXPECT_EQ(status_of(r[4]), static_cast<std::uint32_t>(Status::eof));
  EXPECT_EQ(status_of(r[5]), static_cast<std::uint32_t>(Status::eof));
  EXPECT_EQ(status_of(r[6]), 0u);
  EXPECT_EQ(fs.list_calls, 0u);
  EXPECT_EQ(fs.batches_read, 4u); // three batches and the empty end, each read once
  EXPECT_EQ(fs.readers_open, 0u);
}

// max_dir_entries bounds the entries held in hand, not a directory's size:
// two open directories of 300 entries each are read whole within 25.
TEST(SftpReaddir, BoundHoldsBatchesNotDirectories) {
  std::vector<vfs::DirEntry> entries;
  for (int i = 100; i < 400; ++i)
    entries.push_back(test::BatchFs::file("f" + std::to_string(i)));
  test::BatchFs fs(entries, 10);
  Client c;
  for (std::uint32_t id = 1; id <= 2; ++id) {
    c.request(Type::opendir, id).string("/");
    c.end();
  }
  for (std::uint32_t id = 3; id < 100; ++id) { // alternately on each handle
    c.request(Type::readdir, id).string(id % 2 == 0 ? "2" : "1");
    c.end();
  }
  Limits l;
  l.max_dir_entries = 25;
  l.readdir_batch = 16;
  auto r = run_on(fs, c, l);
  ASSERT_EQ(r.size(), 100u);
  ASSERT_EQ(r[1].type, Type::handle);
  ASSERT_EQ(r[2].type, Type::handle);
  std::vector<std::string> seen[2];
  std::size_t eofs = 0;
  for (std::size_t i = 3; i < r.size(); ++i) {
    if (r[i].type == Type::status) {
      EXPECT_EQ(status_of(r[i]), static_cast<std::uint32_t>(Status::eof));
      ++eofs;
      continue;
    }
    for (auto& n : names_of(r[i]))
      seen[i % 2].push_back(std::move(n));
  }
  std::vector<std::string> all;
  for (const auto& e : entries)
    all.push_back(e.name);
  EXPECT_EQ(seen[0], all);
  EXPECT_EQ(seen[1], all);
  EXPECT_GT(eofs, 0u);
  EXPECT_EQ(fs.list_calls, 0u);
}

TEST_F(SftpSession, LimitsAndStatvfsExtensions) {
  Client c;
  c.request(Type::extended, 1).string("limits@openssh.com");
  c.end();
  auto& sv = c.request(Type::extended, 2);
  sv.string("statvfs@openssh.com");
  sv.string("/");
  c.end();
  auto r = run(c);
  ASSERT_EQ(r.size(), 3u);
  ASSERT_EQ(r[1].type, Type::extended_reply);
  Reader l(r[1].body);
  EXPECT_EQ(*l.u64(), Limits{}.max_packet);
  EXPECT_EQ(*l.u64(), Limits{}.max_read);
  ASSERT_EQ(r[2].type, Type::extended_reply);
  Reader s(r[2].body);
  EXPECT_GT(*s.u64(), 0u); // block size
}

TEST_F(SftpSession, CheckFileHashesARange) {
  write_host("f", "abc");
  Client c;
  c.check_file(1, "check-file-name", "/f", "sha256", 0, 0, 0);
  auto r = run(c);
  ASSERT_EQ(r.size(), 2u);
  ASSERT_EQ(r[1].type, Type::extended_reply);
  Reader x(r[1].body);
  EXPECT_EQ(*x.string(), "check-file");
  EXPECT_EQ(*x.string(), "sha256");
  std::string digest(r[1].body.substr(r[1].body.size() - 32));
  // sha256("abc")
  EXPECT_EQ(static_cast<unsigned char>(digest[0]), 0xba);
  EXPECT_EQ(static_cast<unsigned char>(digest[31]), 0xad);
}

// Found by the sftp_session fuzz target: a 1-byte block over a large file ran
// for minutes and built a reply far over the packet limit.
TEST_F(SftpSession, CheckFileRefusesTinyBlocksAndOversizedReplies) {
  write_host("f", std::string(8 << 20, 'x'));
  Client c;
  for (std::uint32_t block : {1u, 256u}) {
    c.check_file(block, "check-file-name", "/f", "md5", 0, 0, block);
  }
  auto r = run(c);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(status_of(r[1]), static_cast<std::uint32_t>(Status::failure)); // below 256
  EXPECT_EQ(status_of(r[2]), static_cast<std::uint32_t>(Status::failure)); // 32,768 digests
}

// Found by the sftp_session fuzz target: copy-data onto its own source grew
// the file until the disk was full.
TEST_F(SftpSession, CopyDataOntoItsOwnSourceIsRefused) {
  write_host("f", "0123456789");
  Client c;
  auto& o = c.request(Type::open, 1);
  o.string("/f");
  o.u32(pflag_read | pflag_write);
  o.attrs(Attrs{});
  c.end();
  auto& cd = c.request(Type::extended, 2);
  cd.string("copy-data");
  cd.string("1");
  cd.u64(0);
  cd.u64(0);
  cd.string("1");
  cd.u64(5);
  c.end();
  auto& o2 = c.request(Type::open, 3); // the same file through a second handle
  o2.string("/f");
  o2.u32(pflag_read | pflag_write);
  o2.attrs(Attrs{});
  c.end();
  auto& cd2 = c.request(Type::extended, 4);
  cd2.string("copy-data");
  cd2.string("1");
  cd2.u64(0);
  cd2.u64(0);
  cd2.string("2");
  cd2.u64(5);
  c.end();
  auto r = run(c);
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(status_of(r[2]), static_cast<std::uint32_t>(Status::failure));
  EXPECT_EQ(status_of(r[4]), static_cast<std::uint32_t>(Status::failure));
  EXPECT_EQ(read_host("f"), "0123456789");
}

// paramiko's SFTPFile.check sends check-file-handle under the name "check-file".
TEST_F(SftpSession, CheckFileUnderParamikosNameHashesByHandle) {
  write_host("f", "abcabc");
  Client c;
  auto& o = c.request(Type::open, 1);
  o.string("/f");
  o.u32(pflag_read);
  o.attrs(Attrs{});
  c.end();
  c.check_file(2, "check-file", "1", "md5,sha256", 3, 0, 0);
  auto r = run(c);
  ASSERT_EQ(r.size(), 3u);
  ASSERT_EQ(r[2].type, Type::extended_reply);
  Reader x(r[2].body);
  EXPECT_EQ(*x.string(), "check-file");
  EXPECT_EQ(*x.string(), "md5");
  std::string digest(r[2].body.substr(r[2].body.size() - 16));
  // md5("abc"), the bytes from offset 3
  EXPECT_EQ(static_cast<unsigned char>(digest[0]), 0x90);
  EXPECT_EQ(static_cast<unsigned char>(digest[15]), 0x72);
}

// Issue 17: one hash of a 10 GiB sparse file held its event loop for 15 s.
// A range over the bound (vfs::kMaxHashBytes, kMaxCopyBytes) is refused
// before anything is read; a range within it is answered.
TEST_F(SftpSession, CheckFileAndCopyDataRefuseRangesOverTheBound) {
  {
    std::ofstream(root_.path() / "sparse", std::ios::binary).close();
    std::filesystem::resize_file(root_.path() / "sparse", (std::uint64_t{64} << 30) + 1);
  }
  write_host("small", "abc");
  Client c;
  for (std::uint64_t length : {std::uint64_t{0}, (std::uint64_t{4} << 30) + 1})
    c.check_file(1, "check-file-name", "/sparse", "md5", 0, length, 0);
  c.open(2, "/sparse", pflag_read);
  c.open(3, "/copy", pflag_write | pflag_creat);
  auto& cd = c.request(Type::extended, 4);
  cd.string("copy-data");
  cd.string("1");
  cd.u64(0);
  cd.u64(0); // to the end: 64 GiB and one byte
  cd.string("2");
  cd.u64(0);
  c.end();
  c.check_file(5, "check-file-name", "/small", "md5", 0, 0, 0);
  auto r = run(c);
  ASSERT_EQ(r.size(), 7u);
  for (std::size_t i : {1u, 2u, 5u}) {
    EXPECT_EQ(status_of(r[i]), static_cast<std::uint32_t>(Status::failure)) << i;
    Reader rd(r[i].body);
    (void)rd.u32();
    EXPECT_TRUE(rd.string()->starts_with("Range over ")) << i;
  }
  EXPECT_EQ(r[6].type, Type::extended_reply);
  EXPECT_EQ(std::filesystem::file_size(root_.path() / "copy"), 0u);
}

// A channel whose client takes no reply until release(): write_all waits.
// Its requests are all sent up front and read in chunks of `chunk` bytes.
class StalledChannel final : public Channel {
public:
  StalledChannel(const asio::any_io_executor& ex, std::string input, std::size_t chunk)
      : pipe_(std::move(input), chunk), released_(ex) {}

  // sftp::Channel
  core::Task<core::Result<std::size_t>> read_some(std::span<std::uint8_t> buf) override {
    co_return co_await pipe_.read_some(buf);
  }
  core::Task<core::Result<void>> write_all(std::span<const std::uint8_t> buf) override {
    while (!open_)
      co_await released_.wait();
    co_return co_await pipe_.write_all(buf);
  }
  core::Task<core::Result<void>> write_stderr(std::span<const std::uint8_t> buf) override {
    co_return co_await pipe_.write_stderr(buf);
  }
  void interrupt_read() override { pipe_.interrupt_read(); }

  void release() {
    open_ = true;
    released_.notify();
  }
  std::size_t consumed() const { return pipe_.consumed(); }
  const std::string& output() const { return pipe_.output(); }

private:
  test::PipeChannel pipe_;
  bool open_ = false;
  core::Wakeup released_;
};

// Issue 17: a client that sent READs and never read the replies took the
// server from 15 MiB to 13 GiB. The session stops reading requests while the
// replies waiting for the client are over the bound, and answers every one
// once the client reads again.
TEST_F(SftpSession, StopsReadingRequestsWhileRepliesWaitForTheClient) {
  write_host("f", std::string(64 * 1024, 'r'));
  Client c;
  c.open(1, "/f", pflag_read);
  constexpr std::uint32_t kReads = 20000; // 80 MB of replies
  for (std::uint32_t i = 0; i < kReads; ++i) {
    auto& rd = c.request(Type::read, i + 2);
    rd.string("1");
    rd.u64((i % 16) * 4096);
    rd.u32(4096);
    c.end();
  }
  c.request(Type::close, kReads + 2).string("1");
  c.end();
  Limits limits;
  limits.max_queued_replies = 256 * 1024;
  auto fs = vfs::LocalFs::open(root_.path());
  ASSERT_TRUE(fs);
  asio::io_context ctx;
  StalledChannel ch(ctx.get_executor(), c.bytes(), 4096);
  bool done = false;
  asio::co_spawn(ctx, run_session(ch, **fs, limits), [&done](std::exception_ptr) { done = true; });
  while (ctx.poll() > 0) {
  }
  // Stalled: about 64 READs (the bound's worth of replies) were read, not 20,000.
  EXPECT_FALSE(done);
  EXPECT_TRUE(ch.output().empty());
  EXPECT_LT(ch.consumed(), 16u * 1024) << "of " << c.bytes().size();
  ch.release();
  ctx.run();
  ASSERT_TRUE(done);
  EXPECT_EQ(ch.consumed(), c.bytes().size());
  auto r = parse(ch.output());
  ASSERT_EQ(r.size(), kReads + 3);
  std::size_t data = 0;
  for (const auto& reply : r)
    data += reply.type == Type::data && string_of(reply) == std::string(4096, 'r') ? 1 : 0;
  EXPECT_EQ(data, kReads);
  EXPECT_EQ(status_of(r.back()), 0u);
}

} // namespace
} // namespace berth::sftp

namespace berth::sftp {
namespace {

TEST(StatusFor, StorageErrors) {
  auto [unsupported, text] = status_for(make_error_code(vfs::Errc::unsupported));
  EXPECT_EQ(unsupported, Status::op_unsupported);
  EXPECT_EQ(text, "Operation not supported by this storage");
  auto [down, why] = status_for(make_error_code(vfs::Errc::unavailable));
  EXPECT_EQ(down, Status::failure);
  EXPECT_EQ(why, "Storage temporarily unavailable; try again later");
}

} // namespace
} // namespace berth::sftp
