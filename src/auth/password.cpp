#include "auth/password.hpp"

#include <crypt.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <memory>
#include <stdexcept>

namespace berth::auth {
namespace {

constexpr std::string_view kArgon2idPrefix = "$argon2id$";

// The crypt(3) methods accepted for imported users, with the length of the
// digest that ends a complete hash and how many '$' the hash holds at least
// ("$6$salt$digest", "$y$params$salt$digest", "$2b$cost$<salt+digest>").
struct CryptMethod {
  std::string_view prefix;
  std::size_t digest_length;
  std::size_t min_dollars;
};
constexpr std::array<CryptMethod, 4> kCryptMethods{{
    {"$6$", 86, 3},  // sha512crypt
    {"$5$", 43, 3},  // sha256crypt
    {"$y$", 43, 4},  // yescrypt
    {"$2b$", 53, 3}, // bcrypt: 22 characters of salt and 31 of digest, no '$' between
}};

bool is_crypt_base64(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '/';
}

bool is_argon2id_hash(std::string_view hash) {
  if (!hash.starts_with(kArgon2idPrefix) || hash.size() >= crypto_pwhash_STRBYTES ||
      hash.find('\0') != std::string_view::npos)
    return false;
  const std::string h(hash);
  // -1: libsodium can not decode it (the cost given only needs to be valid).
  return crypto_pwhash_str_needs_rehash(h.c_str(), crypto_pwhash_OPSLIMIT_MIN,
                                        crypto_pwhash_MEMLIMIT_MIN) != -1;
}

bool is_crypt_hash(std::string_view hash) {
  const auto method =
      std::find_if(kCryptMethods.begin(), kCryptMethods.end(),
                   [&](const CryptMethod& m) { return hash.starts_with(m.prefix); });
  if (method == kCryptMethods.end() || hash.size() >= CRYPT_OUTPUT_SIZE)
    return false;
  if (!std::all_of(hash.begin(), hash.end(),
                   [](char c) { return is_crypt_base64(c) || c == '$' || c == '='; }))
    return false;
  if (static_cast<std::size_t>(std::count(hash.begin(), hash.end(), '$')) < method->min_dollars)
    return false;
  const std::string_view digest = hash.substr(hash.rfind('$') + 1);
  if (digest.size() != method->digest_length)
    return false;
  // libxcrypt decides whether it has the method (bcrypt may be left out of a
  // build) and whether the setting is well formed. Debian marks sha256crypt
  // "legacy": still verified, as an import must.
  const std::string h(hash);
  const int check = crypt_checksalt(h.c_str());
  return check == CRYPT_SALT_OK || check == CRYPT_SALT_METHOD_LEGACY;
}

bool verify_crypt(std::string_view hash, std::string_view password) {
  // crypt(3) takes C strings: "pw\0anything" would verify as "pw".
  if (password.find('\0') != std::string_view::npos)
    return false;
  std::string phrase(password);
  const std::string setting(hash);
  // crypt_rn with its own crypt_data is thread-safe; the struct is 32 KiB,
  // too big for a coroutine's worker stack to carry lightly. Zeroed, as
  // crypt_rn wants on first use.
  auto data = std::make_unique<crypt_data>();
  const char* out = crypt_rn(phrase.c_str(), setting.c_str(), data.get(), sizeof(crypt_data));
  bool ok = false;
  if (out != nullptr) {
    const std::string_view got(out);
    // The stored hash's length is no secret; its digest is compared in constant time.
    ok = got.size() == hash.size() && sodium_memcmp(got.data(), hash.data(), hash.size()) == 0;
  }
  sodium_memzero(data.get(), sizeof(crypt_data));
  sodium_memzero(phrase.data(), phrase.size());
  return ok;
}

} // namespace

void init_crypto() {
  if (sodium_init() < 0)
    throw std::runtime_error("libsodium failed to initialise");
}

std::string hash_password(std::string_view password, HashCost cost) {
  std::array<char, crypto_pwhash_STRBYTES> out{};
  if (crypto_pwhash_str_alg(out.data(), password.data(), password.size(), cost.iterations,
                            static_cast<std::size_t>(cost.memory_kib) * 1024,
                            crypto_pwhash_ALG_ARGON2ID13) != 0)
    throw std::runtime_error("out of memory while hashing a password");
  return std::string(out.data());
}

std::string hash_password(std::string_view password) {
  return hash_password(password, HashCost{});
}

bool is_supported_hash(std::string_view hash) {
  return is_argon2id_hash(hash) || is_crypt_hash(hash);
}

bool verify_hash(std::string_view hash, std::string_view password) {
  if (is_argon2id_hash(hash)) {
    std::string h(hash); // needs NUL termination
    return crypto_pwhash_str_verify(h.c_str(), password.data(), password.size()) == 0;
  }
  if (is_crypt_hash(hash))
    return verify_crypt(hash, password);
  return false;
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
