#pragma once
// The server side of legacy scp (`scp -O`, old OpenSSH, WinSCP's SCP mode):
// the command an exec request carries ("scp -t path", "scp -f path") and the
// protocol run over the channel, on the user's vfs::Filesystem (its jail,
// permissions, quotas and upload mode) with transfers reported as SFTP's are.

#include "core/task.hpp"
#include "sftp/channel.hpp"
#include "sftp/session.hpp"
#include "vfs/filesystem.hpp"

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace berth::sftp::scp {

/// What an "scp" exec command asks for.
struct Args {
  bool sink = false;          ///< -t: the client uploads; else -f: it downloads.
  bool recursive = false;     ///< -r
  bool preserve = false;      ///< -p: times and permission bits.
  bool target_is_dir = false; ///< -d: the target must be a directory.
  std::string path;           ///< The target (-t) or source (-f), as the client wrote it.
  friend bool operator==(const Args&, const Args&) = default;
};

/// Parses an exec command such as `scp -t -- /dir`, `scp -r -p -f 'a b'` or
/// `scp -v -d -t -- "x"`: exactly one of -t and -f; -r, -p, -d, and -v, -q
/// (accepted, ignored) as separate or combined letters; an optional "--";
/// exactly one path. Nothing for anything else (another command, another
/// option, no or several paths). The command line is split by
/// exec::split_words(): quoted as sh quotes, never expanded (a `*` is a
/// name's byte), shell operators refused.
std::optional<Args> parse_command(std::string_view command);

/// The same, for the words after "scp" of a command already split.
std::optional<Args> parse_args(std::span<const std::string> words);

/// Bounds of one run.
inline constexpr std::size_t kChunk = 256 * 1024; ///< Bytes copied at a time.
inline constexpr unsigned kMaxDepth = 64;         ///< Directory levels sent or received.

/// Runs the protocol on `channel` until it ends; returns the exit status
/// (0: all went well, 1: an error was reported, as OpenSSH's scp). `fs` (and
/// `info`, when given) must outlive it.
///
/// Sink (-t): each file is uploaded as the filesystem's replace mode does
/// (atomic: it replaces the old file only once whole); a cut upload, a write
/// error (quota, disk) or a file the client could not read completely is
/// never committed. Source (-f): files are read from the jail and sent;
/// symlinks to directories are skipped in a recursive copy (no loops).
/// Errors go to the client as warning lines ("scp: /path: reason", never a
/// host path); setuid, setgid and sticky bits are never set or sent.
core::Task<int> run(const Args& args, Channel& channel, vfs::Filesystem& fs,
                    const SessionInfo* info = nullptr);

} // namespace berth::sftp::scp
