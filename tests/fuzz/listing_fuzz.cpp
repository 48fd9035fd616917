// Fuzzes the FTP listing formats and the reply encoder with client-chosen
// text: `ls -l` and MLSx lines for any name and file status (ftp/listing.hpp),
// MLSx time-vals (MFMT, MFF) and OPTS MLST fact lists, and multi-line replies
// (ftp/reply.hpp), which must never let a name start another line.
#include "ftp/listing.hpp"

#include "core/check.hpp"
#include "ftp/reply.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace berth;
using std::chrono::system_clock;

system_clock::time_point seconds(std::int64_t s) {
  return system_clock::time_point(std::chrono::seconds(s));
}

/// A time a Stat can hold: from 1901 (the oldest ext4 and 32-bit time_t
/// stamp) to 2255, inside system_clock's range.
system_clock::time_point any_mtime(FuzzedDataProvider& in) {
  return seconds(in.ConsumeIntegralInRange<std::int64_t>(std::numeric_limits<std::int32_t>::min(),
                                                         9'000'000'000));
}

/// The clock of the machine: 1970 to 2150 (with any mtime, "now - mtime" fits system_clock).
system_clock::time_point any_now(FuzzedDataProvider& in) {
  return seconds(in.ConsumeIntegralInRange<std::int64_t>(0, 5'680'000'000));
}

bool has_line_break(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

void check_lines(const vfs::DirEntry& e, system_clock::time_point now, unsigned facts) {
  std::string line = ftp::list_line(e, now);
  // A symlink's target follows its name, unless it would break the line.
  const bool arrow = e.stat.type == vfs::FileType::symlink && !e.link_target.empty() &&
                     ftp::listable_name(e.link_target);
  BERTH_CHECK(line.ends_with(" " + e.name + (arrow ? " -> " + e.link_target : std::string())));
  BERTH_CHECK(line.size() > 10 && (line[0] == '-' || line[0] == 'd' || line[0] == 'l'));
  std::string mlsx = ftp::mlsx_line(e.stat, e.name, facts);
  BERTH_CHECK(mlsx.ends_with(" " + e.name));
  std::string_view mlsx_facts(mlsx.data(), mlsx.size() - e.name.size() - 1);
  BERTH_CHECK(mlsx_facts.find(' ') == std::string_view::npos && !has_line_break(mlsx_facts));
  if (ftp::listable_name(e.name)) {
    BERTH_CHECK(!has_line_break(line) && !has_line_break(mlsx));
  }
}

void check_time_val(std::string_view text) {
  auto t = ftp::parse_time_val(text);
  if (!t)
    return;
  std::string formatted = ftp::format_time_val(*t);
  BERTH_CHECK(formatted.size() == 14);
  for (char c : formatted)
    BERTH_CHECK(c >= '0' && c <= '9');
  // The fraction is dropped: the time is whole seconds and formats back to itself.
  auto back = ftp::parse_time_val(formatted);
  BERTH_CHECK(back && *back == *t);
  BERTH_CHECK(text.substr(0, 14) == formatted || text.substr(12, 2) == "60");
}

void check_mlst_opts(std::string_view text) {
  unsigned facts = ftp::parse_mlst_opts(text);
  BERTH_CHECK((facts & ~unsigned{ftp::fact_all}) == 0);
  BERTH_CHECK(ftp::parse_mlst_opts(ftp::mlst_feature(facts, false)) == ftp::fact_all);
}

/// The reply is CRLF-terminated lines; only the last starts with "CODE ".
void check_reply(const ftp::Reply& r) {
  std::string wire = ftp::encode(r);
  std::string code = std::to_string(r.code);
  std::vector<std::string_view> lines;
  std::string_view rest = wire;
  while (!rest.empty()) {
    auto crlf = rest.find("\r\n");
    BERTH_CHECK(crlf != std::string_view::npos);
    std::string_view line = rest.substr(0, crlf);
    BERTH_CHECK(line.find_first_of("\r\n") == std::string_view::npos);
    lines.push_back(line);
    rest.remove_prefix(crlf + 2);
  }
  BERTH_CHECK(!lines.empty());
  BERTH_CHECK(lines.back().starts_with(code + " "));
  BERTH_CHECK(r.is_multi() == (lines.size() > 1));
  if (lines.size() > 1)
    BERTH_CHECK(lines.front().starts_with(code + "-"));
  for (std::size_t i = 1; i + 1 < lines.size(); ++i)
    BERTH_CHECK(!lines[i].starts_with(code + " "));
  BERTH_CHECK(lines.size() == (r.is_multi() ? r.lines.size() + 2 : 1));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  vfs::DirEntry e;
  e.stat.type = static_cast<vfs::FileType>(in.ConsumeIntegralInRange<int>(0, 3));
  e.stat.size = in.ConsumeIntegral<std::uint64_t>();
  e.stat.mtime = any_mtime(in);
  e.stat.mode = in.ConsumeIntegral<std::uint32_t>();
  e.stat.nlink = in.ConsumeIntegral<std::uint32_t>();
  e.stat.device = in.ConsumeIntegral<std::uint64_t>();
  e.stat.inode = in.ConsumeIntegral<std::uint64_t>();
  auto now = any_now(in);
  auto facts = in.ConsumeIntegral<unsigned>();
  int code = in.ConsumeIntegralInRange<int>(100, 599);
  e.name = in.ConsumeRandomLengthString(256);
  std::string time_val = in.ConsumeRandomLengthString(64);
  std::string rest = in.ConsumeRemainingBytesAsString();

  e.link_target = time_val; // any text: a link's target as stored
  check_lines(e, now, facts);
  check_time_val(time_val);
  check_mlst_opts(rest);

  std::vector<std::string> middle;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= rest.size(); ++i) {
    if (i == rest.size() || rest[i] == '\t') {
      middle.push_back(rest.substr(start, i - start));
      start = i + 1;
    }
  }
  check_reply(ftp::Reply::of(code, e.name));
  check_reply(ftp::Reply::multi(code, e.name, middle, time_val));
  return 0;
}
