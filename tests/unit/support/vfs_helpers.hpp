#pragma once
// Small helpers for tests of vfs::Filesystem backends and decorators.

#include "vfs/virtual_path.hpp"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>

namespace berth::test {

/// `text` as an absolute virtual path; a test failure if it is not one.
inline vfs::VirtualPath vp(std::string_view text) {
  auto p = vfs::VirtualPath::resolve(vfs::VirtualPath(), text);
  if (!p)
    ADD_FAILURE() << "bad virtual path " << text;
  return p ? *p : vfs::VirtualPath();
}

/// The bytes of `s`, for File::write and write_at.
inline std::span<const std::byte> bytes(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

/// The permission bits of host path `p` itself (not following a link), or
/// 0xFFFFFFFF when it does not exist.
inline std::uint32_t host_mode(const std::filesystem::path& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 ? st.st_mode & 07777 : 0xFFFFFFFF;
}

} // namespace berth::test
