#pragma once
// Errors of the filesystem layer, the same for every backend and protocol.

#include <system_error>

namespace berth::vfs {

enum class Errc {
  not_found = 1,       ///< No such file or directory (also: a path that would leave the jail).
  exists,              ///< The target already exists.
  not_directory,       ///< A path component or the target is not a directory.
  is_directory,        ///< The target is a directory where a file was needed.
  not_empty,           ///< The directory is not empty.
  permission_denied,   ///< The operating system or a rule refused the operation.
  invalid_name,        ///< The name is not acceptable (NUL, empty, too long).
  no_space,            ///< The disk is full.
  io_error,            ///< Anything else the backend reported.
  quota_exceeded,      ///< The user's quota (bytes or files) would be exceeded.
  too_many_open_files, ///< The server's or the user's budget of open files is used up.
  unsupported,         ///< The backend can not do this (chmod, links on object storage).
  unavailable,         ///< The storage did not answer (object storage down or failing).
};

const std::error_category& vfs_category() noexcept;
inline std::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), vfs_category()};
}

/// Maps an errno value to the layer's error code.
std::error_code from_errno(int err) noexcept;

} // namespace berth::vfs

template <> struct std::is_error_code_enum<berth::vfs::Errc> : std::true_type {};
