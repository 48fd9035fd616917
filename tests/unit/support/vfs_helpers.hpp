#pragma once
// Small helpers for tests of vfs::Filesystem backends and decorators.

#include "vfs/virtual_path.hpp"

#include <gtest/gtest.h>

#include <cstddef>
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

} // namespace berth::test
