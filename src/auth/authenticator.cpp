#include "auth/authenticator.hpp"

#include "auth/authorized_keys.hpp"
#include "auth/certificates.hpp"
#include "auth/defender.hpp"
#include "auth/password.hpp"
#include "auth/revoked_keys.hpp"
#include "auth/ssh_cert.hpp"
#include "auth/ssh_wire.hpp"
#include "core/cidr.hpp"
#include "core/log.hpp"
#include "net/throttle.hpp"
#include "vfs/errc.hpp"
#include "vfs/guarded/guarded_fs.hpp"
#include "vfs/quota.hpp"
#include "vfs/storage_backends.hpp"

#include <sodium.h>

#include <fstream>
#include <iterator>

namespace berth::auth {
namespace {

class Category final : public std::error_category {
public:
  const char* name() const noexcept override { return "berth.auth"; }
  std::string message(int e) const override {
    switch (static_cast<Errc>(e)) {
    case Errc::bad_credentials:
      return "login incorrect";
    case Errc::disabled:
      return "user disabled";
    case Errc::address_not_allowed:
      return "user may not log in from this address";
    case Errc::banned:
      return "address banned after failed logins";
    case Errc::limit_reached:
      return "limit reached";
    case Errc::busy:
      return "too many logins in progress";
    }
    return "authentication error";
  }
};

AddressRules address_rules(const core::LimitsConfig& c) {
  AddressRules r;
  r.ipv6_prefix = c.ipv6_prefix;
  r.max_checks = c.max_password_checks;
  r.max_checks_per_address = c.max_password_checks_per_ip;
  r.max_handshakes_per_minute = c.max_tls_handshakes_per_ip;
  return r;
}

constexpr std::size_t kMaxCacheEntries = 10000;
// Per-user registries are swept of unused entries above this size.
constexpr std::size_t kSweepAbove = 1000;
// A user's quota is counted again from the home when it was unused this long.
constexpr std::chrono::minutes kQuotaRecount{5};

} // namespace

const std::error_category& auth_category() noexcept {
  static const Category category;
  return category;
}

LiveState::LiveState(std::size_t hash_workers, core::WorkerPool::Start when)
    : pool_(hash_workers, when) {}

LiveState::~LiveState() = default;

Authenticator::Authenticator(std::shared_ptr<store::UserStore> users, std::size_t workers,
                             AuthSettings settings, Defender* defender, core::WorkerPool* io)
    : Authenticator(std::move(users), std::make_shared<LiveState>(workers), std::move(settings),
                    defender, io) {}

Authenticator::Authenticator(std::shared_ptr<store::UserStore> users,
                             std::shared_ptr<LiveState> live, AuthSettings settings,
                             Defender* defender, core::WorkerPool* io)
    : users_(std::move(users)), live_(std::move(live)), settings_(std::move(settings)),
      defender_(defender), io_(io),
      limits_(live_->counts_, settings_.limits.max_connections,
              settings_.limits.max_connections_per_ip, address_rules(settings_.limits)) {
  if (!settings_.storage) {
    vfs::StorageSettings local;
    local.upload_mode = settings_.upload_mode;
    settings_.storage = std::make_shared<vfs::StorageBackends>(io_, std::move(local));
  }
  // One global bucket per direction while its rate stays: a reload that does
  // not change it does not hand the server a fresh burst.
  auto global = [](std::shared_ptr<net::Throttle>& slot, std::uint64_t rate) {
    if (rate == 0)
      slot = nullptr;
    else if (!slot || slot->rate() != rate)
      slot = std::make_shared<net::Throttle>(rate);
    return slot;
  };
  {
    std::lock_guard lock(live_->mu_);
    global_upload_ = global(live_->global_upload_, settings_.bandwidth.upload_rate);
    global_download_ = global(live_->global_download_, settings_.bandwidth.download_rate);
  }
  live_->open_files_->set_limits(settings_.open_files.total, settings_.open_files.per_user);
  randombytes_buf(cache_secret_.data(), cache_secret_.size());
}

Authenticator::~Authenticator() = default;

core::Task<bool> Authenticator::is_banned(const asio::ip::address& client) {
  if (defender_ == nullptr)
    co_return false;
  auto left = co_await defender_->banned(client);
  co_return left.has_value();
}

core::Task<core::Result<Limits::Ticket>> Authenticator::admit(const asio::ip::address& client,
                                                              std::string& reason) {
  if (co_await is_banned(client)) {
    reason = "Your address is banned after too many failed logins.";
    co_return core::unexpected(Errc::banned);
  }
  auto ticket = limits_.connect(client, &reason);
  if (!ticket)
    co_return core::unexpected(Errc::limit_reached);
  co_return std::move(ticket);
}

bool Authenticator::allow_tls_handshake(const asio::ip::address& client) {
  return limits_.allow_handshake(client, std::chrono::steady_clock::now());
}

std::string Authenticator::cache_key(const std::string& user, const std::string& password) const {
  // SECURITY: the cache holds a keyed hash of the password (secret key made at
  // start), never the password; a memory dump does not give it away cheaply.
  std::array<unsigned char, 32> h{};
  crypto_generichash_state st;
  crypto_generichash_init(&st, cache_secret_.data(), cache_secret_.size(), h.size());
  auto u8 = [](const std::string& s) { return reinterpret_cast<const unsigned char*>(s.data()); };
  crypto_generichash_update(&st, u8(user), user.size());
  const unsigned char sep = 0;
  crypto_generichash_update(&st, &sep, 1);
  crypto_generichash_update(&st, u8(password), password.size());
  crypto_generichash_final(&st, h.data(), h.size());
  return user + '\0' + std::string(reinterpret_cast<const char*>(h.data()), h.size());
}

bool Authenticator::cached(const std::string& key, std::uint64_t revision) {
  if (settings_.login_cache_ttl.count() == 0)
    return false;
  std::lock_guard lock(mu_);
  auto it = cache_.find(key);
  if (it == cache_.end())
    return false;
  if (it->second.revision != revision || it->second.expires <= std::chrono::steady_clock::now()) {
    cache_.erase(it); // the user changed, or the entry is old
    return false;
  }
  return true;
}

void Authenticator::remember(const std::string& key, std::uint64_t revision) {
  if (settings_.login_cache_ttl.count() == 0)
    return;
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  if (cache_.size() >= kMaxCacheEntries) {
    std::erase_if(cache_, [&](const auto& e) { return e.second.expires <= now; });
    if (cache_.size() >= kMaxCacheEntries)
      cache_.clear(); // bounded memory: a flood of distinct logins only costs re-hashing
  }
  cache_[key] = CacheEntry{revision, now + settings_.login_cache_ttl};
}

core::Task<core::Result<Account>> Authenticator::check_rules(const store::UserRecord& record,
                                                             const asio::ip::address& client) {
  if (record.disabled)
    co_return core::unexpected(Errc::disabled);
  if (!record.allow_from.empty()) {
    auto allowed = core::CidrList::parse(record.allow_from);
    if (!allowed || !allowed->contains(client))
      co_return core::unexpected(Errc::address_not_allowed);
  }
  std::string why;
  auto home = vfs::Location::parse(record.home.string(), &why);
  if (!home) {
    // SECURITY: a home that does not parse is never guessed at.
    spdlog::error("auth: user {} has an unusable home: {}", record.name, why);
    co_return core::unexpected(home.error());
  }
  Account a;
  a.name = record.name;
  a.home = std::move(*home);
  a.permissions = record.permissions;
  a.quota_bytes = record.quota_bytes;
  a.quota_files = record.quota_files;
  a.max_sessions = record.max_sessions;
  a.upload_rate = record.upload_rate;
  a.download_rate = record.download_rate;
  co_return a;
}

core::Task<core::Result<store::UserRecord>> Authenticator::look_up(const std::string& user) {
  auto record = co_await users_->find(user);
  // A store failure (a database locked too long) is not the client's fault:
  // the callers pass it on, not counted against the client's address.
  if (!record && record.error() != store::Errc::no_such_user)
    spdlog::error("auth: can not look up user {}: {}", core::printable(user),
                  record.error().message());
  co_return record;
}

const std::string& Authenticator::dummy_hash() {
  std::call_once(dummy_once_,
                 [this] { dummy_hash_ = hash_password(random_password(24), settings_.hash_cost); });
  return dummy_hash_;
}

core::Task<bool> Authenticator::verify(const std::string& hash, const std::string& password) {
  // An empty hash stands for dummy_hash(), made (once) on the pool, not on a loop.
  auto check = [this, &hash, &password] {
    const bool dummy = hash.empty();
    const bool ok = settings_.verify(dummy ? dummy_hash() : hash, password);
    return ok && !dummy;
  };
  co_return co_await live_->pool_.run(check);
}

core::Task<core::Result<Account>> Authenticator::authenticate(const std::string& user,
                                                              const std::string& password,
                                                              const asio::ip::address& client) {
  if (co_await is_banned(client))
    co_return core::unexpected(Errc::banned);
  // SECURITY: a password check waits for a few hash workers. Bounded per
  // address and in all, a flood of logins is refused at once instead of
  // queueing every other user's check behind its own; a refusal counts as a
  // failure. The ticket is held until the check, and its one hash, are done.
  const Limits::Ticket check = limits_.check_password(client);
  if (!check) {
    co_await record_failure(client);
    co_return core::unexpected(Errc::busy);
  }
  auto record = co_await look_up(user);
  if (!record && record.error() != store::Errc::no_such_user)
    co_return core::unexpected(record.error());
  bool ok = false;
  // SECURITY: every failed login pays exactly one hash verification, so that
  // its time tells nothing (issue 17: plain `password` users and cached
  // logins were answered without one, unknown users after one).
  bool paid = false;
  const bool has_hash = record && !record->password_hash.empty();
  if (record && !has_hash && !record->password.empty()) {
    ok = equal_constant_time(record->password, password);
  } else {
    const std::string key = has_hash ? cache_key(user, password) : std::string();
    if (has_hash && cached(key, record->revision)) {
      ok = true;
    } else {
      // The user's hash, or for an unknown user and for a key-only user
      // (SECURITY: no password may match) the dummy one.
      const std::string hash = has_hash ? record->password_hash : std::string();
      ok = co_await verify(hash, password);
      paid = true;
      if (ok)
        remember(key, record->revision);
    }
  }
  core::Result<Account> account = core::unexpected(Errc::bad_credentials);
  if (ok)
    account = co_await check_rules(*record, client);
  if (!account && !paid) {
    const std::string none;
    (void)co_await verify(none, password);
  }
  if (!ok)
    co_await record_failure(client);
  co_return account;
}

namespace {

// A whole file of at most `limit` bytes; nullopt when it can not be read or is larger.
std::optional<std::string> read_small_file(const std::filesystem::path& path, std::size_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return std::nullopt;
  std::string out;
  char buf[8192];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    out.append(buf, static_cast<std::size_t>(in.gcount()));
    if (out.size() > limit)
      return std::nullopt;
  }
  if (in.bad())
    return std::nullopt;
  return out;
}

constexpr std::size_t kMaxCaFileSize = 1024 * 1024;

} // namespace

