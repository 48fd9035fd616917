#pragma once
// The `ls -l` line that FTP LIST and SFTP's NAME long names share. Pure.

#include "vfs/filesystem.hpp"

#include <chrono>
#include <string>
#include <string_view>

namespace berth::vfs {

/// "-rw-r--r--   1 ftp      ftp             5 Nov 24 10:00 name" (UTC). Files
/// older than about six months, or in the future, show the year instead of the
/// time. The owner and group columns show `owner` and `group` (FTP: "ftp", as
/// vsftpd's hide_ids; SFTP: the user's name, sftp::owner_names); a name that
/// would break the columns (empty, blanks, control characters) shows "ftp".
std::string long_listing_line(const DirEntry& e, std::chrono::system_clock::time_point now,
                              std::string_view owner = "ftp", std::string_view group = "ftp");

} // namespace berth::vfs
