#include "sftp/session.hpp"

#include "core/errc.hpp"
#include "core/log.hpp"
#include "vfs/errc.hpp"

#include <vector>

namespace berth::sftp {

std::pair<Status, std::string> status_for(std::error_code ec) {
  if (!ec)
    return {Status::ok, "Success"};
  if (ec.category() == vfs::vfs_category()) {
    switch (static_cast<vfs::Errc>(ec.value())) {
    case vfs::Errc::not_found:
      return {Status::no_such_file, "No such file"};
    case vfs::Errc::permission_denied:
      return {Status::permission_denied, "Permission denied"};
    case vfs::Errc::no_space:
      return {Status::failure, "No space left"};
    default:
      return {Status::failure, ec.message()};
    }
  }
  if (ec.category() == sftp_category())
    return {Status::bad_message, "Bad message"};
  if (ec == std::errc::bad_file_descriptor)
    return {Status::failure, "Invalid handle"};
  if (ec == std::errc::too_many_files_open)
    return {Status::failure, "Too many open handles"};
  if (ec == std::errc::operation_not_supported)
    return {Status::op_unsupported, "Operation unsupported"};
  return {Status::failure, "Failure"};
}

core::Result<vfs::VirtualPath> Session::path(std::string_view p) const {
  return vfs::VirtualPath::resolve(vfs::VirtualPath(), p);
}

void Session::reply_status(std::uint32_t id, std::error_code ec) {
  auto [code, message] = status_for(ec);
  encode_status(out, id, code, message);
}

void Session::reply_status(std::uint32_t id, Status code, std::string_view message) {
  encode_status(out, id, code, message);
}

core::Task<void> run_session(Channel& channel, vfs::Filesystem& fs, Limits limits) {
  Session s(fs, limits);
  std::vector<std::uint8_t> in;
  std::vector<std::uint8_t> buf(64 * 1024);
  std::size_t consumed = 0;
  bool broken = false;
  while (!broken) {
    auto n = co_await channel.read_some(buf);
    if (!n)
      break;
    in.insert(in.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
    for (;;) {
      std::span<const std::uint8_t> pending(in.data() + consumed, in.size() - consumed);
      auto f = frame(pending, limits.max_packet + 4);
      if (!f) {
        // SECURITY: an oversized or empty packet breaks the framing; the
        // session ends rather than allocating or guessing (OpenSSH does the same).
        spdlog::warn("sftp: ending session: {}", f.error().message());
        broken = true;
        break;
      }
      if (!f->has_value())
        break;
      co_await s.handle_packet(pending.subspan(4, **f - 4));
      consumed += **f;
    }
    if (consumed > 0) {
      in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(consumed));
      consumed = 0;
    }
    if (!s.out.bytes().empty()) {
      std::string reply = s.out.take();
      auto w = co_await channel.write_all(
          std::span(reinterpret_cast<const std::uint8_t*>(reply.data()), reply.size()));
      if (!w)
        break;
    }
  }
  // Files left open by a vanished client are closed without commit: a
  // half-written atomic upload never replaces the old file.
}

} // namespace berth::sftp
