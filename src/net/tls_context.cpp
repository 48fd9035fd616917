#include "net/tls_context.hpp"

#include <asio/ssl/context.hpp>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <sys/stat.h>

#include <cstdio>
#include <stdexcept>

namespace berth::net {
namespace {

constexpr unsigned char kSessionIdContext[] = "berth-ftps";

// On a control connection's SSL: its TlsSessions, which keeps what it makes.
int owner_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}
// On a data connection's SSL: its control connection's TlsSessions, which it
// may resume.
int resume_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}
int session_index() {
  static const int index = SSL_SESSION_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// Called for every session the server caches (TLS 1.2 session ids, TLS 1.3
// stateful tickets): a session made on a control connection carries its token
// and is kept by it; one made on a data connection keeps the token it
// inherited on resumption.
int on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* owner = static_cast<TlsSessions*>(SSL_get_ex_data(ssl, owner_index()));
  if (owner == nullptr)
    return 0;
  SSL_SESSION_set_ex_data(session, session_index(),
                          reinterpret_cast<void*>(static_cast<std::uintptr_t>(owner->token())));
  owner->keep(session);
  return 0; // OpenSSL's reference stays OpenSSL's
}

// Called when a resumed session id is not in the shared cache (evicted by
// other clients' handshakes, or timed out of it): a data connection finds its
// control connection's sessions here, and only those.
SSL_SESSION* on_missing_session(SSL* ssl, const unsigned char* id, int length, int* copy) {
  auto* sessions = static_cast<TlsSessions*>(SSL_get_ex_data(ssl, resume_index()));
  if (sessions == nullptr || length <= 0)
    return nullptr;
  SSL_SESSION* found = sessions->find(id, static_cast<unsigned>(length));
  if (found == nullptr)
    return nullptr;
  // A copy: what OpenSSL is given may be evicted or marked unresumable (a
  // fatal alert on a connection using it); the kept one stays as it was.
  *copy = 0; // OpenSSL owns the copy's one reference
  return SSL_SESSION_dup(found);
}

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  if (e == 0)
    return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

template <class T, void (*Free)(T*)> struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;

void write_pem(const std::filesystem::path& path, bool is_key, EVP_PKEY* key, X509* cert) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr)
    throw std::runtime_error(fmt::format("{}: can not write", path.string()));
  if (is_key)
    ::fchmod(fileno(f), 0600);
  bool ok = is_key ? PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1
                   : PEM_write_X509(f, cert) == 1;
  std::fclose(f);
  if (!ok)
    throw std::runtime_error(fmt::format("{}: can not write", path.string()));
}

// A self-signed ECDSA P-256 certificate for the given names, valid 10 years.
void generate(const std::filesystem::path& cert_path, const std::filesystem::path& key_path,
              const std::vector<std::string>& names) {
  PkeyPtr key(EVP_EC_gen("P-256"));
  X509Ptr cert(X509_new());
  if (!key || !cert)
    throw std::runtime_error("tls: can not generate a key: " + openssl_error());
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  std::string cn = names.empty() ? "berth" : names.front();
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  std::string san;
  for (const auto& n : names) {
    unsigned char buf[16];
    bool ip = inet_pton(AF_INET, n.c_str(), buf) == 1 || inet_pton(AF_INET6, n.c_str(), buf) == 1;
    san += (san.empty() ? "" : ",") + std::string(ip ? "IP:" : "DNS:") + n;
  }
  X509V3_CTX v3;
  X509V3_set_ctx(&v3, cert.get(), cert.get(), nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair<int, std::string>{NID_subject_alt_name, san},
                            {NID_basic_constraints, "critical,CA:FALSE"},
                            {NID_key_usage, "critical,digitalSignature"},
                            {NID_ext_key_usage, "serverAuth"}}) {
    if (value.empty())
      continue;
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value.c_str());
    if (ext != nullptr) {
      X509_add_ext(cert.get(), ext, -1);
      X509_EXTENSION_free(ext);
    }
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0)
    throw std::runtime_error("tls: can not sign a certificate: " + openssl_error());
  write_pem(key_path, true, key.get(), nullptr);
  write_pem(cert_path, false, nullptr, cert.get());
}

