#include "net/tls_context.hpp"

#include "core/config.hpp"

#include <asio/ssl/context.hpp>
#include <fmt/format.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
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
// On every SSL_CTX of a TlsContext (its own and its hosts'): the ticket keys.
int keys_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// A ticket key seals tickets for this long, and opens them (asking the
// client to take a fresh ticket) for as long again; then it is forgotten.
// The same hour as a session's lifetime (SSL_CTX_set_timeout below).
constexpr std::chrono::hours kTicketKeyLifetime{1};

// The tag a session carries: the token of the control connection that made
// it, or 0.
std::uint64_t tag_of(const SSL_SESSION* session) {
  return static_cast<std::uint64_t>(
      reinterpret_cast<std::uintptr_t>(SSL_SESSION_get_ex_data(session, session_index())));
}
void set_tag(SSL_SESSION* session, std::uint64_t tag) {
  SSL_SESSION_set_ex_data(session, session_index(),
                          reinterpret_cast<void*>(static_cast<std::uintptr_t>(tag)));
}

// Called for every session the server caches (TLS 1.2 session ids, TLS 1.3
// tickets): a session made on a control connection carries its token
// and is kept by it; one made on a data connection keeps the token it
// inherited on resumption.
int on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* owner = static_cast<TlsSessions*>(SSL_get_ex_data(ssl, owner_index()));
  if (owner == nullptr)
    return 0;
  set_tag(session, owner->token());
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

// SECURITY: a session ticket is the whole session, encrypted and given to the
// client, so a tag kept beside the session (ex_data) would be lost with it.
// The tag travels inside the ticket as its application data, sealed by the
// ticket key (encrypted and authenticated like the master secret): a client
// can neither read another connection's tag nor forge one. TLS 1.2 clients
// that resume only by ticket (Go's crypto/tls: rclone) work this way, and the
// data connection rule stays the same.
int on_ticket_made(SSL* ssl, void*) {
  SSL_SESSION* session = SSL_get0_session(ssl);
  if (session == nullptr)
    return 1;
  auto* owner = static_cast<TlsSessions*>(SSL_get_ex_data(ssl, owner_index()));
  // A control connection's ticket names it; a data connection's (a TLS 1.2
  // ticket renewed on resumption) the control connection it resumed from.
  const std::uint64_t tag = owner != nullptr ? owner->token() : tag_of(session);
  if (tag == 0)
    return 1; // untagged: no data connection can use it
  std::array<unsigned char, sizeof tag> bytes;
  std::memcpy(bytes.data(), &tag, sizeof tag);
  return SSL_SESSION_set1_ticket_appdata(session, bytes.data(), bytes.size());
}

