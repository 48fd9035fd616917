#pragma once
// Users fixed at start: the `[[user]]` tables of the configuration and the
// embedded default user. Read-only.

#include "store/user_store.hpp"

#include <vector>

namespace berth::store {

class StaticStore final : public UserStore {
public:
  explicit StaticStore(std::vector<UserRecord> users) : users_(std::move(users)) {}

  // store::UserStore
  core::Task<core::Result<UserRecord>> find(std::string_view name) override;

private:
  const std::vector<UserRecord> users_; // immutable after construction: thread-safe
};

} // namespace berth::store
