#pragma once
// Commands a client may run with an SSH "exec" request, without a shell (as
// SFTPGo offers): the checksum commands rclone uses to compare files, pwd and
// echo. Each is a row of one table in exec.cpp; everything else is refused
// with exit status 127, as a shell answers a command it can not find.

#include "core/task.hpp"
#include "sftp/channel.hpp"
#include "sftp/session.hpp"
#include "vfs/filesystem.hpp"

#include <string_view>

namespace berth::sftp::exec {

/// Runs `command` (an exec request's text, split by split_words()) over
/// `fs`, the user's jail, with its output, error output and input on
/// `channel`; returns its exit status. Never starts a process. `info` (may
/// be null) names the user for log lines.
core::Task<int> run(std::string_view command, Channel& channel, vfs::Filesystem& fs,
                    const SessionInfo* info);

/// Answers a "shell" request: one line on the error stream saying that there
/// is no shell here and what there is. Returns the exit status (1).
core::Task<int> no_shell(Channel& channel);

/// Writes `text` to the channel's error stream; errors are the channel's
/// (nothing to do about them: the program ends anyway).
core::Task<void> print_error(Channel& channel, std::string_view text);

} // namespace berth::sftp::exec
