#pragma once
// Who may log in, from where, and what their session gets: checks credentials
// against the user store for every protocol, applies the user's address rules,
// the defender's bans and the connection limits, and opens the user's
// filesystem with their permissions, quota and bandwidth limits.

#include "auth/limits.hpp"
#include "auth/login_attempts.hpp"
#include "auth/password.hpp"
#include "auth/revoked_keys.hpp"
#include "core/config.hpp"
#include "core/result.hpp"
#include "core/task.hpp"
#include "core/worker_pool.hpp"
#include "store/storage_state.hpp"
#include "store/user_store.hpp"
#include "vfs/backends.hpp"
#include "vfs/filesystem.hpp"
#include "vfs/location.hpp"
#include "vfs/open_files.hpp"

#include <asio/ip/address.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace berth::net {
class Throttle;
}
namespace berth::vfs {
class Quota;
}

namespace berth::auth {

class Defender;

/// A logged-in user and the rules of their sessions.
struct Account {
  std::string name;
  vfs::Location home; ///< Where the user's files are (vfs::Backends opens it).
  core::Permissions permissions = core::Permissions::all();
  std::uint64_t quota_bytes = 0;
  std::uint64_t quota_files = 0;
  std::uint32_t max_sessions = 0;
  std::uint64_t upload_rate = 0;
  std::uint64_t download_rate = 0;
  bool anonymous = false;
};

enum class Errc {
  bad_credentials = 1, ///< Unknown user or wrong password (never says which).
  disabled,            ///< The user is disabled (the client is told bad_credentials).
  address_not_allowed, ///< The user may not log in from this address (ditto).
  banned,              ///< The client's address is banned by the defender.
  limit_reached,       ///< A connection or session limit is reached.
  busy, ///< Too many password checks in progress (from the client's address, or in all).
};
const std::error_category& auth_category() noexcept;
inline std::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), auth_category()};
}

/// How the Authenticator is set up; the defaults suit tests.
struct AuthSettings {
  LoginPolicy policy;
  core::AnonymousConfig anonymous;
  /// How long a verified password is remembered (SFTPGo's password cache): a
  /// client that logs in for every file pays argon2id once. 0: off.
  std::chrono::seconds login_cache_ttl{300};
  core::LimitsConfig limits;
  core::BandwidthConfig bandwidth;
  core::UploadMode upload_mode = core::UploadMode::atomic;
  /// The argon2id cost of `[users]`: what a failed login pays when the user
  /// has no hash of their own (unknown, plain `password`, keys only).
  HashCost hash_cost;
  /// The budget of open files (vfs::OpenFiles); 0: none.
  vfs::OpenFileLimits open_files;
  /// sshd's TrustedUserCAKeys and RevokedKeys ([sftp] trusted_user_ca_keys,
  /// revoked_keys); empty: none. Read again for every key a client offers.
  std::filesystem::path trusted_user_ca_keys;
  std::filesystem::path revoked_keys;
  /// Opens homes and counts their usage; null: local directories only
  /// (vfs::StorageBackends with upload_mode).
  std::shared_ptr<vfs::Backends> storage;
  /// The node database's usage counters: a user whose home is in object
  /// storage is counted from it (no walk of the bucket at login) and every
  /// change of their usage is added to it. Null: every home is counted.
  std::shared_ptr<store::StorageState> storage_state;
  /// Checks a password against a stored hash (verify_hash; tests count calls).
  std::function<bool(std::string_view hash, std::string_view password)> verify = verify_hash;
};

/// A logged-in session's resources; destroying it frees the session's place.
struct UserSession {
  std::unique_ptr<vfs::Filesystem> fs;
  Limits::Ticket ticket;
};

/// What a reload must not reset, shared by every Authenticator of one server
/// (the current one and the older ones that running sessions still hold):
/// the counts of connections, sessions and open files, each user's quota and throttles,
/// the global throttles, and the password-hash workers. Thread-safe.
class LiveState {
public:
  /// `hash_workers` threads verify passwords, from `when` on.
  explicit LiveState(std::size_t hash_workers,
                     core::WorkerPool::Start when = core::WorkerPool::Start::now);
  ~LiveState();
  LiveState(const LiveState&) = delete;
  LiveState& operator=(const LiveState&) = delete;

  /// Lets running hash verifications finish and ends the workers (the server
  /// calls it after its event loops stopped). No login may follow.
  void join_workers() { pool_.join(); }
  /// Starts the hash workers made with Start::later.
  void start_workers() { pool_.start(); }

private:
  friend class Authenticator;
  core::WorkerPool pool_;
  Limits counts_{0, 0}; // its counts are shared by every Authenticator's Limits
  // Every session's open files; the newest Authenticator sets its limits.
  std::shared_ptr<vfs::OpenFiles> open_files_ = std::make_shared<vfs::OpenFiles>(0, 0);

  std::mutex mu_;
  struct QuotaSlot {
    std::shared_ptr<vfs::Quota> quota;             ///< Kept a while after the user's last session.
    std::chrono::steady_clock::time_point counted; ///< When the home was last scanned.
  };
  std::map<std::string, QuotaSlot> quotas_; // guarded by mu_
  std::map<std::string, std::pair<std::weak_ptr<net::Throttle>, std::weak_ptr<net::Throttle>>>
      throttles_;                                                  // guarded by mu_
  std::shared_ptr<net::Throttle> global_upload_, global_download_; // guarded by mu_
};

