// Fuzzes the configuration loader (core/config.hpp): the input is a TOML file.
// It must load, or fail with a ConfigError of one line naming the file; any
// other exception, crash or sanitizer report is a finding.
//
// Each input is loaded with a temporary directory as the working directory
// (only while it loads: libFuzzer's own paths stay as given). It holds what a
// configuration may name by relative path: home/ (a user's home), cert.pem and
// keys (files).
#include "core/config.hpp"

#include "core/check.hpp"

#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace {

namespace fs = std::filesystem;

void write_file(const fs::path& p, std::string_view content) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  out.flush();
  BERTH_CHECK(out.good());
}

/// A temporary directory for the process; removed at exit.
class WorkDir {
public:
  WorkDir() {
    std::string pattern = (fs::temp_directory_path() / "berth-fuzz-XXXXXX").string();
    BERTH_CHECK(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
    fs::create_directory(path_ / "home");
    write_file(path_ / "cert.pem", "-----BEGIN CERTIFICATE-----\n");
    write_file(path_ / "keys", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB a@b\n");
  }
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;
  ~WorkDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

private:
  fs::path path_;
};

WorkDir& work_dir() {
  static WorkDir w;
  return w;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)work_dir();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fs::path file = work_dir().path() / "berth.toml";
  write_file(file, std::string_view(reinterpret_cast<const char*>(data), size));
  const fs::path cwd = fs::current_path();
  fs::current_path(work_dir().path());
  try {
    berth::core::Config c = berth::core::load_config(file);
    BERTH_CHECK(c.source == file);
    BERTH_CHECK(!c.ftp.listen.empty() || !c.sftp.listen.empty());
    for (const auto& u : c.users)
      BERTH_CHECK(!u.name.empty() && !u.home.empty());
  } catch (const berth::core::ConfigError& e) {
    std::string_view what = e.what();
    // One line: "FILE[:LINE]: KEY: REASON" (DESIGN.md rule 7), without control
    // characters that would break it or a terminal.
    bool one_line = what.starts_with(file.string() + ":");
    for (char c : what)
      one_line = one_line && static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
    if (!one_line) {
      std::fprintf(stderr, "not a one-line error: \"%.*s\"\n", static_cast<int>(what.size()),
                   what.data());
      std::abort();
    }
  }
  fs::current_path(cwd);
  return 0;
}
