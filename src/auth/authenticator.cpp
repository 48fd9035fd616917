#include "auth/authenticator.hpp"

#include "auth/password.hpp"

namespace berth::auth {
namespace {

class Category final : public std::error_category {
public:
  const char* name() const noexcept override { return "berth.auth"; }
  std::string message(int) const override { return "login incorrect"; }
};

// Verifies a hash nobody has, so an unknown user costs the same as a wrong password.
const std::string& dummy_hash() {
  static const std::string hash = hash_password(random_password(24));
  return hash;
}

} // namespace

const std::error_category& auth_category() noexcept {
  static const Category category;
  return category;
}

Authenticator::Authenticator(std::shared_ptr<store::UserStore> users, std::size_t workers,
                             LoginPolicy policy)
    : users_(std::move(users)), pool_(workers), policy_(policy) {}

core::Task<core::Result<Account>> Authenticator::authenticate(const std::string& user,
                                                              const std::string& password) {
  auto record = co_await users_->find(user);
  if (record && record->password_hash.empty() && !record->password.empty()) {
    if (equal_constant_time(record->password, password))
      co_return Account{record->name, record->home};
    co_return core::unexpected(Errc::bad_credentials);
  }
  // argon2id on the pool: the user's hash, or for an unknown user and for a
  // key-only user (SECURITY: no password may match) a dummy one, so that the
  // time taken reveals nothing.
  const bool has_hash = record && !record->password_hash.empty();
  std::string hash = has_hash ? record->password_hash : std::string();
  // An empty hash stands for dummy_hash(), made (once) on the pool, not on a loop.
  auto verify = [&hash, &password] {
    return verify_hash(hash.empty() ? dummy_hash() : hash, password);
  };
  bool ok = co_await pool_.run(verify);
  if (!ok || !has_hash)
    co_return core::unexpected(Errc::bad_credentials);
  co_return Account{record->name, record->home};
}

} // namespace berth::auth
