#pragma once
// Open files and directories of one SFTP session, behind opaque handles.

#include "core/result.hpp"
#include "core/telemetry.hpp"
#include "vfs/filesystem.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <variant>
#include <vector>

namespace berth::sftp {

/// A directory being read: the filesystem's reader and the batch of entries in
/// hand, which READDIR sends from and refills from the reader when it is used
/// up, so that a directory of any size is held a batch at a time.
struct DirCursor {
  std::unique_ptr<vfs::DirReader> reader; ///< Null once the end was read (or after an error).
  std::vector<vfs::DirEntry> entries;     ///< The batch in hand.
  std::size_t next = 0;                   ///< The first of `entries` not yet sent.
  std::error_code error;                  ///< What ended the reading early; every READDIR
                                          ///< after it answers it.
};

/// What a file handle did, for the transfer log and metrics. A handle that
/// was written, or opened for writing and never read, is an upload of the
/// bytes written; one that was read is a download of the bytes read; one
/// opened only for reading and never read is no transfer. Reported once: at
/// finish(), or as aborted when destroyed (the session ended with it open).
class HandleTransfer {
public:
  HandleTransfer(core::TransferTracker tracker, bool opened_for_write)
      : tracker_(std::move(tracker)), opened_for_write_(opened_for_write) {}
  HandleTransfer(HandleTransfer&&) noexcept = default;
  HandleTransfer& operator=(HandleTransfer&&) noexcept = default;
  ~HandleTransfer();

  void on_read(std::uint64_t n) {
    read_ = true;
    read_bytes_ += n;
  }
  void on_write(std::uint64_t n) {
    written_ = true;
    written_bytes_ += n;
  }
  /// A READ or WRITE failed: the transfer ends as failed, not ok.
  void on_error() { failed_ = true; }
  void finish(core::TransferResult result);

private:
  core::TransferTracker tracker_;
  bool opened_for_write_ = false;
  bool read_ = false;
  bool written_ = false;
  bool failed_ = false;
  std::uint64_t read_bytes_ = 0;
  std::uint64_t written_bytes_ = 0;
};

/// One open handle.
struct HandleEntry {
  vfs::VirtualPath path;
  std::unique_ptr<vfs::File> file;        ///< Null for a directory.
  std::optional<DirCursor> dir;           ///< Set for a directory.
  std::optional<HandleTransfer> transfer; ///< Files, when the session reports transfers.
  std::error_code write_error;            ///< The first WRITE that failed: close without commit.
};

/// A bounded table: more than `capacity` open handles is an error, not growth.
class HandleTable {
public:
  explicit HandleTable(std::size_t capacity) : capacity_(capacity) {}

  /// Adds an entry; returns its handle string. Errors: too_many_files_open.
  core::Result<std::string> add(HandleEntry entry);
  /// The entry for a handle, or nullptr.
  HandleEntry* find(std::string_view handle);
  /// Removes and returns the entry. Errors: bad_file_descriptor for an unknown handle.
  core::Result<HandleEntry> remove(std::string_view handle);
  std::size_t size() const { return entries_.size(); }
  /// Open files (not directories): transfers in progress.
  std::size_t files() const;
  /// Open directories.
  std::size_t directories() const;
  /// Entries held by open directories: their batches in hand.
  std::size_t dir_entries() const;
  std::size_t capacity() const { return capacity_; }

private:
  std::size_t capacity_;
  std::uint64_t next_ = 1;
  std::map<std::string, HandleEntry, std::less<>> entries_;
};

} // namespace berth::sftp
