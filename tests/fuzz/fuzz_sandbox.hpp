#pragma once
// The jail the fuzz targets that drive a whole session run against: a
// temporary directory for the process, reset before each input, with a file
// beside the jail that must stay untouched.

#include "core/check.hpp"

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace berth::fuzz {

namespace fs = std::filesystem;

/// Removes everything beneath `dir` (not `dir` itself), never following a
/// symlink; directories the session made unreadable are made readable first.
inline void empty_dir(const fs::path& dir) {
  std::error_code ec;
  ::chmod(dir.c_str(), 0700);
  std::vector<fs::path> entries;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    entries.push_back(it->path());
  for (const auto& p : entries) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
      empty_dir(p);
    fs::remove(p, ec);
  }
}

inline void write_file(const fs::path& p, std::string_view content) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
}

/// A temporary directory for the process: `root` is the jail, `base` holds it
/// and a file outside the jail; both are removed at exit.
class Sandbox {
public:
  Sandbox() {
    std::string pattern = (fs::temp_directory_path() / "berth-fuzz-XXXXXX").string();
    BERTH_CHECK(::mkdtemp(pattern.data()) != nullptr);
    base_ = pattern;
    root_ = base_ / "root";
    fs::create_directory(root_);
    write_file(base_ / "outside", "not for clients\n");
  }
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;
  ~Sandbox() {
    empty_dir(base_);
    std::error_code ec;
    fs::remove(base_, ec);
  }

  /// The jail as every input starts with it: /hello.txt, /dir/data.bin, /link -> hello.txt.
  void reset() {
    empty_dir(root_);
    write_file(root_ / "hello.txt", "hello, world\n");
    fs::create_directory(root_ / "dir");
    write_file(root_ / "dir" / "data.bin", std::string(3000, 'x'));
    std::error_code ec;
    fs::create_symlink("hello.txt", root_ / "link", ec);
  }

  /// Nothing but the jail and the untouched file beside it.
  void check_outside() const {
    std::size_t n = 0;
    std::error_code ec;
    for (fs::directory_iterator it(base_, ec), end; !ec && it != end; it.increment(ec)) {
      BERTH_CHECK(it->path() == root_ || it->path() == base_ / "outside");
      ++n;
    }
    BERTH_CHECK(!ec && n == 2);
    BERTH_CHECK(fs::file_size(base_ / "outside", ec) == 16 && !ec);
  }

  const fs::path& root() const { return root_; }

private:
  fs::path base_;
  fs::path root_;
};

inline Sandbox& sandbox() {
  static Sandbox s;
  return s;
}

} // namespace berth::fuzz
