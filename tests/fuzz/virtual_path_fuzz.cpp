// Fuzzes the path normaliser every FTP and SFTP path goes through
// (vfs::VirtualPath::resolve), and the quoting of paths in FTP replies
// (ftp::quote_path). Input: one byte giving the length of the working
// directory's text, that text, then the client's path.
#include "vfs/virtual_path.hpp"

#include "core/check.hpp"
#include "ftp/listing.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using berth::vfs::VirtualPath;

/// VirtualPath's promise: absolute, normalized, no "." or "..", no empty
/// component, no trailing '/', no NUL.
void check_normalized(const VirtualPath& p) {
  const std::string& s = p.str();
  BERTH_CHECK(!s.empty() && s.front() == '/');
  BERTH_CHECK(s.find('\0') == std::string::npos);
  BERTH_CHECK(p.is_root() == (s == "/"));
  if (!p.is_root())
    BERTH_CHECK(s.back() != '/');
  std::size_t i = 1;
  while (i < s.size()) {
    auto j = s.find('/', i);
    if (j == std::string::npos)
      j = s.size();
    std::string_view part = std::string_view(s).substr(i, j - i);
    BERTH_CHECK(!part.empty() && part != "." && part != "..");
    i = j + 1;
  }
}

/// Undoes RFC 959's quoting: the text between the outer quotes, '""' as '"'.
std::string unquote(std::string_view q) {
  BERTH_CHECK(q.size() >= 2 && q.front() == '"' && q.back() == '"');
  std::string out;
  q = q.substr(1, q.size() - 2);
  for (std::size_t i = 0; i < q.size(); ++i) {
    out.push_back(q[i]);
    if (q[i] == '"') {
      BERTH_CHECK(i + 1 < q.size() && q[i + 1] == '"');
      ++i;
    }
  }
  return out;
}

void check_path(const VirtualPath& cwd, const VirtualPath& p, std::string_view input) {
  check_normalized(p);
  // Resolving a result again, from anywhere, changes nothing.
  auto again = VirtualPath::resolve(VirtualPath(), p.str());
  BERTH_CHECK(again && *again == p);
  auto elsewhere = VirtualPath::resolve(cwd, p.str());
  BERTH_CHECK(elsewhere && *elsewhere == p);
  // A path relative to the working directory stays beneath it unless it climbs.
  if (!input.starts_with('/') && input.find("..") == std::string_view::npos)
    BERTH_CHECK(cwd.is_root() || p == cwd || p.str().starts_with(cwd.str() + "/"));

  BERTH_CHECK(p.relative() == (p.is_root() ? "." : p.str().substr(1)));
  VirtualPath parent = p.parent();
  check_normalized(parent);
  if (p.is_root()) {
    BERTH_CHECK(parent.is_root() && p.name().empty());
  } else {
    BERTH_CHECK(!p.name().empty() && p.name().find('/') == std::string_view::npos);
    BERTH_CHECK(parent.child(p.name()) == p);
  }
  BERTH_CHECK(unquote(berth::ftp::quote_path(p.str())) == p.str());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1)
    return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::size_t cwd_len = std::min<std::size_t>(data[0], rest.size());
  std::string_view cwd_text = rest.substr(0, cwd_len);
  std::string_view input = rest.substr(cwd_len);

  // Resolving fails only for a NUL or a reserved name (an upload in
  // progress), and a resolved path never names one.
  auto refusable = [](std::string_view text) {
    return text.find('\0') != std::string_view::npos ||
           text.find(VirtualPath::kReservedPrefix) != std::string_view::npos;
  };
  auto reserved_inside = [](const VirtualPath& v) {
    return v.str().find("/" + std::string(VirtualPath::kReservedPrefix)) != std::string::npos;
  };
  auto cwd = VirtualPath::resolve(VirtualPath(), cwd_text);
  BERTH_CHECK(cwd.has_value() || refusable(cwd_text));
  if (!cwd)
    return 0;
  BERTH_CHECK(!reserved_inside(*cwd) && cwd_text.find('\0') == std::string_view::npos);
  check_path(VirtualPath(), *cwd, cwd_text);
  auto p = VirtualPath::resolve(*cwd, input);
  BERTH_CHECK(p.has_value() || refusable(input));
  if (p) {
    BERTH_CHECK(!reserved_inside(*p) && input.find('\0') == std::string_view::npos);
    check_path(*cwd, *p, input);
  }
  BERTH_CHECK(unquote(berth::ftp::quote_path(input)) == input);
  return 0;
}
