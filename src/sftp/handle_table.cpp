#include "sftp/handle_table.hpp"

namespace berth::sftp {

HandleTransfer::~HandleTransfer() {
  try {
    finish(core::TransferResult::aborted);
  } catch (const std::exception&) {
    // Out of memory while reporting; the session is going anyway.
  }
}

void HandleTransfer::finish(core::TransferResult result) {
  if (!read_ && !written_ && !opened_for_write_) {
    tracker_.discard(); // opened for reading, never read: no transfer
    return;
  }
  const bool upload = written_ || !read_;
  auto& rec = tracker_.record();
  rec.upload = upload;
  rec.bytes = upload ? written_bytes_ : read_bytes_;
  if (failed_ && result == core::TransferResult::ok)
    result = core::TransferResult::failed;
  tracker_.finish(result);
}

core::Result<std::string> HandleTable::add(HandleEntry entry) {
  if (entries_.size() >= capacity_)
    return core::unexpected(std::make_error_code(std::errc::too_many_files_open));
  // Handles are never reused within a session, so a stale handle can not name
  // a file opened later.
  std::string handle = std::to_string(next_++);
  entries_.emplace(handle, std::move(entry));
  return handle;
}

HandleEntry* HandleTable::find(std::string_view handle) {
  auto it = entries_.find(handle);
  return it == entries_.end() ? nullptr : &it->second;
}

core::Result<HandleEntry> HandleTable::remove(std::string_view handle) {
  auto it = entries_.find(handle);
  if (it == entries_.end())
    return core::unexpected(std::make_error_code(std::errc::bad_file_descriptor));
  HandleEntry e = std::move(it->second);
  entries_.erase(it);
  return e;
}

std::size_t HandleTable::files() const {
  std::size_t n = 0;
  for (const auto& [handle, entry] : entries_)
    n += entry.file != nullptr ? 1 : 0;
  return n;
}

std::size_t HandleTable::directories() const {
  std::size_t n = 0;
  for (const auto& [handle, entry] : entries_)
    n += entry.dir.has_value() ? 1 : 0;
  return n;
}

std::size_t HandleTable::dir_entries() const {
  std::size_t n = 0;
  for (const auto& [handle, entry] : entries_)
    n += entry.dir ? entry.dir->entries.size() : 0;
  return n;
}

} // namespace berth::sftp