std::string fingerprint_of(const std::filesystem::path& cert_path) {
  FILE* f = std::fopen(cert_path.c_str(), "r");
  if (f == nullptr)
    return {};
  X509Ptr cert(PEM_read_X509(f, nullptr, nullptr, nullptr));
  std::fclose(f);
  if (!cert)
    return {};
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  X509_digest(cert.get(), EVP_sha256(), md, &len);
  std::string out;
  for (unsigned i = 0; i < len; ++i)
    out += fmt::format("{}{:02X}", i == 0 ? "" : ":", md[i]);
  return out;
}

} // namespace

TlsContext::~TlsContext() = default;

std::shared_ptr<TlsContext> TlsContext::create(const TlsSettings& settings) {
  std::shared_ptr<TlsContext> t(new TlsContext());
  std::filesystem::path cert = settings.certificate;
  std::filesystem::path key = settings.private_key;
  if (cert.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(settings.generated_dir, ec);
    cert = settings.generated_dir / "certificate.pem";
    key = settings.generated_dir / "private-key.pem";
    if (!std::filesystem::exists(cert) || !std::filesystem::exists(key))
      generate(cert, key, settings.names);
    t->generated_ = true;
  }
  t->ctx_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* ctx = t->ctx_->native_handle();
  SSL_CTX_set_min_proto_version(ctx, settings.tls13_only ? TLS1_3_VERSION : TLS1_2_VERSION);
  // AEAD suites with forward secrecy only (TLS 1.3 suites are all AEAD).
  SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20");
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE |
                               // Stateful tickets: sessions stay in our cache, so a
                               // data connection's resumption can be traced to its
                               // control connection (tags are not serialised).
                               SSL_OP_NO_TICKET |
                               // Let a client resume the same session for every data
                               // connection (no 0-RTT data is accepted anyway).
                               SSL_OP_NO_ANTI_REPLAY);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof kSessionIdContext - 1);
  SSL_CTX_set_timeout(ctx, 3600);
  SSL_CTX_sess_set_cache_size(ctx, settings.session_cache_size);
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
  SSL_CTX_sess_set_get_cb(ctx, on_missing_session);
  (void)owner_index();
  (void)resume_index();
  (void)session_index();

  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1)
    throw std::runtime_error(
        fmt::format("tls.certificate: {}: can not load: {}", cert.string(), openssl_error()));
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1)
    throw std::runtime_error(
        fmt::format("tls.private_key: {}: can not load: {}", key.string(), openssl_error()));
  if (SSL_CTX_check_private_key(ctx) != 1)
    throw std::runtime_error(fmt::format("tls.private_key: {}: does not match the certificate {}",
                                         key.string(), cert.string()));
  t->fingerprint_ = fingerprint_of(cert);
  return t;
}

TlsSessions::TlsSessions() {
  RAND_bytes(reinterpret_cast<unsigned char*>(&token_), sizeof token_);
  token_ |= 1; // never 0, which means "untagged"
}

TlsSessions::~TlsSessions() {
  for (SSL_SESSION* s : kept_)
    SSL_SESSION_free(s); // nullptr is fine
}

void TlsSessions::keep(SSL_SESSION* session) {
  // A copy, never in the shared cache: evicting the cached one marks it not
  // resumable, and OpenSSL then refuses to resume it even from here.
  SSL_SESSION* copy = SSL_SESSION_dup(session);
  if (copy == nullptr)
    return; // out of memory: the shared cache alone serves it
  SSL_SESSION_free(kept_[next_]);
  kept_[next_] = copy;
  next_ = (next_ + 1) % kKept;
}

SSL_SESSION* TlsSessions::find(const unsigned char* id, unsigned length) const {
  for (SSL_SESSION* s : kept_) {
    if (s == nullptr)
      continue;
    unsigned n = 0;
    const unsigned char* own = SSL_SESSION_get_id(s, &n);
    if (n == length && CRYPTO_memcmp(own, id, n) == 0)
      return s;
  }
  return nullptr;
}

void TlsContext::attach(SSL* ssl, TlsSessions& sessions, bool data) {
  SSL_set_ex_data(ssl, data ? resume_index() : owner_index(), &sessions);
}

bool TlsContext::resumed_session_of(SSL* ssl, const TlsSessions& sessions) {
  const std::uint64_t token = sessions.token();
  if (SSL_session_reused(ssl) != 1)
    return false;
  SSL_SESSION* session = SSL_get_session(ssl);
  if (session == nullptr)
    return false;
  auto tag = reinterpret_cast<std::uintptr_t>(SSL_SESSION_get_ex_data(session, session_index()));
  return tag != 0 && tag == static_cast<std::uintptr_t>(token);
}

} // namespace berth::net