SSL_TICKET_RETURN on_ticket_opened(SSL*, SSL_SESSION* session, const unsigned char*, size_t,
                                   SSL_TICKET_STATUS status, void*) {
  switch (status) {
  case SSL_TICKET_SUCCESS:
  case SSL_TICKET_SUCCESS_RENEW: {
    void* data = nullptr;
    size_t length = 0;
    std::uint64_t tag = 0;
    if (SSL_SESSION_get0_ticket_appdata(session, &data, &length) == 1 && length == sizeof tag)
      std::memcpy(&tag, data, sizeof tag);
    set_tag(session, tag);
    return status == SSL_TICKET_SUCCESS ? SSL_TICKET_RETURN_USE : SSL_TICKET_RETURN_USE_RENEW;
  }
  case SSL_TICKET_EMPTY:
  case SSL_TICKET_NO_DECRYPT:
    return SSL_TICKET_RETURN_IGNORE_RENEW; // a full handshake, and a fresh ticket
  default:
    return SSL_TICKET_RETURN_ABORT;
  }
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

// SECURITY: the keys that seal session tickets (and the control connection
// tags inside them) are random, live in memory only, are never logged, and
// are replaced every kTicketKeyLifetime, so a key read out of a process
// later opens no ticket older than two lifetimes (OpenSSL's own key would
// live as long as the context). Thread-safe: every event loop uses them.
struct TlsContext::TicketKeys {
  struct Key {
    std::array<unsigned char, 16> name{};
    std::array<unsigned char, 32> aes{};
    std::array<unsigned char, 32> hmac{};
    std::chrono::steady_clock::time_point made;
  };

  TicketKeys() { current_ = fresh(); }
  ~TicketKeys() {
    OPENSSL_cleanse(&current_, sizeof current_);
    OPENSSL_cleanse(&previous_, sizeof previous_);
  }

  /// The key to seal a new ticket with.
  Key sealing() {
    std::lock_guard lock(mutex_);
    rotate();
    return current_;
  }
  /// The key named `name`, and whether it is still the current one; nullopt
  /// when it is unknown or forgotten.
  std::optional<std::pair<Key, bool>> opening(const unsigned char* name) {
    std::lock_guard lock(mutex_);
    rotate();
    if (CRYPTO_memcmp(name, current_.name.data(), current_.name.size()) == 0)
      return std::pair{current_, true};
    if (has_previous_ && CRYPTO_memcmp(name, previous_.name.data(), previous_.name.size()) == 0)
      return std::pair{previous_, false};
    return std::nullopt;
  }

private:
  static Key fresh() {
    Key k;
    if (RAND_bytes(k.name.data(), static_cast<int>(k.name.size())) != 1 ||
        RAND_bytes(k.aes.data(), static_cast<int>(k.aes.size())) != 1 ||
        RAND_bytes(k.hmac.data(), static_cast<int>(k.hmac.size())) != 1)
      throw std::runtime_error("tls: no random bytes for a session ticket key");
    k.made = std::chrono::steady_clock::now();
    return k;
  }
  void rotate() {
    const auto now = std::chrono::steady_clock::now();
    if (now - current_.made < kTicketKeyLifetime)
      return;
    previous_ = current_;
    has_previous_ = now - current_.made < 2 * kTicketKeyLifetime;
    current_ = fresh();
  }

  std::mutex mutex_;
  Key current_;
  Key previous_;
  bool has_previous_ = false;
};

struct TlsContext::Host {
  std::string name;
  std::unique_ptr<asio::ssl::context> ctx;
};

namespace {

// OpenSSL's ticket key callback: seals with the current key, opens with the
// current or the previous one (then the client gets a fresh ticket).
int on_ticket_key(SSL* ssl, unsigned char name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher,
                  EVP_MAC_CTX* mac, int enc) {
  auto* keys =
      static_cast<TlsContext::TicketKeys*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), keys_index()));
  if (keys == nullptr)
    return -1;
  TlsContext::TicketKeys::Key key;
  bool current = true;
  if (enc == 1) {
    key = keys->sealing();
    std::memcpy(name, key.name.data(), key.name.size());
    if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1)
      return -1;
  } else {
    auto found = keys->opening(name);
    if (!found)
      return 0; // unknown or forgotten key: a full handshake
    key = found->first;
    current = found->second;
  }
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key.hmac.data(), key.hmac.size()),
      OSSL_PARAM_construct_end()};
  const bool ok =
      EVP_MAC_CTX_set_params(mac, params) == 1 &&
      (enc == 1 ? EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes.data(), iv)
                : EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes.data(), iv)) == 1;
  OPENSSL_cleanse(&key, sizeof key);
  if (!ok)
    return -1;
  return current ? 1 : 2;
}

// The settings every context of a TlsContext shares (its own and its hosts').
void configure(SSL_CTX* ctx, const TlsSettings& settings, TlsContext::TicketKeys* keys) {
  SSL_CTX_set_min_proto_version(ctx, settings.tls13_only ? TLS1_3_VERSION : TLS1_2_VERSION);
  // AEAD suites with forward secrecy only (TLS 1.3 suites are all AEAD).
  SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20");
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE |
                               // Let a client resume the same session for every data
                               // connection (no 0-RTT data is accepted anyway).
                               SSL_OP_NO_ANTI_REPLAY);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  // The same context id everywhere: a session made under one host's
  // certificate resumes under another's (the cache and the ticket keys are
  // the first context's, where every connection begins).
  SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof kSessionIdContext - 1);
  SSL_CTX_set_ex_data(ctx, keys_index(), keys);
}

void load_pair(SSL_CTX* ctx, const std::filesystem::path& cert, const std::filesystem::path& key,
               std::string_view section) {
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1)
    throw std::runtime_error(fmt::format("{}.certificate: {}: can not load: {}", section,
                                         cert.string(), openssl_error()));
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1)
    throw std::runtime_error(fmt::format("{}.private_key: {}: can not load: {}", section,
                                         key.string(), openssl_error()));
  if (SSL_CTX_check_private_key(ctx) != 1)
    throw std::runtime_error(fmt::format("{}.private_key: {}: does not match the certificate {}",
                                         section, key.string(), cert.string()));
}

} // namespace