std::optional<RevokedKeys> load_revoked_keys(const std::filesystem::path& path, std::string& why) {
  auto bytes = read_small_file(path, kMaxRevokedKeysSize);
  why = "can not be read (or is over 16 MiB)";
  if (!bytes)
    return std::nullopt;
  auto parsed = RevokedKeys::parse(*bytes, why);
  if (!parsed)
    return std::nullopt;
  return std::move(*parsed);
}

struct Authenticator::KeyFiles {
  std::string trusted_ca;
  std::optional<RevokedKeys> revoked;
  std::string error; ///< Non-empty: a file could not be read; every key is refused.
};

Authenticator::KeyFiles Authenticator::load_key_files(bool want_ca) const {
  KeyFiles f;
  if (want_ca && !settings_.trusted_user_ca_keys.empty()) {
    auto text = read_small_file(settings_.trusted_user_ca_keys, kMaxCaFileSize);
    if (!text)
      f.error = "trusted_user_ca_keys can not be read (or is over 1 MiB)";
    else
      f.trusted_ca = std::move(*text);
  }
  if (!settings_.revoked_keys.empty()) {
    std::string why;
    f.revoked = load_revoked_keys(settings_.revoked_keys, why);
    // SECURITY: as sshd, a revocation list that can not be read refuses every key.
    if (!f.revoked)
      f.error = "revoked_keys " + why;
  }
  return f;
}

