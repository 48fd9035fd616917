#pragma once
// Shell-style name patterns for NLST and LIST (as classic `mget *` needs):
// `*`, `?` and bracket classes, matched against one name. Pure: no I/O.

#include <string_view>

namespace berth::ftp {

/// True if `pattern` holds a wildcard (`*`, `?` or `[`), so a listing should
/// match it against names rather than look it up as one.
bool has_wildcard(std::string_view pattern);

/// True if `pattern` is well formed: every `[` opens a class closed by `]`
/// (a `]` right after `[` or `[!` belongs to the class), and a range's ends
/// are in order (`[z-a]` is not).
bool valid_pattern(std::string_view pattern);

/// Whether `name` matches `pattern` (a valid_pattern()): `*` any run of bytes,
/// `?` one byte, `[abc]`, `[a-z]` and `[!a]` (or `[^a]`) one byte in (not in)
/// the class; every other byte itself. A leading '.' of `name` is matched
/// only by a '.' in the pattern unless `dotfiles` (as the shell's globbing).
/// Runs in O(pattern x name) time, never exponential: one backtracking point.
bool glob_match(std::string_view pattern, std::string_view name, bool dotfiles);

} // namespace berth::ftp
