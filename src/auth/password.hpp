#pragma once
// Password hashing (argon2id, libsodium) and verification of argon2id and of
// imported crypt(3) hashes (libxcrypt).

#include <cstdint>
#include <string>
#include <string_view>

namespace berth::auth {

/// Initialises libsodium; call once at start. Throws on failure.
void init_crypto();

/// The cost of an argon2id hash: memory in KiB (m) and passes (t); one lane (p=1).
/// The default is the OWASP minimum, as `[users] hash_memory_kib/hash_iterations`.
struct HashCost {
  std::uint32_t memory_kib = 19 * 1024;
  std::uint32_t iterations = 2;
};

/// An argon2id hash in libsodium's string format
/// ("$argon2id$v=19$m=<memory_kib>,t=<iterations>,p=1$salt$hash") with a fresh
/// random salt. Blocks for tens of milliseconds (more with a higher cost):
/// call from a worker, or at start. Throws when the memory can not be had.
std::string hash_password(std::string_view password, HashCost cost);

/// hash_password at the default cost.
std::string hash_password(std::string_view password);

/// True when verify_hash can check passwords against `hash`: an argon2id hash
/// in libsodium's format, or a crypt(3) hash of sha512crypt ("$6$"),
/// sha256crypt ("$5$"), yescrypt ("$y$") or bcrypt ("$2b$", when libxcrypt
/// has it) in its complete form (setting and digest). Does not block.
bool is_supported_hash(std::string_view hash);

/// Verifies `password` against a stored hash (any is_supported_hash one;
/// others, garbage included, never verify). crypt(3) digests are compared in
/// constant time. Thread-safe. Blocks like hash_password.
bool verify_hash(std::string_view hash, std::string_view password);

/// Compares two plain-text passwords in time independent of their content.
bool equal_constant_time(std::string_view a, std::string_view b);

/// A random password of `length` characters from [A-Za-z0-9].
std::string random_password(std::size_t length);

} // namespace berth::auth
