#include "auth/defender.hpp"

#include "core/log.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <limits>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace berth::auth {
namespace {

using TimePoint = std::chrono::system_clock::time_point;
using std::chrono::seconds;

// Stale entries dropped per call: bounded work under the lock; the size cap
// bounds memory whatever is left.
constexpr std::size_t kPruneBatch = 16;

/// A map that remembers at most `capacity` keys, in the order they were last
/// put: the oldest is forgotten to make room. Not thread-safe.
template <class V> class BoundedMap {
public:
  explicit BoundedMap(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

  V* find(const std::string& key) {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &it->second->second;
  }

  /// Inserts or replaces `key`, which becomes the newest entry.
  V& put(const std::string& key, V value) {
    if (auto it = index_.find(key); it != index_.end()) {
      order_.splice(order_.end(), order_, it->second);
      it->second->second = std::move(value);
      return it->second->second;
    }
    if (index_.size() >= capacity_) {
      index_.erase(order_.front().first);
      order_.pop_front();
    }
    order_.emplace_back(key, std::move(value));
    auto last = std::prev(order_.end());
    index_.emplace(std::string_view(last->first), last);
    return last->second;
  }

  void erase(const std::string& key) {
    if (auto it = index_.find(key); it != index_.end()) {
      auto node = it->second;
      index_.erase(it);
      order_.erase(node);
    }
  }

  /// Forgets the oldest entries while `stale` holds for them, at most `limit`.
  template <class F> void prune(F stale, std::size_t limit) {
    while (limit-- > 0 && !order_.empty() && stale(order_.front().second)) {
      index_.erase(order_.front().first);
      order_.pop_front();
    }
  }

  template <class F> std::size_t count_if(F pred) const {
    return static_cast<std::size_t>(std::count_if(
        order_.begin(), order_.end(), [&](const auto& entry) { return pred(entry.second); }));
  }

  std::size_t size() const { return index_.size(); }

private:
  using List = std::list<std::pair<std::string, V>>;
  std::size_t capacity_;
  List order_;                                                          // oldest first
  std::unordered_map<std::string_view, typename List::iterator> index_; // keys live in order_
};

/// Failed logins of one address in its current window.
struct Failures {
  unsigned count = 0;
  TimePoint window_start;
};

/// What memory knows of an address's ban.
struct Known {
  TimePoint checked;       ///< When the store last told (or was told) this.
  TimePoint until;         ///< End of the last ban; not after now: not banned.
  std::uint32_t level = 0; ///< Level of the last ban; 0: none.
  bool persisted = false;  ///< The store holds this ban (false: ours, unwritten or failed).
};

seconds remaining(TimePoint until, TimePoint now) {
  return std::chrono::ceil<seconds>(until - now);
}

} // namespace

struct Defender::State {
  explicit State(std::size_t capacity) : failures(capacity), known(capacity) {}

  /// Forgets a few entries that no longer matter: failure windows that ended,
  /// and ban knowledge that is neither in force nor still useful (with a store:
  /// not checked lately; without one: its level no longer counts).
  void prune(TimePoint now, const DefenderConfig& config, bool with_store) {
    failures.prune([&](const Failures& f) { return now - f.window_start >= config.window; },
                   kPruneBatch);
    known.prune(
        [&](const Known& k) {
          if (k.until > now)
            return false;
          if (with_store)
            return now - k.checked >= config.store_recheck;
          return k.until + config.max_ban_time < now;
        },
        kPruneBatch);
  }