core::Task<core::Result<Account>> Authenticator::authenticate_key(const std::string& user,
                                                                  std::string_view type,
                                                                  std::string_view blob,
                                                                  const asio::ip::address& client) {
  if (co_await is_banned(client))
    co_return core::unexpected(Errc::banned);
  auto record = co_await look_up(user);
  if (!record && record.error() != store::Errc::no_such_user)
    co_return core::unexpected(record.error());
  if (!record)
    co_return core::unexpected(Errc::bad_credentials);
  // sshd reads TrustedUserCAKeys and RevokedKeys for every key, so that a
  // revocation takes effect at once; the files may be slow to read.
  const bool cert = is_cert_type(type);
  KeyFiles files;
  if (cert || !settings_.revoked_keys.empty()) {
    auto load = [this, cert] { return load_key_files(cert); };
    if (io_ != nullptr)
      files = co_await io_->run(load);
    else
      files = load();
  }
  const auto now = std::chrono::system_clock::now();
  KeyDecision decision;
  auto raw = decode_base64(blob);
  if (!files.error.empty()) {
    decision.reason = files.error;
  } else if (!raw) {
    decision.reason = "public key is not base64";
  } else if (cert) {
    CertContext ctx{user,
                    &record->authorized_keys,
                    files.trusted_ca,
                    files.revoked ? &*files.revoked : nullptr,
                    client,
                    now};
    decision = check_certificate(*raw, ctx);
  } else if (files.revoked && files.revoked->key_revoked(*raw)) {
    decision.reason = "key is revoked (revoked_keys)";
  } else {
    decision = check_authorized_keys(record->authorized_keys, type, blob, client, now);
  }
  if (!decision.allowed) {
    if (!decision.reason.empty())
      spdlog::warn("auth: {} public key for {} refused: {}", client.to_string(),
                   core::printable(user), decision.reason);
    co_return core::unexpected(Errc::bad_credentials);
  }
  co_return co_await check_rules(*record, client);
}

