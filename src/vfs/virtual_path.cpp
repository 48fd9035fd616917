#include "vfs/virtual_path.hpp"

#include "vfs/errc.hpp"

#include <vector>

namespace berth::vfs {

core::Result<VirtualPath> VirtualPath::resolve(const VirtualPath& cwd, std::string_view input) {
  if (input.find('\0') != std::string_view::npos)
    return core::unexpected(Errc::invalid_name);
  std::vector<std::string_view> parts;
  auto push_all = [&parts](std::string_view s) {
    std::size_t i = 0;
    while (i <= s.size()) {
      std::size_t j = s.find('/', i);
      if (j == std::string_view::npos)
        j = s.size();
      std::string_view part = s.substr(i, j - i);
      if (part == "..") {
        if (!parts.empty())
          parts.pop_back();
      } else if (!part.empty() && part != ".") {
        parts.push_back(part);
      }
      i = j + 1;
    }
  };
  if (input.empty() || input.front() != '/')
    push_all(cwd.path_);
  push_all(input);
  std::string out;
  for (auto p : parts) {
    // SECURITY: upload temporaries are hidden from listings and from the quota
    // scan; a client that could create or open such names could hide files
    // from both, or touch another session's upload in progress.
    if (p.starts_with(kReservedPrefix))
      return core::unexpected(Errc::invalid_name);
    out.append("/").append(p);
  }
  if (out.empty())
    out = "/";
  return VirtualPath(std::move(out));
}

std::string_view VirtualPath::name() const {
  if (is_root())
    return {};
  return std::string_view(path_).substr(path_.rfind('/') + 1);
}

VirtualPath VirtualPath::parent() const {
  auto slash = path_.rfind('/');
  if (slash == 0)
    return VirtualPath();
  return VirtualPath(path_.substr(0, slash));
}

VirtualPath VirtualPath::child(std::string_view name) const {
  std::string out;
  out.reserve(path_.size() + 1 + name.size());
  if (!is_root())
    out.append(path_);
  out.push_back('/');
  out.append(name);
  return VirtualPath(std::move(out));
}

} // namespace berth::vfs
