#include "sftp/exec/checksum.hpp"

#include "core/errc.hpp"
#include "sftp/exec/exec.hpp"
#include "vfs/errc.hpp"
#include "vfs/virtual_path.hpp"

#include <fmt/format.h>

#include <memory>

namespace berth::sftp::exec {
namespace {

std::string to_hex(std::string_view raw) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(raw.size() * 2);
  for (unsigned char c : raw) {
    hex.push_back(kDigits[c >> 4]);
    hex.push_back(kDigits[c & 0xf]);
  }
  return hex;
}

// The reason coreutils prints (strerror's text) for what the filesystem said.
std::string_view reason(std::error_code ec) {
  if (ec == vfs::Errc::not_found || ec == vfs::Errc::invalid_name)
    return "No such file or directory";
  if (ec == vfs::Errc::is_directory)
    return "Is a directory";
  if (ec == vfs::Errc::not_directory)
    return "Not a directory";
  if (ec == vfs::Errc::permission_denied)
    return "Permission denied";
  if (ec == core::Errc::too_long)
    return "File too large";
  return "Input/output error";
}

// The digest (hex) of a file of the jail, at most vfs::kMaxHashBytes long.
core::Task<core::Result<std::string>> hash_file(vfs::Filesystem& fs, std::string_view name,
                                                vfs::Digest digest) {
  auto path = vfs::VirtualPath::resolve(vfs::VirtualPath(), name);
  if (!path)
    co_return core::unexpected(path.error());
  auto file = co_await fs.open_read(*path, 0);
  if (!file)
    co_return core::unexpected(file.error());
  auto st = co_await (*file)->stat();
  if (!st)
    co_return core::unexpected(st.error());
  if (st->size > vfs::kMaxHashBytes)
    co_return core::unexpected(core::Errc::too_long);
  auto digests = co_await vfs::hash_range(**file, digest, 0, vfs::kMaxHashBytes, 0, 1);
  if (!digests)
    co_return core::unexpected(digests.error());
  if (!*digests || (*digests)->size() != 1)
    co_return core::unexpected(vfs::Errc::io_error);
  co_return to_hex((**digests)[0]);
}

// The digest (hex) of the channel's input up to its end, at most
// vfs::kMaxHashBytes of it (rclone probes with an empty input).
core::Task<core::Result<std::string>> hash_input(Channel& channel, vfs::Digest digest) {
  vfs::Hasher hasher(digest);
  auto buf = std::make_unique_for_overwrite<std::uint8_t[]>(64 * 1024);
  std::uint64_t total = 0;
  std::error_code failed;
  for (;;) {
    auto n = co_await channel.read_some(std::span(buf.get(), 64 * 1024));
    if (!n) {
      if (n.error() != core::Errc::closed)
        failed = n.error();
      break;
    }
    total += *n;
    if (total > vfs::kMaxHashBytes) {
      failed = core::Errc::too_long;
      break;
    }
    hasher.update(buf.get(), *n);
  }
  if (failed)
    co_return core::unexpected(failed);
  co_return to_hex(hasher.finish());
}

bool safe_in_message(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("+-./:@_,%=^").find(c) != std::string_view::npos;
}

} // namespace

std::string checksum_line(std::string_view hex, std::string_view name) {
  std::string escaped;
  bool escape = false;
  for (char c : name) {
    if (c == '\\') {
      escaped += "\\\\";
      escape = true;
    } else if (c == '\n') {
      escaped += "\\n";
      escape = true;
    } else if (c == '\r') {
      escaped += "\\r";
      escape = true;
    } else {
      escaped.push_back(c);
    }
  }
  return fmt::format("{}{}  {}\n", escape ? "\\" : "", hex, escaped);
}

std::string quote_name(std::string_view name) {
  bool safe = !name.empty();
  for (char c : name)
    safe = safe && safe_in_message(c);
  if (safe)
    return std::string(name);
  std::string out = "'";
  for (char c : name) {
    if (c == '\'')
      out += "'\\''";
    else
      out.push_back(c);
  }
  out += "'";
  return out;
}

core::Task<int> run_checksum(std::string_view program, vfs::Digest digest,
                             const std::vector<std::string>& args, Channel& channel,
                             vfs::Filesystem& fs) {
  std::vector<std::string_view> names;
  bool options = true;
  std::string refused;
  for (const auto& a : args) {
    if (options && a == "--") {
      options = false;
    } else if (options && a.size() > 1 && a[0] == '-') {
      refused = fmt::format("{}: unrecognized option '{}'\n", program, a);
      break;
    } else {
      names.push_back(a);
    }
  }
  if (!refused.empty()) {
    co_await print_error(channel, refused);
    co_return 1;
  }
  if (names.empty())
    names.push_back("-");
  int status = 0;
  for (std::string_view name : names) {
    core::Result<std::string> hex = core::unexpected(vfs::Errc::io_error);
    if (name == "-")
      hex = co_await hash_input(channel, digest);
    else
      hex = co_await hash_file(fs, name, digest);
    if (!hex) {
      status = 1;
      const std::string line =
          fmt::format("{}: {}: {}\n", program, quote_name(name), reason(hex.error()));
      co_await print_error(channel, line);
      continue;
    }
    const std::string line = checksum_line(*hex, name);
    auto sent = co_await channel.write_all(
        std::span(reinterpret_cast<const std::uint8_t*>(line.data()), line.size()));
    if (!sent) {
      status = 1;
      break;
    }
  }
  co_return status;
}

} // namespace berth::sftp::exec
