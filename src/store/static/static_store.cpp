#include "store/static/static_store.hpp"

#include <string>

namespace berth::store {
namespace {

class Category final : public std::error_category {
public:
  const char* name() const noexcept override { return "berth.store"; }
  std::string message(int e) const override {
    switch (static_cast<Errc>(e)) {
    case Errc::no_such_user:
      return "no such user";
    case Errc::exists:
      return "a user of that name exists";
    case Errc::read_only:
      return "the user is defined in the configuration file (read-only)";
    case Errc::database:
      return "user database error";
    case Errc::no_such_upload:
      return "no such upload in progress";
    }
    return "store error";
  }
};

} // namespace

const std::error_category& store_category() noexcept {
  static const Category category;
  return category;
}

core::Task<core::Result<UserRecord>> StaticStore::find(std::string_view name) {
  for (const auto& u : users_)
    if (u.name == name)
      co_return u;
  if (next_)
    co_return co_await next_->find(name);
  co_return core::unexpected(Errc::no_such_user);
}

} // namespace berth::store
