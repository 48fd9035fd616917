#include "auth/ssh_signature.hpp"

#include "auth/ssh_wire.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <memory>
#include <string>
#include <vector>

namespace berth::auth {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct CtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct BldFree {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct SigFree {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Bn = std::unique_ptr<BIGNUM, BnFree>;

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

int int_size(std::size_t n) {
  return n > 1u << 20 ? -1 : static_cast<int>(n);
}

// A key from OpenSSL parameters (OpenSSL 3's way to build a public key).
Pkey from_params(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
  std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    return nullptr;
  return Pkey(key);
}

Bn bignum(std::string_view mpint) {
  const int n = int_size(mpint.size());
  if (n < 0 || (n > 0 && (mpint[0] & 0x80) != 0)) // negative mpints are no key part
    return nullptr;
  return Bn(BN_bin2bn(bytes(mpint), n, nullptr));
}

bool digest_verify(EVP_PKEY* key, const EVP_MD* md, std::string_view sig, std::string_view data) {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) == 1 &&
         EVP_DigestVerify(ctx.get(), bytes(sig), sig.size(), bytes(data), data.size()) == 1;
}

bool verify_ed25519(SshReader& key, std::string_view alg, std::string_view sig,
                    std::string_view data) {
  auto pk = key.string();
  if (!pk || !key.done() || pk->size() != 32 || alg != "ssh-ed25519" || sig.size() != 64)
    return false;
  Pkey k(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, bytes(*pk), pk->size()));
  return k && digest_verify(k.get(), nullptr, sig, data);
}

bool verify_ecdsa(std::string_view type, SshReader& key, std::string_view alg, std::string_view sig,
                  std::string_view data) {
  const char* group = nullptr;
  const EVP_MD* md = nullptr;
  if (type == "ecdsa-sha2-nistp256") {
    group = "prime256v1";
    md = EVP_sha256();
  } else if (type == "ecdsa-sha2-nistp384") {
    group = "secp384r1";
    md = EVP_sha384();
  } else if (type == "ecdsa-sha2-nistp521") {
    group = "secp521r1";
    md = EVP_sha512();
  } else {
    return false;
  }
  auto curve = key.string();
  auto point = key.string();
  if (!curve || !point || !key.done() || !type.ends_with(*curve) || alg != type)
    return false;
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point->data(),
                                       point->size()) != 1)
    return false;
  Pkey k = from_params("EC", bld.get());
  // The signature blob is (mpint r, mpint s); OpenSSL wants DER.
  SshReader rs(sig);
  auto r_bytes = rs.string();
  auto s_bytes = rs.string();
  if (!k || !r_bytes || !s_bytes || !rs.done())
    return false;
  Bn r = bignum(*r_bytes), s = bignum(*s_bytes);
  std::unique_ptr<ECDSA_SIG, SigFree> es(ECDSA_SIG_new());
  if (!r || !s || !es || ECDSA_SIG_set0(es.get(), r.get(), s.get()) != 1)
    return false;
  (void)r.release(); // owned by es now
  (void)s.release();
  unsigned char* der = nullptr;
  const int der_len = i2d_ECDSA_SIG(es.get(), &der);
  if (der_len <= 0)
    return false;
  std::string der_sig(reinterpret_cast<char*>(der), static_cast<std::size_t>(der_len));
  OPENSSL_free(der);
  return digest_verify(k.get(), md, der_sig, data);
}

bool verify_rsa(SshReader& key, std::string_view alg, std::string_view sig, std::string_view data) {
  const EVP_MD* md = alg == "rsa-sha2-256"   ? EVP_sha256()
                     : alg == "rsa-sha2-512" ? EVP_sha512()
                                             : nullptr;
  auto e_bytes = key.string();
  auto n_bytes = key.string();
  if (md == nullptr || !e_bytes || !n_bytes || !key.done())
    return false;
  Bn e = bignum(*e_bytes), n = bignum(*n_bytes);
  if (!e || !n || BN_num_bits(n.get()) < 1024 || BN_num_bits(n.get()) > 16384)
    return false;
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1)
    return false;
  Pkey k = from_params("RSA", bld.get());
  if (!k)
    return false;
  // OpenSSH may send a signature shorter than the modulus (leading zeros
  // dropped); OpenSSL wants it at full length.
  const auto modulus = static_cast<std::size_t>(BN_num_bytes(n.get()));
  if (sig.size() > modulus)
    return false;
  std::string padded(modulus - sig.size(), '\0');
  padded.append(sig);
  return digest_verify(k.get(), md, padded, data);
}

} // namespace

bool verify_ssh_signature(std::string_view key, std::string_view signature, std::string_view data) {
  SshReader k(key);
  SshReader s(signature);
  auto type = k.string();
  auto alg = s.string();
  auto sig = s.string();
  if (!type || !alg || !sig || !s.done())
    return false;
  if (*type == "ssh-ed25519")
    return verify_ed25519(k, *alg, *sig, data);
  if (*type == "ssh-rsa")
    return verify_rsa(k, *alg, *sig, data);
  return verify_ecdsa(*type, k, *alg, *sig, data);
}

} // namespace berth::auth
