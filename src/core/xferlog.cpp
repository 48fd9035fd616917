#include "core/xferlog.hpp"

#include "core/log.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <fcntl.h>
#include <unistd.h>

namespace berth::core {
namespace {

constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// One space-free field: spaces become '_' and control characters '?' (vsftpd's
// str_replace_unprintable), so neither a file name nor a user name can split a
// field or start a new line.
std::string field(std::string_view s) {
  if (s.empty())
    return "*";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == ' ')
      out += '_';
    else if (u < 0x20 || u == 0x7f)
      out += '?';
    else
      out += c;
  }
  return out;
}

} // namespace

std::string format_xferlog_line(const XferlogEntry& e) {
  const std::tm& t = e.time;
  const char* day = t.tm_wday >= 0 && t.tm_wday < 7 ? kDays[t.tm_wday] : "???";
  const char* month = t.tm_mon >= 0 && t.tm_mon < 12 ? kMonths[t.tm_mon] : "???";
  const double secs = std::round(e.duration.count());
  const auto seconds =
      secs < 1 || !std::isfinite(secs) ? std::uint64_t{1} : static_cast<std::uint64_t>(secs);
  return fmt::format("{} {} {:2} {:02}:{:02}:{:02} {} {} {} {} {} {} _ {} {} {} {} 0 * {}\n", day,
                     month, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, t.tm_year + 1900, seconds,
                     field(e.remote_host), e.bytes, field(e.filename), e.binary ? 'b' : 'a',
                     e.incoming ? 'i' : 'o', e.anonymous ? 'a' : 'r', field(e.user),
                     field(e.service), e.complete ? 'c' : 'i');
}

Result<std::unique_ptr<XferlogFile>> XferlogFile::open(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0)
    return unexpected(std::error_code(errno, std::generic_category()));
  return std::unique_ptr<XferlogFile>(new XferlogFile(path, fd));
}

XferlogFile::~XferlogFile() {
  ::close(fd_);
}

void XferlogFile::append(std::string_view line) {
  std::lock_guard lock(mutex_);
  // One write(2) for the whole line: with O_APPEND the kernel places it at the
  // end in one piece. A regular file takes it whole or fails.
  ssize_t n;
  do {
    n = ::write(fd_, line.data(), line.size());
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(line.size())) {
    failing_ = false;
    return;
  }
  if (!failing_) {
    failing_ = true;
    spdlog::error("transfer log {}: can not write: {}", path_.string(),
                  n < 0 ? std::generic_category().message(errno) : std::string("short write"));
  }
}

Result<void> XferlogFile::reopen() {
  int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0)
    return unexpected(std::error_code(errno, std::generic_category()));
  std::lock_guard lock(mutex_);
  ::close(fd_);
  fd_ = fd;
  return {};
}

} // namespace berth::core
