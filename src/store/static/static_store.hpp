#pragma once
// Users fixed at start: the `[[user]]` tables of the configuration and the
// embedded default user. Read-only. Names it does not hold are looked up in
// the next store (the user database), so the configuration wins.

#include "store/user_store.hpp"

#include <memory>
#include <vector>

namespace berth::store {

class StaticStore final : public UserStore {
public:
  explicit StaticStore(std::vector<UserRecord> users, std::shared_ptr<UserStore> next = nullptr)
      : users_(std::move(users)), next_(std::move(next)) {}

  // store::UserStore
  core::Task<core::Result<UserRecord>> find(std::string_view name) override;

private:
  const std::vector<UserRecord> users_;   // immutable after construction: thread-safe
  const std::shared_ptr<UserStore> next_; // shared: the server keeps the database too
};

} // namespace berth::store
