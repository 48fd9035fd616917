#pragma once
// Handlers of the command table, grouped by file as RFC 959 4.1 groups them.
// Each returns its verb's final reply; dispatch() has checked argument presence
// and login already.

#include "core/task.hpp"
#include "ftp/reply.hpp"
#include "vfs/file_ranges.hpp"
#include "vfs/virtual_path.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace berth::ftp {

class Session;

#define BERTH_FTP_HANDLER(name) core::Task<Reply> name(Session& s, std::string_view arg)

// access.cpp: RFC 959 4.1.1 access control
BERTH_FTP_HANDLER(handle_user);
BERTH_FTP_HANDLER(handle_pass);
BERTH_FTP_HANDLER(handle_quit);
BERTH_FTP_HANDLER(handle_rein);
BERTH_FTP_HANDLER(handle_cwd);
BERTH_FTP_HANDLER(handle_cdup);
BERTH_FTP_HANDLER(handle_host); // RFC 7151

// params.cpp: RFC 959 4.1.2 transfer parameters, RFC 2428
BERTH_FTP_HANDLER(handle_port);
BERTH_FTP_HANDLER(handle_eprt);
BERTH_FTP_HANDLER(handle_pasv);
BERTH_FTP_HANDLER(handle_epsv);
BERTH_FTP_HANDLER(handle_type);
BERTH_FTP_HANDLER(handle_mode);
BERTH_FTP_HANDLER(handle_stru);

// transfer.cpp: RFC 959 4.1.3 service commands that move file data
BERTH_FTP_HANDLER(handle_retr);
BERTH_FTP_HANDLER(handle_stor);
BERTH_FTP_HANDLER(handle_stou);
BERTH_FTP_HANDLER(handle_appe);
BERTH_FTP_HANDLER(handle_rest);
BERTH_FTP_HANDLER(handle_abor);
BERTH_FTP_HANDLER(handle_allo);

// files.cpp: RFC 959 4.1.3 file management, RFC 3659, MFMT/MFF
BERTH_FTP_HANDLER(handle_pwd);
BERTH_FTP_HANDLER(handle_mkd);
BERTH_FTP_HANDLER(handle_rmd);
BERTH_FTP_HANDLER(handle_dele);
BERTH_FTP_HANDLER(handle_rnfr);
BERTH_FTP_HANDLER(handle_rnto);
BERTH_FTP_HANDLER(handle_size);
BERTH_FTP_HANDLER(handle_mdtm);
BERTH_FTP_HANDLER(handle_mfmt);
BERTH_FTP_HANDLER(handle_mff);
/// The reply to a mode parse_unix_mode() refused (MFF UNIX.mode, SITE CHMOD).
Reply mode_refusal(std::error_code ec);

// listing.cpp: LIST, NLST, MLSD, MLST, STAT
BERTH_FTP_HANDLER(handle_list);
BERTH_FTP_HANDLER(handle_nlst);
BERTH_FTP_HANDLER(handle_mlsd);
BERTH_FTP_HANDLER(handle_mlst);
BERTH_FTP_HANDLER(handle_stat);

// security.cpp: RFC 4217 (FTPS)
BERTH_FTP_HANDLER(handle_auth);
BERTH_FTP_HANDLER(handle_pbsz);
BERTH_FTP_HANDLER(handle_prot);
BERTH_FTP_HANDLER(handle_ccc);

// info.cpp: SYST, FEAT, OPTS, HELP, NOOP, HASH, RANG, LANG, CLNT
BERTH_FTP_HANDLER(handle_syst);
BERTH_FTP_HANDLER(handle_feat);
BERTH_FTP_HANDLER(handle_opts);
BERTH_FTP_HANDLER(handle_help);
BERTH_FTP_HANDLER(handle_noop);
BERTH_FTP_HANDLER(handle_hash);
BERTH_FTP_HANDLER(handle_rang);
BERTH_FTP_HANDLER(handle_lang);
BERTH_FTP_HANDLER(handle_clnt);

// hashes.cpp: XCRC, XMD5, XSHA1, XSHA256, XSHA512 (one handler each), AVBL
BERTH_FTP_HANDLER(handle_xcrc);
BERTH_FTP_HANDLER(handle_xmd5);
BERTH_FTP_HANDLER(handle_xsha1);
BERTH_FTP_HANDLER(handle_xsha256);
BERTH_FTP_HANDLER(handle_xsha512);
BERTH_FTP_HANDLER(handle_avbl);
/// The lower-case hex digest of `length` bytes of file `p` from `start`, or
/// nullopt with `refusal` set: a range past vfs::kMaxHashBytes (501), the
/// file's errors. Shared by HASH and the X* verbs.
core::Task<std::optional<std::string>> hex_digest(Session& s, const vfs::VirtualPath& p,
                                                  vfs::Digest digest, std::uint64_t start,
                                                  std::uint64_t length, Reply& refusal);

// site.cpp: SITE and its own table of subcommands
BERTH_FTP_HANDLER(handle_site);
/// " SITE <syntax>" for each subcommand, for SITE HELP and HELP SITE.
std::vector<std::string> site_help_lines();

#undef BERTH_FTP_HANDLER

/// params.cpp: `OPTS MODE <value>` (OPTS MODE Z LEVEL n), for handle_opts.
Reply opts_mode(Session& s, std::string_view value);

} // namespace berth::ftp
