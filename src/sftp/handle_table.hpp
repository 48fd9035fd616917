#pragma once
// Open files and directories of one SFTP session, behind opaque handles.

#include "core/result.hpp"
#include "vfs/filesystem.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace berth::sftp {

/// A directory being read: its entries, fetched at OPENDIR, and how far READDIR got.
struct DirCursor {
  std::vector<vfs::DirEntry> entries;
  std::size_t next = 0;
};

/// One open handle.
struct HandleEntry {
  vfs::VirtualPath path;
  std::unique_ptr<vfs::File> file; ///< Null for a directory.
  std::optional<DirCursor> dir;    ///< Set for a directory.
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
  std::size_t capacity() const { return capacity_; }

private:
  std::size_t capacity_;
  std::uint64_t next_ = 1;
  std::map<std::string, HandleEntry, std::less<>> entries_;
};

} // namespace berth::sftp