  mutable std::mutex mutex;
  BoundedMap<Failures> failures; // ordered by window start
  BoundedMap<Known> known;       // ordered by last write
};

namespace {

std::shared_ptr<const DefenderConfig> normalized(DefenderConfig c) {
  c.max_failures = std::max(c.max_failures, 1u);
  c.ban_time = std::max(c.ban_time, seconds(1));
  c.max_ban_time = std::max(c.max_ban_time, c.ban_time);
  return std::make_shared<const DefenderConfig>(std::move(c));
}

} // namespace

Defender::Defender(DefenderConfig config, store::BanStore* bans, Clock clock)
    : config_(normalized(std::move(config))), bans_(bans), clock_(std::move(clock)),
      state_(std::make_unique<State>(config_->max_tracked)) {
  if (!clock_)
    clock_ = [] { return std::chrono::system_clock::now(); };
}

Defender::~Defender() = default;

void Defender::reconfigure(DefenderConfig config) {
  auto fresh = normalized(std::move(config));
  std::lock_guard lock(config_mu_);
  config_ = std::move(fresh);
}

std::shared_ptr<const DefenderConfig> Defender::config() const {
  std::lock_guard lock(config_mu_);
  return config_;
}

namespace {

// The level of a ban that ended at `until` if it still counts as "in a row", else 0.
std::uint32_t level_now(std::uint32_t level, TimePoint until, TimePoint now,
                        const DefenderConfig& config) {
  if (level == 0 || until + config.max_ban_time < now)
    return 0;
  return level;
}

seconds ban_duration(std::uint32_t level, const DefenderConfig& config) {
  seconds d = config.ban_time;
  for (std::uint32_t i = 1; i < level && d < config.max_ban_time; ++i)
    d *= 2;
  return std::min(d, config.max_ban_time);
}

} // namespace

core::Task<std::optional<seconds>> Defender::banned(const asio::ip::address& client) {
  // This call's settings: a reload may change them meanwhile.
  const std::shared_ptr<const DefenderConfig> settings = config();
  const DefenderConfig& c = *settings;
  if (!c.enabled || c.allow.contains(client))
    co_return std::nullopt;
  const std::string key = core::address_group(client, c.ipv6_prefix);
  {
    std::lock_guard lock(state_->mutex);
    const TimePoint now = clock_();
    state_->prune(now, c, bans_ != nullptr);
    if (const Known* k = state_->known.find(key)) {
      if (k->until > now) {
        if (bans_ == nullptr || !k->persisted)
          co_return remaining(k->until, now);
        // A stored ban: `berth ban del` may have lifted it; ask below.
      } else if (bans_ == nullptr || now - k->checked < c.store_recheck) {
        co_return std::nullopt;
      }
    } else if (bans_ == nullptr) {
      co_return std::nullopt;
    }
  }

  auto stored = co_await bans_->find_ban(key);
  if (!stored)
    spdlog::warn("defender: reading the ban of {}: {}", key, stored.error().message());
  std::lock_guard lock(state_->mutex);
  const TimePoint now = clock_();
  Known* k = state_->known.find(key);
  // SECURITY: a store that fails never lifts a ban, and neither does one that
  // has not yet received ours.
  if (k != nullptr && k->until > now && (!stored || !k->persisted))
    co_return remaining(k->until, now);
  if (!stored)
    co_return std::nullopt;
  Known fresh;
  fresh.checked = now;
  if (const std::optional<store::Ban>& ban = *stored) {
    fresh.until = ban->until;
    fresh.level = ban->level;
    fresh.persisted = true;
  }
  state_->known.put(key, fresh);
  if (fresh.until > now)
    co_return remaining(fresh.until, now);
  co_return std::nullopt;
}

core::Task<void> Defender::failed(const asio::ip::address& client) {
  // This call's settings: a reload may change them meanwhile.
  const std::shared_ptr<const DefenderConfig> settings = config();
  const DefenderConfig& c = *settings;
  if (!c.enabled || c.allow.contains(client))
    co_return;
  const std::string key = core::address_group(client, c.ipv6_prefix);
  unsigned failures = 0;
  std::uint32_t previous = 0; // level of the last ban in a row
  bool ask_store = false;
  {
    std::lock_guard lock(state_->mutex);
    const TimePoint now = clock_();
    state_->prune(now, c, bans_ != nullptr);
    const Known* k = state_->known.find(key);
    if (k != nullptr && k->until > now)
      co_return; // banned already: a session that was in before goes on failing
    Failures* f = state_->failures.find(key);
    if (f == nullptr || now - f->window_start >= c.window)
      f = &state_->failures.put(key, Failures{0, now});
    failures = ++f->count;
    if (failures < c.max_failures)
      co_return;
    state_->failures.erase(key);
    // The store knows the level after a restart (or after memory forgot).
    ask_store = bans_ != nullptr && (k == nullptr || now - k->checked >= c.store_recheck);
    if (k != nullptr)
      previous = level_now(k->level, k->until, now, c);
  }

  if (ask_store) {
    auto stored = co_await bans_->find_ban(key);
    if (!stored)
      spdlog::warn("defender: reading the ban of {}: {}", key, stored.error().message());
    else if (const std::optional<store::Ban>& old = *stored)
      previous = level_now(old->level, old->until, clock_(), c);
    else
      previous = 0; // none, or lifted with `berth ban del`
  }

  store::Ban ban;
  seconds duration{};
  {
    std::lock_guard lock(state_->mutex);
    const TimePoint now = clock_();
    if (const Known* k = state_->known.find(key); k != nullptr && k->until > now)
      co_return; // another failure of the same address banned it meanwhile
    const std::uint32_t level =
        previous == std::numeric_limits<std::uint32_t>::max() ? previous : previous + 1;
    duration = ban_duration(level, c);
    Known fresh;
    fresh.checked = now;
    fresh.until = now + duration;
    fresh.level = level;
    state_->known.put(key, fresh);
    ban.address = key;
    ban.until = fresh.until;
    ban.level = level;
    ban.reason = fmt::format("{} failed logins", failures);
  }
  spdlog::info("defender: banned {} for {} s after {} failed logins", key, duration.count(),
               failures);
  if (bans_ == nullptr)
    co_return;
  auto put = co_await bans_->put_ban(ban);
  if (!put) {
    spdlog::warn("defender: storing the ban of {}: {}", key, put.error().message());
    co_return; // memory keeps it: never confirmed, so never lifted by the store
  }
  std::lock_guard lock(state_->mutex);
  if (Known* k = state_->known.find(key); k != nullptr && k->until == ban.until)
    k->persisted = true;
}

std::size_t Defender::active_bans() const {
  std::lock_guard lock(state_->mutex);
  const TimePoint now = clock_();
  return state_->known.count_if([&](const Known& k) { return k.until > now; });
}

std::size_t Defender::tracked_for_test() const {
  std::lock_guard lock(state_->mutex);
  return state_->failures.size();
}

} // namespace berth::auth
