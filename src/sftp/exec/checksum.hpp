#pragma once
// md5sum, sha1sum, sha256sum and sha512sum as GNU coreutils print them, over
// the user's filesystem.

#include "core/task.hpp"
#include "sftp/channel.hpp"
#include "vfs/file_ranges.hpp"
#include "vfs/filesystem.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace berth::sftp::exec {

/// One line of coreutils' output for a file (9.1): "<hex>  <name>\n"; a name
/// holding \, newline or carriage return is printed escaped (\\, \n, \r)
/// and the line begins with a \. Pure.
std::string checksum_line(std::string_view hex, std::string_view name);

/// A file name in an error message as coreutils quotes it: as is when it
/// holds only safe bytes, else in single quotes ('\'' for a quote). Pure.
std::string quote_name(std::string_view name);

/// Runs `program` (its name, for messages) with `args`: the digest of each
/// file, or of the channel's input for none or "-". A file that can not be
/// read gets a line on the error stream, and the status is then 1; else 0.
/// Options other than "--" are refused (status 1). A file larger than
/// vfs::kMaxHashBytes is refused as one that can not be read.
core::Task<int> run_checksum(std::string_view program, vfs::Digest digest,
                             const std::vector<std::string>& args, Channel& channel,
                             vfs::Filesystem& fs);

} // namespace berth::sftp::exec
