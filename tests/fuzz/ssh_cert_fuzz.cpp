// Fuzzes the certificate parser (auth/ssh_cert.hpp), which reads a client's
// `*-cert-v01@openssh.com` key before anything is verified, and the whole
// check (auth/certificates.hpp) with the certificate's own CA trusted, so
// that the signature check and the option checks run on the fuzzed fields.
// Input: a certificate blob (SSH wire encoding, as the client sends it).
#include "auth/certificates.hpp"
#include "auth/ssh_cert.hpp"
#include "auth/ssh_wire.hpp"

#include "core/check.hpp"

#include <openssl/evp.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

std::string base64(std::string_view raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(raw.data()),
                                static_cast<int>(raw.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace berth;
  std::string_view blob(reinterpret_cast<const char*>(data), size);
  auto cert = auth::parse_ssh_cert(blob);
  const auto client = asio::ip::make_address("192.0.2.7");
  const auto now = std::chrono::system_clock::from_time_t(1'800'000'000);
  std::vector<std::string> lines;
  if (cert) {
    BERTH_CHECK(size <= auth::kMaxCertSize);
    BERTH_CHECK(cert->signed_size < size);
    BERTH_CHECK(!cert->ca_key.empty() && cert->ca_key.size() < size);
    BERTH_CHECK(auth::is_cert_type(cert->type));
    // The certified key's blob begins with its plain type, which names the certificate's.
    auth::SshReader r(cert->key_blob);
    auto plain = r.string();
    BERTH_CHECK(plain && cert->type.starts_with(*plain));
    // Trust the certificate's own CA (as whatever type it claims to be).
    auth::SshReader k(cert->ca_key);
    auto ca_type = k.string();
    if (ca_type && !ca_type->empty() && ca_type->find_first_of(" \t\n\r,\"") == std::string::npos)
      lines.push_back("cert-authority,principals=\"alice\" " + std::string(*ca_type) + " " +
                      base64(cert->ca_key));
  }
  auth::CertContext ctx{"alice", &lines, {}, nullptr, client, now};
  auto d = auth::check_certificate(blob, ctx);
  BERTH_CHECK(d.allowed == d.reason.empty());
  if (!cert)
    BERTH_CHECK(!d.allowed);
  return 0;
}
