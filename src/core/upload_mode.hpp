#pragma once
// How uploads that replace a file reach the disk, for every protocol
// (`[server] upload_mode`).

namespace berth::core {

enum class UploadMode {
  /// Write to a temporary name in the target's folder and rename it over the
  /// target when the upload ends cleanly: an interrupted upload, a full disk
  /// or a crash never damages the file that was there.
  atomic,
  /// Write in place from the start (truncating the old file): what an
  /// interrupted upload leaves can be resumed (REST + STOR, APPE, SFTP offsets).
  direct,
};

} // namespace berth::core
