// Fuzzes the revocation list parser (auth/revoked_keys.hpp): an operator's
// file, OpenSSH KRL or one public key a line, read again at every key login,
// so it must stay bounded whatever it holds. Input: the file's bytes.
#include "auth/revoked_keys.hpp"

#include "core/check.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace berth;
  std::string_view file(reinterpret_cast<const char*>(data), size);
  std::string why;
  auto list = auth::RevokedKeys::parse(file, why);
  if (!list) {
    BERTH_CHECK(!why.empty());
    return 0;
  }
  // Any serial, key id or key: the checks never read past what was parsed.
  auth::SshCert cert;
  cert.ca_key = std::string(file.substr(0, size / 2));
  cert.key_blob = std::string(file.substr(size / 2));
  for (std::uint64_t serial :
       {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{size}, ~std::uint64_t{0}}) {
    cert.serial = serial;
    (void)list->cert_revoked(cert, file);
  }
  (void)list->key_revoked(file);
  return 0;
}
