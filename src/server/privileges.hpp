#pragma once
// Dropping root after the listeners are bound: the only file that changes
// the process's identity and capabilities (setgroups, setgid, setuid,
// prctl, capset).

#include "core/config.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace berth::server {

/// CAP_NET_BIND_SERVICE as a bit of a capability set (linux/capability.h: 10).
inline constexpr std::uint64_t kNetBindService = std::uint64_t{1} << 10;

/// The capabilities kept after dropping root for `cfg`: CAP_NET_BIND_SERVICE
/// when FTP may bind a port below 1024 for data (active data from [ftp] or
/// [ftps] active_data_port, e.g. 20 or 989, on a listener that exists;
/// passive ports below 1024), else none. Pure.
std::uint64_t capabilities_to_keep(const core::Config& cfg);

/// What serve() does about its identity, decided before it binds anything.
enum class IdentityPlan {
  keep,      ///< Nothing to do: no [server] user and not root, already that user, or "root".
  keep_root, ///< Root without [server] user: serve as root (with one warning).
  drop,      ///< Root with [server] user: drop once the listeners are bound.
};

/// Decides for a process running with effective ids `euid`/`egid`. Throws
/// std::runtime_error with one configuration error line ("FILE: server.user:
/// ...") when [server] user names someone else and the process is not root.
/// Pure.
IdentityPlan plan_identity(const core::Config& cfg, std::uint32_t euid, std::uint32_t egid);

/// Hands `paths` (made by root before the drop) to the user and group of
/// `who` (lchown: a symlink is changed itself, never what it points to).
/// Returns one line per path that could not be changed (nothing when all were).
std::vector<std::string> hand_over(const std::vector<std::filesystem::path>& paths,
                                   const core::RunAs& who);

/// Becomes `who` for good: supplementary groups (the user's, from the group
/// database), gid, uid; keeps only `keep` (capability bits; permitted and
/// effective, nothing inheritable or ambient, and only those in the bounding
/// set when it may be changed); sets no_new_privs. Then checks that root can
/// not be regained (setuid(0) and setgid(0) fail). Must run before the event
/// loop threads start: they inherit the capabilities of this thread (threads
/// started earlier lose all of theirs with the uid). Throws
/// std::runtime_error with one line on any failure: the process must not go
/// on with an identity it was not told to have.
void drop_privileges(const core::RunAs& who, std::uint64_t keep);

/// The effective capability set of the calling thread.
std::uint64_t effective_capabilities();

} // namespace berth::server
