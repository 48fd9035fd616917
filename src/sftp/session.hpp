#pragma once
// One SFTP session: reads packets from a Channel, dispatches them through the
// tables in handlers.cpp and writes the replies. The same code serves SSH
// channels and the in-memory pipes of tests and fuzzers.

#include "core/drain.hpp"
#include "core/result.hpp"
#include "core/task.hpp"
#include "core/telemetry.hpp"
#include "sftp/channel.hpp"
#include "sftp/codec.hpp"
#include "sftp/handle_table.hpp"
#include "vfs/filesystem.hpp"

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

namespace berth::sftp {

/// Bounds of one session (OpenSSH sftp-server uses 256 KiB packets).
struct Limits {
  std::size_t max_packet = 256 * 1024;       ///< Longest request accepted.
  std::size_t max_read = 256 * 1024 - 1024;  ///< Longest READ answered (limits@openssh.com).
  std::size_t max_handles = 1024;            ///< Open files and directories.
  std::size_t max_dir_handles = 32;          ///< Of them, directories (each holds its listing).
  std::size_t max_dir_entries = 512 * 1024;  ///< Entries held by open directories, but
                                             ///< one directory of any size is always opened.
  std::size_t readdir_batch = 128;           ///< Entries per READDIR reply.
  std::size_t max_in_flight = 64;            ///< READ/WRITE requests running at once.
  std::size_t max_in_flight_bytes = 8 << 20; ///< Their packets' bytes, held meanwhile.
  std::size_t max_queued_replies = 4 << 20;  ///< Reply bytes not yet taken by the client
                                             ///< (with those running READs will add): above
                                             ///< it, no request is read.
};

/// Who a session serves: for log lines, the transfer log and metrics.
struct SessionInfo {
  std::string user;
  std::string client;                         ///< The client's address.
  std::shared_ptr<core::Telemetry> telemetry; ///< Null: transfers are not reported.
};

/// The transfer of a file `path` opened for writing (or reading), reported
/// to info->telemetry as SFTP's are; nothing without a telemetry.
std::optional<HandleTransfer> transfer_for(const SessionInfo* info, const vfs::VirtualPath& path,
                                           bool write);

/// Runs a session until the channel closes. `fs` (and `info`, when given)
/// must outlive it.
///
/// Transfers are reported to info->telemetry: a file handle that was written
/// (or opened for writing and not read) is an upload, one that was read a
/// download; each is reported when it is closed, or as aborted when the
/// session ends with it open.
///
/// With a `drain` (the server's graceful stop), the session ends once the
/// drain has started and no file is open (an idle session at once; one with
/// an upload or download open when the client closes its last file).
/// `channel.read_some` must end when cancelled.
///
/// READ and WRITE requests run concurrently (up to `limits.max_in_flight`)
/// and are answered as they complete, so a slow disk read does not hold up
/// the replies behind it (OpenSSH's client matches read replies by id).
/// A WRITE waits for every earlier request on its handle (its ack comes in
/// order); every other request waits for all before it and runs alone, so
/// the client sees the effects in the order it sent the requests
/// (filexfer-02 6: requests on one file are processed in order).
///
/// A client that sends requests but does not read the replies gets no more
/// requests read once `limits.max_queued_replies` bytes wait for it (OpenSSH's
/// sftp-server reads input only while its output queue has room): its window
/// and the channel's buffers then stop it.
core::Task<void> run_session(Channel& channel, vfs::Filesystem& fs, Limits limits,
                             const SessionInfo* info = nullptr,
                             std::shared_ptr<core::Drain> drain = nullptr);

/// The state handlers work on.
class Session {
public:
  Session(vfs::Filesystem& filesystem, Limits bounds, const SessionInfo* who = nullptr)
      : fs(filesystem), limits(bounds), handles(bounds.max_handles), info(who) {}

  /// Handles one whole packet (type byte onwards); replies are appended to `out`.
  core::Task<void> handle_packet(std::span<const std::uint8_t> packet);

  /// Resolves a client path; relative paths are relative to "/" (the user's home).
  core::Result<vfs::VirtualPath> path(std::string_view p) const;

  /// The user's name for log lines ("-" without SessionInfo).
  /// (Not `cond ? info->user : "-"`: that makes a temporary std::string.)
  std::string_view user() const {
    if (info != nullptr)
      return info->user;
    return "-";
  }

  /// Appends a STATUS reply for `ec` (OK when ec is empty).
  void reply_status(std::uint32_t id, std::error_code ec);
  void reply_status(std::uint32_t id, Status code, std::string_view message = {});

  vfs::Filesystem& fs;
  Limits limits;
  HandleTable handles;
  Writer out;
  bool initialized = false;
  const SessionInfo* info = nullptr; ///< May be null (tests, fuzzers).
};

/// The STATUS code and message for an error of any layer (OpenSSH errno_to_portable).
std::pair<Status, std::string> status_for(std::error_code ec);

} // namespace berth::sftp
