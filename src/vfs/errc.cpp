#include "vfs/errc.hpp"

#include <cerrno>
#include <string>

namespace berth::vfs {
namespace {

class Category final : public std::error_category {
public:
  const char* name() const noexcept override { return "berth.vfs"; }
  std::string message(int ev) const override {
    switch (static_cast<Errc>(ev)) {
    case Errc::not_found:
      return "No such file or directory";
    case Errc::exists:
      return "File exists";
    case Errc::not_directory:
      return "Not a directory";
    case Errc::is_directory:
      return "Is a directory";
    case Errc::not_empty:
      return "Directory not empty";
    case Errc::permission_denied:
      return "Permission denied";
    case Errc::invalid_name:
      return "Invalid file name";
    case Errc::no_space:
      return "No space left";
    case Errc::io_error:
      return "Input/output error";
    case Errc::quota_exceeded:
      return "Quota exceeded";
    case Errc::too_many_open_files:
      return "Too many open files (server or user limit)";
    case Errc::unsupported:
      return "Operation not supported by this storage";
    case Errc::unavailable:
      return "Storage temporarily unavailable";
    }
    return "Unknown error";
  }
};

} // namespace

const std::error_category& vfs_category() noexcept {
  static const Category category;
  return category;
}

std::error_code from_errno(int err) noexcept {
  switch (err) {
  case ENOENT:
  case EXDEV: // RESOLVE_BENEATH refusal: to the client the path does not exist
  case ELOOP:
    return Errc::not_found;
  case EEXIST:
    return Errc::exists;
  case ENOTDIR:
    return Errc::not_directory;
  case EISDIR:
    return Errc::is_directory;
  case ENOTEMPTY:
    return Errc::not_empty;
  case EACCES:
  case EPERM:
  case EROFS:
    return Errc::permission_denied;
  case ENAMETOOLONG:
  case EINVAL:
    return Errc::invalid_name;
  case ENOSPC:
  case EDQUOT:
  case EFBIG:
    return Errc::no_space;
  case EMFILE:
  case ENFILE:
    return Errc::too_many_open_files;
  default:
    return Errc::io_error;
  }
}

} // namespace berth::vfs
