// The vfs::Filesystem conformance suite (filesystem_conformance.hpp) against
// LocalFs in a fresh temporary folder. The S3 backend runs the same suite in
// s3_conformance_test.cpp (berth_s3_tests, against a real radosgw).

#include "filesystem_conformance.hpp"

#include "support/temp_dir.hpp"
#include "vfs/local/local_fs.hpp"

namespace berth::vfs::conformance {
namespace {

struct LocalBackend {
  static constexpr bool kSymlinks = true;

  std::unique_ptr<Filesystem> open() {
    auto fs = LocalFs::open(home_.path());
    if (!fs) {
      ADD_FAILURE() << "LocalFs::open: " << fs.error().message();
      return nullptr;
    }
    return std::move(*fs);
  }

  void clean(Loop&, Filesystem&) {} // the TempDir goes with the test

  test::TempDir home_;
};

INSTANTIATE_TYPED_TEST_SUITE_P(Local, FilesystemConformance, LocalBackend);

} // namespace
} // namespace berth::vfs::conformance
