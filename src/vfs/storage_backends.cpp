#include "vfs/storage_backends.hpp"

#include "vfs/errc.hpp"
#include "vfs/local/local_fs.hpp"

#include <fmt/format.h>

#include <system_error>
#include <utility>

namespace berth::vfs {

struct StorageBackends::State {
  StorageSettings settings;
};

StorageBackends::StorageBackends(core::WorkerPool* io, StorageSettings settings)
    : io_(io), state_(std::make_shared<const State>(State{std::move(settings)})) {}

StorageBackends::~StorageBackends() = default;

void StorageBackends::reconfigure(StorageSettings settings) {
  auto next = std::make_shared<const State>(State{std::move(settings)});
  std::lock_guard lock(mu_);
  state_ = std::move(next);
}

std::shared_ptr<const StorageBackends::State> StorageBackends::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

core::Task<core::Result<std::unique_ptr<Filesystem>>>
StorageBackends::open(const Location& location) {
  auto st = state();
  if (location.kind() == Location::Kind::local) {
    auto fs = LocalFs::open(location.path(), io_, st->settings.upload_mode);
    if (!fs)
      co_return core::unexpected(fs.error());
    co_return std::unique_ptr<Filesystem>(std::move(*fs));
  }
  co_return core::unexpected(Errc::unsupported);
}

core::Task<core::Result<Usage>> StorageBackends::usage(const Location& location, bool) {
  if (location.kind() == Location::Kind::local) {
    const std::filesystem::path home = location.path();
    auto count = [&home] { return LocalFs::usage(home); };
    if (io_ != nullptr)
      co_return co_await io_->run(count);
    co_return count();
  }
  co_return core::unexpected(Errc::unsupported);
}

core::Task<core::Result<void>> StorageBackends::check(const Location& location, std::string& why) {
  if (location.kind() == Location::Kind::local) {
    std::error_code ec;
    if (!std::filesystem::is_directory(location.path(), ec)) {
      why = fmt::format("\"{}\" is not an existing directory", location.path().string());
      co_return core::unexpected(Errc::not_found);
    }
    co_return core::Result<void>{};
  }
  why = fmt::format("\"{}\": object storage is not available in this build", location.to_string());
  co_return core::unexpected(Errc::unsupported);
}

} // namespace berth::vfs
