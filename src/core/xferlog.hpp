#pragma once
// The transfer log in the wu-ftpd xferlog format (man 5 xferlog), as vsftpd
// (xferlog_std_format), ProFTPD and Pure-FTPd write it, so that existing
// tools (xferstats, log analysers) read it: a pure line formatter and a small
// append-only file sink.

#include "core/result.hpp"

#include <chrono>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace berth::core {

/// One finished (or aborted) transfer, as an xferlog line shows it.
struct XferlogEntry {
  std::tm time{};                           ///< current-time: when it ended, local time.
  std::chrono::duration<double> duration{}; ///< transfer-time.
  std::string remote_host;                  ///< The client's address.
  std::uint64_t bytes = 0;                  ///< file-size: bytes transferred.
  std::string filename;                     ///< The path as the user sees it.
  bool binary = true;                       ///< transfer-type: 'b', or 'a' (FTP TYPE A).
  bool incoming = false;                    ///< direction: 'i' (upload), or 'o' (download).
  bool anonymous = false;                   ///< access-mode: 'a', or 'r' (a real user).
  std::string user;                         ///< username; for anonymous FTP "anonymous".
  std::string service;                      ///< service-name: "ftp", "ftps" or "sftp".
  bool complete = true;                     ///< completion-status: 'c', or 'i' (incomplete).
};

/// The line for `e`, newline included:
/// `current-time transfer-time remote-host file-size filename transfer-type
/// special-action-flag direction access-mode username service-name
/// authentication-method authenticated-user-id completion-status`, e.g.
/// `Mon Nov 24 07:30:00 2026 1 127.0.0.1 1048576 /file.bin b _ i r alice ftp 0 * c`.
///
/// - current-time is "DDD MMM dd hh:mm:ss YYYY" with a space-padded day
///   (ctime(3), as wu-ftpd and vsftpd write it), English names whatever the locale.
/// - transfer-time is whole seconds, rounded, at least 1 (as vsftpd).
/// - Fields are separated by single spaces, so spaces in a file or user name
///   become '_' and control characters '?', as vsftpd writes them (ProFTPD
///   also turns spaces into '_'); bytes >= 0x80 (UTF-8) are kept.
/// - special-action-flag is always '_', authentication-method 0 (none) and
///   authenticated-user-id '*'.
/// - Anonymous FTP logs "anonymous" as username, never the password given
///   (wu-ftpd logs that e-mail address; berth logs no password, ever).
std::string format_xferlog_line(const XferlogEntry& e);

/// The transfer log file, opened O_APPEND. Thread-safe: each line is one
/// write(2), so lines of concurrent transfers (and of other processes
/// appending to the same file) never interleave. A write blocks only as long as
/// an append to the page cache takes.
class XferlogFile {
public:
  /// Opens (creating, mode 0640) `path` for appending. Errors: the errno of open(2).
  static Result<std::unique_ptr<XferlogFile>> open(const std::filesystem::path& path);
  ~XferlogFile();
  XferlogFile(const XferlogFile&) = delete;
  XferlogFile& operator=(const XferlogFile&) = delete;

  /// Appends `line` (which ends in '\n'). A failure is logged once, until a
  /// write succeeds again; the transfer is not affected.
  void append(std::string_view line);

  /// Reopens the file by its path (after log rotation moved it away). On
  /// failure the old descriptor is kept and the error returned.
  Result<void> reopen();

  const std::filesystem::path& path() const { return path_; }

private:
  XferlogFile(std::filesystem::path path, int fd) : path_(std::move(path)), fd_(fd) {}

  std::filesystem::path path_;
  std::mutex mutex_; // guards fd_ against reopen()
  int fd_;
  bool failing_ = false; // guarded by mutex_
};

} // namespace berth::core
