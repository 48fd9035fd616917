#include "auth/password.hpp"

#include <sodium.h>

#include <array>
#include <stdexcept>

namespace berth::auth {
namespace {
constexpr unsigned long long kOpsLimit = 2;
constexpr std::size_t kMemLimit = 19u * 1024 * 1024;
} // namespace

void init_crypto() {
  if (sodium_init() < 0)
    throw std::runtime_error("libsodium failed to initialise");
}

std::string hash_password(std::string_view password) {
  std::array<char, crypto_pwhash_STRBYTES> out{};
  if (crypto_pwhash_str_alg(out.data(), password.data(), password.size(), kOpsLimit, kMemLimit,
                            crypto_pwhash_ALG_ARGON2ID13) != 0)
    throw std::runtime_error("out of memory while hashing a password");
  return std::string(out.data());
}

bool verify_hash(std::string_view hash, std::string_view password) {
  std::string h(hash); // needs NUL termination
  return crypto_pwhash_str_verify(h.c_str(), password.data(), password.size()) == 0;
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  // Hash both first so that the comparison does not reveal the length.
  std::array<unsigned char, 32> ha{}, hb{};
  crypto_generichash(ha.data(), ha.size(), reinterpret_cast<const unsigned char*>(a.data()),
                     a.size(), nullptr, 0);
  crypto_generichash(hb.data(), hb.size(), reinterpret_cast<const unsigned char*>(b.data()),
                     b.size(), nullptr, 0);
  return sodium_memcmp(ha.data(), hb.data(), ha.size()) == 0;
}

std::string random_password(std::size_t length) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  for (std::size_t i = 0; i < length; ++i)
    out.push_back(kAlphabet[randombytes_uniform(sizeof kAlphabet - 1)]);
  return out;
}

} // namespace berth::auth
