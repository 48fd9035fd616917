// Fuzzes the arguments of the FTP extensions (ftp/args.hpp): permission
// modes, SITE UTIME's two forms and the X* hash verbs' path and range.
//
// Input: the argument text, given to each parser. Checks: an accepted mode
// is permission bits only; an accepted UTIME names a non-empty path that is
// part of the argument; every hash reading has start <= end and a non-empty
// path, the first (unquoted) one being the whole argument.
#include "ftp/args.hpp"

#include "core/check.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace berth::ftp;
  std::string_view arg(reinterpret_cast<const char*>(data), size);

  if (auto m = parse_unix_mode(arg))
    BERTH_CHECK(*m <= 0777);

  if (auto u = parse_site_utime(arg)) {
    BERTH_CHECK(!u->path.empty());
    BERTH_CHECK(arg.find(u->path) != std::string_view::npos);
  }

  auto readings = parse_hash_args(arg);
  if (!arg.empty() && !arg.starts_with('"'))
    BERTH_CHECK(!readings.empty() && readings[0].path == arg);
  BERTH_CHECK(readings.size() <= 3);
  for (const auto& r : readings) {
    BERTH_CHECK(!r.path.empty() || arg.empty());
    BERTH_CHECK(!r.end || r.start <= *r.end);
  }
  return 0;
}