core::Task<void> Authenticator::record_failure(const asio::ip::address& client) {
  if (defender_ != nullptr)
    co_await defender_->failed(client);
}

bool Authenticator::is_anonymous(std::string_view user) const {
  return settings_.anonymous.enabled && (user == "anonymous" || user == "ftp");
}

Account Authenticator::anonymous() const {
  Account a;
  a.name = "anonymous";
  // Checked when the configuration was read (server/wiring).
  auto home = vfs::Location::parse(settings_.anonymous.home.string());
  a.home = home ? std::move(*home) : vfs::Location::local(settings_.anonymous.home);
  a.permissions = settings_.anonymous.permissions;
  a.anonymous = true;
  return a;
}

core::Task<core::Result<std::shared_ptr<vfs::Quota>>>
Authenticator::user_quota(const Account& account) {
  const auto max_bytes = static_cast<std::int64_t>(account.quota_bytes);
  const auto max_files = static_cast<std::int64_t>(account.quota_files);
  const auto now = std::chrono::steady_clock::now();
  {
    // One quota per user, shared by all their sessions (two sessions racing
    // for the last bytes can not both win). It is kept for a while after the
    // last session, so that a client reconnecting for every file does not
    // make berth count the whole home each time.
    std::lock_guard lock(live_->mu_);
    auto it = live_->quotas_.find(account.name);
    if (it != live_->quotas_.end() &&
        (it->second.quota.use_count() > 1 || now - it->second.counted < kQuotaRecount)) {
      it->second.quota->set_limits(max_bytes, max_files);
      co_return it->second.quota;
    }
  }
  // Counted before it is published: a session that starts meanwhile counts
  // too and the first to finish is used, so nobody ever sees a quota that has
  // not counted the home yet.
  core::Result<vfs::Usage> usage = core::unexpected(vfs::Errc::io_error);
  if (counted_in_store(account))
    usage = co_await stored_usage(account);
  else
    usage = co_await settings_.storage->usage(account.home, false);
  if (!usage) {
    spdlog::error("quota: can not count the home of {}: {}", account.name, usage.error().message());
    co_return core::unexpected(usage.error());
  }
  std::lock_guard lock(live_->mu_);
  if (live_->quotas_.size() > kSweepAbove)
    std::erase_if(live_->quotas_, [&](const auto& e) {
      return e.second.quota.use_count() == 1 && now - e.second.counted >= kQuotaRecount;
    });
  auto& slot = live_->quotas_[account.name];
  if (!slot.quota || (slot.quota.use_count() == 1 && slot.counted < now)) {
    slot.quota = std::make_shared<vfs::Quota>(max_bytes, max_files, *usage);
    slot.counted = now;
    if (counted_in_store(account)) {
      // Each change is added to the stored counter on a worker, in any order
      // (the adds commute); the quota's lock is never held across it.
      auto state = settings_.storage_state;
      core::WorkerPool* io = io_;
      slot.quota->observe([state, io, user = account.name](std::int64_t bytes, std::int64_t files) {
        auto add = [state, user, bytes, files] {
          if (auto r = state->add_usage(user, bytes, files); !r)
            spdlog::warn("quota: can not store the usage of {}: {}", user, r.error().message());
        };
        if (io != nullptr)
          io->post(add);
        else
          add();
      });
    }
  } else {
    slot.quota->set_limits(max_bytes, max_files);
  }
  co_return slot.quota;
}

