#pragma once
// A path as a client sees it: absolute, normalized, inside the user's root.

#include "core/result.hpp"

#include <string>
#include <string_view>

namespace berth::vfs {

/// An absolute, normalized virtual path: starts with '/', no "." or ".."
/// components, no empty components, no trailing '/', no NUL. "/" is the root.
class VirtualPath {
public:
  /// The root "/".
  VirtualPath() : path_("/") {}

  /// Names starting with this are the server's own (uploads in progress):
  /// no client path may name them.
  static constexpr std::string_view kReservedPrefix = ".berth-upload-";

  /// Resolves `input` (absolute, or relative to `cwd`) lexically: "." is dropped,
  /// ".." goes up and stops at the root, as every FTP and SFTP server does.
  /// Errors: Errc::invalid_name for a NUL byte or a reserved name.
  static core::Result<VirtualPath> resolve(const VirtualPath& cwd, std::string_view input);

  const std::string& str() const { return path_; }
  bool is_root() const { return path_.size() == 1; }
  /// The path without its leading '/': "." for the root. For openat-style calls.
  std::string relative() const { return is_root() ? std::string(".") : path_.substr(1); }
  /// The last component; empty for the root.
  std::string_view name() const;
  /// The parent directory; the root for the root.
  VirtualPath parent() const;
  /// This path with one more component (which must be a plain name).
  VirtualPath child(std::string_view name) const;

  friend bool operator==(const VirtualPath&, const VirtualPath&) = default;

private:
  explicit VirtualPath(std::string p) : path_(std::move(p)) {}
  std::string path_;
};

} // namespace berth::vfs