bool same_host_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::vector<TlsHostSettings> tls_hosts(const std::vector<core::FtpHostConfig>& hosts) {
  std::vector<TlsHostSettings> out;
  for (const core::FtpHostConfig& h : hosts)
    if (!h.certificate.empty())
      out.push_back({h.name, h.certificate, h.private_key});
  return out;
}

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
  t->ticket_keys_ = std::make_shared<TicketKeys>();
  t->ctx_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* ctx = t->ctx_->native_handle();
  configure(ctx, settings, t->ticket_keys_.get());
  // Sessions and tickets live on this context, where every connection
  // begins (OpenSSL's session_ctx stays it when a host's context is chosen).
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_timeout(ctx, 3600);
  SSL_CTX_sess_set_cache_size(ctx, settings.session_cache_size);
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
  SSL_CTX_sess_set_get_cb(ctx, on_missing_session);
  SSL_CTX_set_session_ticket_cb(ctx, on_ticket_made, on_ticket_opened, nullptr);
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket_key);
  SSL_CTX_set_tlsext_servername_callback(ctx, on_server_name);
  SSL_CTX_set_tlsext_servername_arg(ctx, t.get());
  (void)owner_index();
  (void)resume_index();
  (void)session_index();
  // The hosts' pairs first: `check-config` checks one of them as the
  // server's when the server's own is generated at start.
  for (const TlsHostSettings& h : settings.hosts) {
    Host host{h.name, std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server)};
    configure(host.ctx->native_handle(), settings, t->ticket_keys_.get());
    load_pair(host.ctx->native_handle(), h.certificate,
              h.private_key.empty() ? h.certificate : h.private_key,
              fmt::format("ftp.host \"{}\"", h.name));
    t->hosts_.push_back(std::move(host));
  }
  load_pair(ctx, cert, key, "tls");
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

const TlsContext::Host* TlsContext::find_host(std::string_view name) const {
  for (const Host& h : hosts_)
    if (same_host_name(h.name, name))
      return &h;
  return nullptr;
}

bool TlsContext::has_host(std::string_view name) const {
  return find_host(name) != nullptr;
}

std::string TlsContext::server_name(SSL* ssl) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  return name != nullptr ? std::string(name) : std::string();
}

// The client's server name (SNI) chooses the certificate: a host's own, or
// the server's. After HOST (RFC 7151), the host's certificate is already
// chosen and a different name is refused, as a HOST naming another host
// than the TLS server name is (RFC 7151 7).
int TlsContext::on_server_name(SSL* ssl, int* alert, void* arg) {
  const auto* self = static_cast<const TlsContext*>(arg);
  auto* sessions = static_cast<TlsSessions*>(SSL_get_ex_data(ssl, owner_index()));
  if (sessions == nullptr)
    sessions = static_cast<TlsSessions*>(SSL_get_ex_data(ssl, resume_index()));
  const std::string sni = server_name(ssl);
  if (sessions != nullptr && !sessions->host().empty()) {
    if (!sni.empty() && !same_host_name(sni, sessions->host())) {
      *alert = SSL_AD_UNRECOGNIZED_NAME;
      return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
  }
  if (sni.empty())
    return SSL_TLSEXT_ERR_NOACK;
  if (const Host* h = self->find_host(sni))
    SSL_set_SSL_CTX(ssl, h->ctx->native_handle());
  return SSL_TLSEXT_ERR_OK;
}

void TlsContext::attach(SSL* ssl, TlsSessions& sessions, bool data) const {
  SSL_set_ex_data(ssl, data ? resume_index() : owner_index(), &sessions);
  if (const Host* h = find_host(sessions.host()); h != nullptr)
    SSL_set_SSL_CTX(ssl, h->ctx->native_handle());
}

void TlsContext::control_established(SSL* ssl, TlsSessions& sessions) {
  if (SSL_session_reused(ssl) != 1)
    return;
  if (SSL_SESSION* session = SSL_get_session(ssl); session != nullptr)
    sessions.adopt(tag_of(session));
}

bool TlsContext::resumed(SSL* ssl) {
  return SSL_session_reused(ssl) == 1;
}

bool TlsContext::resumed_session_of(SSL* ssl, const TlsSessions& sessions) {
  if (SSL_session_reused(ssl) != 1)
    return false;
  SSL_SESSION* session = SSL_get_session(ssl);
  if (session == nullptr)
    return false;
  return sessions.owns(tag_of(session));
}

} // namespace berth::net