bool Authenticator::counted_in_store(const Account& account) const {
  return settings_.storage_state != nullptr && account.home.kind() == vfs::Location::Kind::s3;
}

core::Task<core::Result<vfs::Usage>> Authenticator::stored_usage(const Account& account) {
  auto state = settings_.storage_state;
  const std::string user = account.name;
  auto read = [state, user] { return state->usage(user); };
  core::Result<std::optional<store::UsageRecord>> stored = core::unexpected(vfs::Errc::io_error);
  if (io_ != nullptr)
    stored = co_await io_->run(read);
  else
    stored = read();
  if (stored && *stored)
    co_return vfs::Usage{(*stored)->bytes, (*stored)->files};
  if (!stored)
    spdlog::warn("quota: can not read the stored usage of {}: {}; counting the home", user,
                 stored.error().message());
  // Never counted (or the counter can not be read): walk the home once.
  auto counted = co_await settings_.storage->usage(account.home, true);
  if (!counted)
    co_return counted;
  const store::UsageRecord record{counted->bytes, counted->files};
  auto write = [state, user, record] { return state->set_usage(user, record); };
  core::Result<void> written = core::unexpected(vfs::Errc::io_error);
  if (io_ != nullptr)
    written = co_await io_->run(write);
  else
    written = write();
  if (!written)
    spdlog::warn("quota: can not store the usage of {}: {}", user, written.error().message());
  co_return counted;
}

core::Task<core::Result<UserSession>> Authenticator::open_session(const Account& account,
                                                                  std::string& reason) {
  UserSession session;
  // A finite default: one user's sessions must not take every descriptor.
  const std::uint32_t max_sessions =
      account.max_sessions != 0 ? account.max_sessions : settings_.limits.max_sessions_per_user;
  session.ticket = limits_.log_in(account.name, max_sessions, &reason);
  if (!session.ticket)
    co_return core::unexpected(Errc::limit_reached);
  auto local = co_await settings_.storage->open(account.home);
  if (!local)
    co_return core::unexpected(local.error());

  vfs::Rules rules;
  rules.permissions = account.permissions;
  rules.user = account.name;
  rules.open_files = live_->open_files_;
  std::shared_ptr<vfs::Quota> quota;
  // A home in object storage keeps its usage counted (limits or not), so
  // that a quota set later starts from the truth without a walk.
  if (account.quota_bytes != 0 || account.quota_files != 0 || counted_in_store(account)) {
    auto q = co_await user_quota(account);
    if (!q)
      co_return core::unexpected(q.error());
    quota = std::move(*q);
  }
  {
    // One pair of throttles per user, shared by their sessions.
    std::lock_guard lock(live_->mu_);
    if (live_->throttles_.size() > kSweepAbove)
      std::erase_if(live_->throttles_, [](const auto& e) {
        return e.second.first.expired() && e.second.second.expired();
      });
    auto& [up, down] = live_->throttles_[account.name];
    auto throttle = [](std::weak_ptr<net::Throttle>& slot, std::uint64_t rate) {
      auto t = slot.lock();
      if (rate == 0)
        return std::shared_ptr<net::Throttle>();
      if (!t || t->rate() != rate) {
        t = std::make_shared<net::Throttle>(rate);
        slot = t;
      }
      return t;
    };
    if (auto t = throttle(up, account.upload_rate))
      rules.upload.push_back(std::move(t));
    if (auto t = throttle(down, account.download_rate))
      rules.download.push_back(std::move(t));
  }
  if (global_upload_)
    rules.upload.push_back(global_upload_);
  if (global_download_)
    rules.download.push_back(global_download_);
  rules.quota = std::move(quota);
  session.fs = vfs::guard(std::move(*local), std::move(rules));
  co_return std::move(session);
}

} // namespace berth::auth
