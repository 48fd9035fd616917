#pragma once
// Connection and session limits for every protocol together: connections in
// all, connections per client address, logged-in sessions per user.

#include <asio/ip/address.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace berth::auth {

/// Thread-safe. A Ticket holds one place until it is destroyed; it may
/// outlive the Limits (sessions torn down after the server's objects).
class Limits {
  struct Counts;

public:
  /// 0 means no limit.
  Limits(std::uint32_t max_connections, std::uint32_t max_per_address);
  /// New limits over the counts of `counted`: the places its tickets hold
  /// count here too (a reload changes the limits, not who is connected).
  Limits(const Limits& counted, std::uint32_t max_connections, std::uint32_t max_per_address);
  ~Limits();
  Limits(const Limits&) = delete;
  Limits& operator=(const Limits&) = delete;

  /// One place, given back by the destructor. Movable; empty when default-made.
  class Ticket {
  public:
    Ticket() = default;
    Ticket(Ticket&& o) noexcept = default;
    Ticket& operator=(Ticket&& o) noexcept {
      if (this != &o) {
        release();
        owner_ = std::move(o.owner_);
        kind_ = o.kind_;
        key_ = std::move(o.key_);
      }
      return *this;
    }
    ~Ticket() { release(); }
    explicit operator bool() const { return owner_ != nullptr; }

  private:
    friend class Limits;
    enum class Kind { connection, session };
    Ticket(std::shared_ptr<Counts> owner, Kind kind, std::string key)
        : owner_(std::move(owner)), kind_(kind), key_(std::move(key)) {}
    void release();

    std::shared_ptr<Counts> owner_;
    Kind kind_ = Kind::connection;
    std::string key_;
  };

  /// A place for a new connection from `client`, or an empty ticket and the
  /// reason (for the refusal reply and the log) when a limit is reached.
  Ticket connect(const asio::ip::address& client, std::string* reason);

  /// A place for one more session of `user`, at most `max_sessions` (0: no limit).
  Ticket log_in(const std::string& user, std::uint32_t max_sessions, std::string* reason);

  std::uint32_t connections() const;

private:
  struct Counts {
    std::mutex mu;
    std::uint32_t connections = 0;                    // guarded by mu
    std::map<std::string, std::uint32_t> per_address; // guarded by mu
    std::map<std::string, std::uint32_t> per_user;    // guarded by mu
    void give_back(Ticket::Kind kind, const std::string& key);
  };

  const std::uint32_t max_connections_;
  const std::uint32_t max_per_address_;
  std::shared_ptr<Counts> counts_; // shared with the tickets
};

} // namespace berth::auth
