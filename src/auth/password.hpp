#pragma once
// Password hashing (argon2id, libsodium) and verification.

#include <string>
#include <string_view>

namespace berth::auth {

/// Initialises libsodium; call once at start. Throws on failure.
void init_crypto();

/// An argon2id hash in libsodium's string format (OWASP minimum: m=19 MiB, t=2, p=1).
/// Blocks for tens of milliseconds: call from a worker, or at start.
std::string hash_password(std::string_view password);

/// Verifies against a stored hash. Blocks like hash_password.
bool verify_hash(std::string_view hash, std::string_view password);

/// Compares two plain-text passwords in time independent of their content.
bool equal_constant_time(std::string_view a, std::string_view b);

/// A random password of `length` characters from [A-Za-z0-9].
std::string random_password(std::size_t length);

} // namespace berth::auth