/// Thread-safe. Hash verification runs on a bounded worker pool, so a login
/// storm never stalls an event loop.
/// Reads and parses a revocation file ([sftp] revoked_keys) as every key
/// login does; nullopt with `why` set when it can not be used (then every
/// key is refused). `serve` and `check-config` call it at start too, so a bad
/// file is one line there rather than refused logins later.
std::optional<RevokedKeys> load_revoked_keys(const std::filesystem::path& path, std::string& why);

class Authenticator {
public:
  /// `defender` (may be null) and `io` (may be null: file scans inline) outlive this.
  Authenticator(std::shared_ptr<store::UserStore> users, std::size_t workers,
                AuthSettings settings = {}, Defender* defender = nullptr,
                core::WorkerPool* io = nullptr);
  /// An Authenticator for a (re)loaded configuration: counts, quotas,
  /// throttles and workers come from `live`, shared with the Authenticators
  /// before it. Global throttles are kept when their rate is unchanged.
  Authenticator(std::shared_ptr<store::UserStore> users, std::shared_ptr<LiveState> live,
                AuthSettings settings, Defender* defender, core::WorkerPool* io);
  ~Authenticator();

  /// How failed logins are counted and slowed down, for every protocol.
  const LoginPolicy& policy() const { return settings_.policy; }

  /// A new connection from `client`: refused (Errc::banned, Errc::limit_reached
  /// with `reason` set for the reply) or admitted with a ticket to keep while it lasts.
  core::Task<core::Result<Limits::Ticket>> admit(const asio::ip::address& client,
                                                 std::string& reason);

  /// Whether `client` may have one more full TLS handshake on a control
  /// connection now ([limits] max_tls_handshakes_per_ip a minute); counts it.
  bool allow_tls_handshake(const asio::ip::address& client);

  /// Verifies `password` for `user` connecting from `client`. Errors:
  /// bad_credentials, disabled, address_not_allowed, banned, busy (too many
  /// checks in progress: [limits] max_password_checks, _per_ip); failures and
  /// busy refusals count towards the client's ban. A store error (store::Errc::database) is
  /// passed on and not counted: the client should try again later.
  core::Task<core::Result<Account>> authenticate(const std::string& user,
                                                 const std::string& password,
                                                 const asio::ip::address& client);

  /// True when anonymous FTP is on and `user` is one of its names.
  bool is_anonymous(std::string_view user) const;
  /// The anonymous account (FTP only; see is_anonymous()).
  Account anonymous() const;

  /// Public-key login (SFTP): `type`/`blob` (base64) checked against the
  /// user's authorized_keys lines and options, or for a certificate type
  /// against its CA (cert-authority lines, trusted_user_ca_keys) and its
  /// fields (check_certificate()); a key or certificate in revoked_keys, or
  /// any key while that file can not be read, is refused. Errors as
  /// authenticate(); the reason a matching key was refused is logged. Does not count as a failure:
  /// a client offers several keys (record_failure() after a signature that failed).
  core::Task<core::Result<Account>> authenticate_key(const std::string& user, std::string_view type,
                                                     std::string_view blob,
                                                     const asio::ip::address& client);

  /// Counts a failed attempt that did not go through authenticate().
  core::Task<void> record_failure(const asio::ip::address& client);

  /// Opens `account`'s filesystem with its rules (permissions, quota, rates)
  /// and takes a session place. Errors: Errc::limit_reached (`reason` set),
  /// or the filesystem's error when the home is unavailable.
  core::Task<core::Result<UserSession>> open_session(const Account& account, std::string& reason);

private:
  struct CacheEntry {
    std::uint64_t revision;
    std::chrono::steady_clock::time_point expires;
  };
  core::Task<bool> is_banned(const asio::ip::address& client);
  core::Task<core::Result<store::UserRecord>> look_up(const std::string& user);
  core::Task<core::Result<std::shared_ptr<vfs::Quota>>> user_quota(const Account& account);
  /// Whether `account`'s usage is kept in settings_.storage_state.
  bool counted_in_store(const Account& account) const;
  /// The stored usage of `account`, or when there is none yet its home counted
  /// by its backend and stored.
  core::Task<core::Result<vfs::Usage>> stored_usage(const Account& account);
  std::string cache_key(const std::string& user, const std::string& password) const;
  bool cached(const std::string& key, std::uint64_t revision);
  void remember(const std::string& key, std::uint64_t revision);
  struct KeyFiles;
  /// Reads trusted_user_ca_keys (when `want_ca`) and revoked_keys.
  KeyFiles load_key_files(bool want_ca) const;
  core::Task<core::Result<Account>> check_rules(const store::UserRecord& record,
                                                const asio::ip::address& client);
  /// One verification on the hash workers: against `hash`, or when it is
  /// empty against dummy_hash() (then never true).
  core::Task<bool> verify(const std::string& hash, const std::string& password);
  /// A hash of a random password at the configured cost, made once, on a worker.
  const std::string& dummy_hash();

  std::shared_ptr<store::UserStore> users_; // shared: the server keeps it for reloads
  std::shared_ptr<LiveState> live_;         // shared with the Authenticators of other reloads
  AuthSettings settings_;
  Defender* defender_;
  core::WorkerPool* io_;
  Limits limits_;
  std::shared_ptr<net::Throttle> global_upload_, global_download_;

  // The login cache is this configuration's own: a reload that changes a
  // password of the configuration (whose revision stays 0) must not keep it.
  std::mutex mu_;
  std::map<std::string, CacheEntry> cache_; // guarded by mu_
  std::array<unsigned char, 32> cache_secret_{};
  std::once_flag dummy_once_;
  std::string dummy_hash_; // written once under dummy_once_
};

} // namespace berth::auth

template <> struct std::is_error_code_enum<berth::auth::Errc> : std::true_type {};
