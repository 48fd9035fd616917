#pragma once
// The `ls -l` line that FTP LIST and SFTP's NAME long names share. Pure.

#include "vfs/filesystem.hpp"

#include <chrono>
#include <string>

namespace berth::vfs {

/// "-rw-r--r--   1 ftp      ftp             5 Nov 24 10:00 name" (UTC). Files
/// older than about six months, or in the future, show the year instead of the
/// time. Owner and group are fixed: host ids mean nothing to a client.
std::string long_listing_line(const DirEntry& e, std::chrono::system_clock::time_point now);

} // namespace berth::vfs
