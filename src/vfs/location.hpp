#pragma once
// Where a home is stored: a local directory or an S3-compatible bucket.
// Parsed once from its text (a config `home`, a database row, --home).

#include "core/result.hpp"

#include <filesystem>
#include <string>
#include <string_view>

namespace berth::vfs {

/// A storage location. The text forms:
/// - a path ("/srv/ftp/alice", or relative to the working folder): a local
///   directory, as every home was before object storage;
/// - "s3://bucket/prefix" or "s3://PROFILE@bucket/prefix": objects of `bucket`
///   whose keys start with "prefix/" ([s3] or [s3.profiles.PROFILE]).
class Location {
public:
  enum class Kind { local, s3 };

  /// Parses `text`. Errors: std::errc::invalid_argument with `why` set to one
  /// line (an empty text, an s3:// location without a bucket, a bad bucket
  /// name, a prefix with "." or ".." segments or empty segments).
  static core::Result<Location> parse(std::string_view text, std::string* why = nullptr);
  /// A local directory (made absolute by the caller when it should be).
  static Location local(std::filesystem::path path);

  Kind kind() const { return kind_; }
  /// Local: the directory.
  const std::filesystem::path& path() const { return path_; }
  /// S3: the profile name ("" for [s3] itself), the bucket, and the key
  /// prefix without a leading or trailing "/" ("" for the bucket's root).
  const std::string& profile() const { return profile_; }
  const std::string& bucket() const { return bucket_; }
  const std::string& prefix() const { return prefix_; }

  /// The text form, as parse() takes it back.
  std::string to_string() const;
  bool operator==(const Location&) const = default;

private:
  Kind kind_ = Kind::local;
  std::filesystem::path path_;
  std::string profile_;
  std::string bucket_;
  std::string prefix_;
};

} // namespace berth::vfs
