// Fuzzes the listing's name patterns (ftp/glob.hpp): has_wildcard,
// valid_pattern and glob_match.
//
// Input: a pattern and a name separated by the first '\n'. Checks: a pattern
// without wildcards matches exactly its own text; with dotfiles a pattern
// matches at least what it matches without; "*" matches every name that is
// not hidden; and where glibc's fnmatch(3) means the same (ASCII, no escapes,
// no POSIX class names), both agree.
#include "ftp/glob.hpp"

#include "core/check.hpp"

#include <fnmatch.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace berth::ftp;

// Whether fnmatch reads `pattern` as glob_match does.
bool comparable(std::string_view pattern, std::string_view name) {
  for (std::string_view s : {pattern, name})
    for (char c : s)
      if (c == '\0' || c == '\\' || static_cast<unsigned char>(c) >= 0x80)
        return false;
  // "[[:alpha:]]", "[[.a.]]", "[[=a=]]": glibc's class names, collating symbols.
  for (std::size_t i = 0; i + 1 < pattern.size(); ++i)
    if (pattern[i] == '[' &&
        (pattern[i + 1] == ':' || pattern[i + 1] == '.' || pattern[i + 1] == '='))
      return false;
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto nl = in.find('\n');
  if (nl == std::string_view::npos)
    return 0;
  std::string_view pattern = in.substr(0, nl);
  std::string_view name = in.substr(nl + 1);
  if (!valid_pattern(pattern))
    return 0;
  const bool plain = glob_match(pattern, name, false);
  const bool all = glob_match(pattern, name, true);
  BERTH_CHECK(!plain || all);
  if (!has_wildcard(pattern))
    BERTH_CHECK(all == (pattern == name));
  if (!name.starts_with('.'))
    BERTH_CHECK(glob_match("*", name, false));
  if (comparable(pattern, name)) {
    const std::string p(pattern), n(name);
    BERTH_CHECK(plain == (::fnmatch(p.c_str(), n.c_str(), FNM_NOESCAPE | FNM_PERIOD) == 0));
    BERTH_CHECK(all == (::fnmatch(p.c_str(), n.c_str(), FNM_NOESCAPE) == 0));
  }
  return 0;
}
