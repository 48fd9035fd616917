#pragma once
// What a user may do with files, the same for every protocol (enforced once,
// in vfs/guarded). Named as in the configuration and `berth user --permissions`.

#include "core/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace berth::core {

enum class Perm : std::uint16_t {
  list = 1u << 0,      ///< See directory contents and file attributes.
  download = 1u << 1,  ///< Read files.
  upload = 1u << 2,    ///< Create new files.
  overwrite = 1u << 3, ///< Replace, append to, resume or truncate existing files.
  remove = 1u << 4,    ///< Delete files ("delete").
  rename = 1u << 5,    ///< Rename files and directories.
  mkdir = 1u << 6,     ///< Create directories.
  rmdir = 1u << 7,     ///< Remove directories.
  chmod = 1u << 8, ///< Change modes, times and sizes of existing files (SETSTAT, MFMT, SITE CHMOD).
  symlink = 1u << 9, ///< Create symbolic and hard links.
};

/// A set of Perm values. Default: everything.
class Permissions {
public:
  static constexpr std::uint16_t kAll = (1u << 10) - 1;

  constexpr Permissions() = default;
  constexpr explicit Permissions(std::uint16_t bits) : bits_(bits & kAll) {}
  static constexpr Permissions all() { return Permissions(kAll); }
  static constexpr Permissions none() { return Permissions(0); }
  static constexpr Permissions read_only() {
    return Permissions(static_cast<std::uint16_t>(Perm::list) |
                       static_cast<std::uint16_t>(Perm::download));
  }

  constexpr bool has(Perm p) const { return (bits_ & static_cast<std::uint16_t>(p)) != 0; }
  constexpr void set(Perm p, bool on) {
    auto b = static_cast<std::uint16_t>(p);
    bits_ = static_cast<std::uint16_t>(on ? bits_ | b : bits_ & ~b);
  }
  constexpr std::uint16_t bits() const { return bits_; }
  constexpr bool operator==(const Permissions&) const = default;

  /// Parses "list,download,upload" (names of Perm, "delete" for remove; "all"
  /// and "none" too; spaces around names are ignored). Errors name the bad word.
  static Result<Permissions> parse(std::string_view text, std::string* bad_word = nullptr);

  /// "list,download,..." in the enum's order; "all" for everything, "none" for nothing.
  std::string to_string() const;

  /// The name of one permission as written in the configuration.
  static std::string_view name(Perm p);

private:
  std::uint16_t bits_ = kAll;
};

} // namespace berth::core
