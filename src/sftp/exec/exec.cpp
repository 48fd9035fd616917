#include "sftp/exec/exec.hpp"

#include "sftp/exec/checksum.hpp"
#include "sftp/exec/shell_words.hpp"
#include "sftp/scp/scp.hpp"

#include <fmt/format.h>

#include <string>
#include <vector>

namespace berth::sftp::exec {
namespace {

// What a command works on.
struct Context {
  std::string_view name; ///< The command's name (its first word).
  Channel& channel;
  vfs::Filesystem& fs;
  const SessionInfo* info; ///< May be null.
};

using Args = std::vector<std::string>;

core::Task<void> print(Channel& channel, std::string_view text) {
  auto ignored = co_await channel.write_all(
      std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  (void)ignored; // a closed channel ends the command anyway
}

core::Task<int> cmd_md5sum(const Args& args, Context& c) {
  co_return co_await run_checksum(c.name, vfs::Digest::md5, args, c.channel, c.fs);
}
core::Task<int> cmd_sha1sum(const Args& args, Context& c) {
  co_return co_await run_checksum(c.name, vfs::Digest::sha1, args, c.channel, c.fs);
}
core::Task<int> cmd_sha256sum(const Args& args, Context& c) {
  co_return co_await run_checksum(c.name, vfs::Digest::sha256, args, c.channel, c.fs);
}
core::Task<int> cmd_sha512sum(const Args& args, Context& c) {
  co_return co_await run_checksum(c.name, vfs::Digest::sha512, args, c.channel, c.fs);
}

// The user's home is "/" (SFTPGo prints the same); there is no cd.
core::Task<int> cmd_pwd(const Args&, Context& c) {
  co_await print(c.channel, "/\n");
  co_return 0;
}

// Its arguments, joined by spaces ("-n": without the newline). rclone runs
// "echo" to learn what kind of shell the server has.
core::Task<int> cmd_echo(const Args& args, Context& c) {
  bool newline = true;
  std::string text;
  std::size_t first = 0;
  if (!args.empty() && args[0] == "-n") {
    newline = false;
    first = 1;
  }
  for (std::size_t i = first; i < args.size(); ++i) {
    if (i > first)
      text.push_back(' ');
    text += args[i];
  }
  if (newline)
    text.push_back('\n');
  co_await print(c.channel, text);
  co_return 0;
}

// Legacy scp's server side (`scp -t` receives, `scp -f` sends): a protocol
// on the channel rather than a command, in sftp/scp/.
core::Task<int> cmd_scp(const Args& args, Context& c) {
  const std::optional<scp::Args> parsed = scp::parse_args(args);
  if (!parsed) {
    static constexpr std::string_view kUsage =
        "berth: scp: usage: scp [-r] [-p] [-d] -t|-f [--] path\n";
    co_await print_error(c.channel, kUsage);
    co_return 1;
  }
  co_return co_await scp::run(*parsed, c.channel, c.fs, c.info);
}

struct Command {
  std::string_view name;
  core::Task<int> (*run)(const Args& args, Context& c);
};

// Every command there is, one row each.
constexpr Command kCommands[] = {
    {"echo", cmd_echo},
    {"md5sum", cmd_md5sum},
    {"pwd", cmd_pwd},
    {"scp", cmd_scp},
    {"sha1sum", cmd_sha1sum},
    {"sha256sum", cmd_sha256sum},
    {"sha512sum", cmd_sha512sum},
};

} // namespace

core::Task<void> print_error(Channel& channel, std::string_view text) {
  auto ignored = co_await channel.write_stderr(
      std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  (void)ignored; // a closed channel ends the command anyway
}

core::Task<int> run(std::string_view command, Channel& channel, vfs::Filesystem& fs,
                    const SessionInfo* info) {
  Words split = split_words(command);
  if (!split.error.empty()) {
    const std::string line = fmt::format("berth: {}\n", split.error);
    co_await print_error(channel, line);
    co_return 2; // as sh answers a syntax error
  }
  if (split.words.empty())
    co_return co_await no_shell(channel);
  const std::string name = split.words.front();
  const Args args(split.words.begin() + 1, split.words.end());
  const Command* found = nullptr;
  for (const Command& c : kCommands)
    found = c.name == name ? &c : found;
  if (found != nullptr) {
    Context ctx{name, channel, fs, info};
    co_return co_await found->run(args, ctx);
  }
  // SECURITY: nothing else runs, and never through a shell.
  const std::string line = fmt::format("berth: {}: command not found\n", name);
  co_await print_error(channel, line);
  co_return 127;
}

core::Task<int> no_shell(Channel& channel) {
  static constexpr std::string_view kText =
      "berth: there is no shell here: this server offers SFTP, scp and the commands md5sum, "
      "sha1sum, sha256sum, sha512sum, pwd and echo\n";
  co_await print_error(channel, kText);
  co_return 1;
}

} // namespace berth::sftp::exec
