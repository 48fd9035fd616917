#include "core/permissions.hpp"

#include <array>
#include <system_error>

namespace berth::core {
namespace {

struct Named {
  Perm perm;
  std::string_view name;
};

constexpr std::array<Named, 10> kNames{{{Perm::list, "list"},
                                        {Perm::download, "download"},
                                        {Perm::upload, "upload"},
                                        {Perm::overwrite, "overwrite"},
                                        {Perm::remove, "delete"},
                                        {Perm::rename, "rename"},
                                        {Perm::mkdir, "mkdir"},
                                        {Perm::rmdir, "rmdir"},
                                        {Perm::chmod, "chmod"},
                                        {Perm::symlink, "symlink"}}};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

} // namespace

Result<Permissions> Permissions::parse(std::string_view text, std::string* bad_word) {
  Permissions out = none();
  for (;;) {
    auto comma = text.find(',');
    std::string_view word = trim(text.substr(0, comma));
    if (word == "all") {
      out = all();
    } else if (word == "none") {
      // adds nothing
    } else if (!word.empty() || comma != std::string_view::npos) {
      bool found = false;
      for (const auto& n : kNames)
        if (n.name == word) {
          out.set(n.perm, true);
          found = true;
        }
      if (!found) {
        if (bad_word != nullptr)
          *bad_word = std::string(word);
        return unexpected(std::make_error_code(std::errc::invalid_argument));
      }
    }
    if (comma == std::string_view::npos)
      break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

std::string Permissions::to_string() const {
  if (*this == all())
    return "all";
  if (*this == none())
    return "none";
  std::string out;
  for (const auto& n : kNames)
    if (has(n.perm)) {
      if (!out.empty())
        out += ',';
      out += n.name;
    }
  return out;
}

std::string_view Permissions::name(Perm p) {
  for (const auto& n : kNames)
    if (n.perm == p)
      return n.name;
  return "?";
}

} // namespace berth::core
