#include "ftp/reply.hpp"

#include "vfs/errc.hpp"

#include <fmt/format.h>

namespace berth::ftp {
namespace {

void append_clean(std::string& out, std::string_view text) {
  for (char c : text)
    out.push_back(c == '\r' || c == '\n' ? ' ' : c);
}

} // namespace

std::string encode(const Reply& r) {
  if (!r.is_multi()) {
    std::string out = fmt::format("{} ", r.code);
    append_clean(out, r.text);
    out += "\r\n";
    return out;
  }
  return encode_first(r.code, r.text) + encode_middle(r.lines) + encode_last(r.code, r.last);
}

std::string encode_first(int code, std::string_view text) {
  std::string out = fmt::format("{}-", code);
  append_clean(out, text);
  out += "\r\n";
  return out;
}

std::string encode_middle(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) {
    std::string clean;
    append_clean(clean, l);
    // RFC 959 4.2: a middle line must not look like the last line.
    if (clean.size() >= 4 && clean[0] >= '0' && clean[0] <= '9' && clean[3] == ' ')
      out += ' ';
    out += clean;
    out += "\r\n";
  }
  return out;
}

std::string encode_last(int code, std::string_view text) {
  std::string out = fmt::format("{} ", code);
  append_clean(out, text);
  out += "\r\n";
  return out;
}

Reply reply_for(std::error_code ec) {
  if (ec.category() == vfs::vfs_category()) {
    switch (static_cast<vfs::Errc>(ec.value())) {
    case vfs::Errc::not_found:
      return Reply::of(550, "No such file or directory.");
    case vfs::Errc::exists:
      return Reply::of(550, "File exists.");
    case vfs::Errc::not_directory:
      return Reply::of(550, "Not a directory.");
    case vfs::Errc::is_directory:
      return Reply::of(550, "Is a directory.");
    case vfs::Errc::not_empty:
      return Reply::of(550, "Directory not empty.");
    case vfs::Errc::permission_denied:
      return Reply::of(550, "Permission denied.");
    case vfs::Errc::invalid_name:
      return Reply::of(553, "File name not allowed.");
    case vfs::Errc::no_space:
      return Reply::of(452, "Insufficient storage space."); // RFC 959: the system is full
    case vfs::Errc::quota_exceeded:
      return Reply::of(552, "Quota exceeded."); // RFC 959: "exceeded storage allocation"
    case vfs::Errc::too_many_open_files:
      return Reply::of(450, "Too many open files; try again later."); // RFC 959: file busy
    case vfs::Errc::unsupported:
      return Reply::of(504, "Not supported by this storage."); // RFC 959: not for that parameter
    case vfs::Errc::unavailable:
      return Reply::of(451, "Storage unavailable; try again later.");
    case vfs::Errc::io_error:
      break;
    }
  }
  return Reply::of(451, "Local error in processing.");
}

} // namespace berth::ftp
