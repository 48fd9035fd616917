#pragma once
// The SFTP dispatch tables (as OpenSSH's sftp-server): requests by packet type,
// and extended requests by name. Rows say whether a request changes anything
// (`mutates`), for read-only users later.

#include "core/result.hpp"
#include "core/task.hpp"
#include "sftp/codec.hpp"
#include "sftp/handle_table.hpp"
#include "vfs/virtual_path.hpp"

#include <span>
#include <string_view>

namespace berth::sftp {

class Session;

/// A handler decodes its request from `r` (after the id), checks that it
/// consumed the whole packet, acts and appends exactly one reply to s.out.
/// A decoding error is returned instead; dispatch answers it with BAD_MESSAGE.
using Handler = core::Task<core::Result<void>> (*)(Session& s, std::uint32_t id, Reader& r);

struct RequestSpec {
  Type type;
  std::string_view name;
  Handler handler;
  bool mutates;
};

struct ExtensionSpec {
  std::string_view name;
  std::string_view version_data; ///< Advertised in VERSION ("1", or "" when not advertised).
  Handler handler;
  bool mutates;
};

std::span<const RequestSpec> request_table();
std::span<const ExtensionSpec> extension_table();

/// Ends decoding: an error if bytes are left (STYLE: a handler consumes exactly its packet).
core::Result<void> expect_end(const Reader& r);

/// Reads a path string and resolves it against the root.
core::Result<vfs::VirtualPath> read_path(Session& s, Reader& r);

/// The open entry for `handle`; when there is none (or it is not a file and
/// `file_only`), answers `id` with "Invalid handle" and returns nullptr.
HandleEntry* find_handle(Session& s, std::uint32_t id, std::string_view handle, bool file_only);

/// The name shown for a host uid (`group`: a gid): the user's own for the
/// server's own id (every file berth writes has it), empty for any other id
/// (clients then show the number, as for an unknown id of OpenSSH's). Long
/// names and users-groups-by-id@openssh.com answer alike.
std::string_view owner_name(const Session& s, std::uint32_t id, bool group);

// handlers_ext.cpp
core::Task<core::Result<void>> handle_extended(Session& s, std::uint32_t id, Reader& r);

} // namespace berth::sftp
