#include "app/commands.hpp"

#include "auth/password.hpp"

#include <cstdio>
#include <iostream>

namespace berth::app {

int run_hash_password() {
  auth::init_crypto();
  std::string password;
  if (!std::getline(std::cin, password) || password.empty()) {
    std::fprintf(stderr, "berth: hash-password: no password on standard input\n");
    return 2;
  }
  std::printf("%s\n", auth::hash_password(password).c_str());
  return 0;
}

} // namespace berth::app
