// Fuzzes legacy scp (sftp/scp/): the input is an exec command, a NUL byte,
// then what the client sends. The command goes to parse_command; each line to parse_line, whose
// records re-encode and parse back to themselves; an accepted command then runs on the unit tests'
// in-memory channel against a LocalFs jailed in a temporary directory (as
// sftp_session's), and nothing may appear beside the jail.
#include "sftp/scp/codec.hpp"
#include "sftp/scp/scp.hpp"

#include "core/check.hpp"
#include "core/log.hpp"
#include "fuzz_sandbox.hpp"
#include "sftp/exec/shell_words.hpp"
#include "support/pipe_channel.hpp"
#include "support/run_task.hpp"
#include "vfs/local/local_fs.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace berth::sftp::scp;

void run_command(const Args& args, std::string_view input) {
  auto& box = berth::fuzz::sandbox();
  box.reset();
  auto fs = berth::vfs::LocalFs::open(box.root());
  BERTH_CHECK(fs.has_value());
  berth::test::PipeChannel ch(std::string(input), 7);
  const int status = berth::test::run_task(run(args, ch, **fs));
  BERTH_CHECK(status == 0 || status == 1);
  box.check_outside();
}

// The words themselves are shell_words' target's; here, what scp takes of them.
void check_command(std::string_view command) {
  auto args = parse_command(command);
  if (!args)
    return;
  const berth::sftp::exec::Words split = berth::sftp::exec::split_words(command);
  BERTH_CHECK(split.error.empty() && split.words.size() >= 3 && split.words[0] == "scp");
  BERTH_CHECK(split.words.back() == args->path);
}

void check_line(std::string_view line) {
  auto rec = parse_line(line);
  if (!rec) {
    BERTH_CHECK(rec.error().category() == scp_category());
    BERTH_CHECK(!rec.error().message().empty());
    return;
  }
  std::string again;
  switch (rec->kind) {
  case Record::Kind::file:
    BERTH_CHECK(valid_name(rec->name) && rec->mode <= 07777);
    again = encode_file(rec->mode, rec->size, rec->name);
    break;
  case Record::Kind::directory:
    BERTH_CHECK(valid_name(rec->name) && rec->mode <= 07777);
    again = encode_directory(rec->mode, rec->name);
    break;
  case Record::Kind::end:
    again = encode_end();
    break;
  case Record::Kind::times:
    again = encode_times(rec->mtime, rec->atime);
    break;
  case Record::Kind::warning:
  case Record::Kind::fatal:
    again = encode_error(rec->kind == Record::Kind::fatal, rec->name);
    BERTH_CHECK(again.size() <= kMaxLine && again.find('\n') == again.size() - 1);
    return; // the message gains "scp: " and loses control characters
  }
  BERTH_CHECK(again.size() <= kMaxLine && again.back() == '\n');
  auto back = parse_line(std::string_view(again).substr(0, again.size() - 1));
  BERTH_CHECK(back);
  Record want = *rec;
  if (want.kind == Record::Kind::directory)
    want.size = 0; // a D line's size is sent as 0
  BERTH_CHECK(*back == want);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto nul = in.find('\0');
  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  (void)quiet;
  const std::string_view command = in.substr(0, nul);
  check_command(command);
  if (nul == std::string_view::npos)
    return 0;
  std::string_view rest = in.substr(nul + 1);
  if (auto args = parse_command(command))
    run_command(*args, rest);
  while (!rest.empty()) {
    const auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    if (line.size() < kMaxLine)
      check_line(line);
    if (nl == std::string_view::npos)
      break;
    rest.remove_prefix(nl + 1);
  }
  return 0;
}
