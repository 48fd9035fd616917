#pragma once
// The backend factory: the one place that turns a Location into a Filesystem.
// Built by server/wiring (and app/ for the CLI); every layer above vfs asks it
// and never names a concrete backend.

#include "core/result.hpp"
#include "core/task.hpp"
#include "vfs/filesystem.hpp"
#include "vfs/location.hpp"
#include "vfs/quota.hpp"

#include <memory>

namespace berth::vfs {

class Backends {
public:
  virtual ~Backends() = default;
  /// Opens the filesystem of a session rooted at `location`.
  /// Errors: not_found (a missing home), unavailable (storage that does not
  /// answer), permission_denied, or the backend's error.
  virtual core::Task<core::Result<std::unique_ptr<Filesystem>>> open(const Location& location) = 0;
  /// What is stored at `location`, for a quota (LocalFs::usage() rules). A
  /// backend that keeps a counter answers from it; `recount` walks the
  /// storage and stores the result. May take long: runs off the loop.
  virtual core::Task<core::Result<Usage>> usage(const Location& location, bool recount) = 0;
  /// Whether `location` can serve as a home: an existing directory, or a
  /// bucket that answers with the profile's credentials. `why`: one line.
  virtual core::Task<core::Result<void>> check(const Location& location, std::string& why) = 0;
};

} // namespace berth::vfs
