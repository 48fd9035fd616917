#pragma once
// What sessions report about themselves: the server's metrics (sessions,
// logins, bytes, transfers, TLS handshake failures, passive ports) and the
// transfer log. One Telemetry per server, shared by every protocol.

#include "core/metrics.hpp"
#include "core/xferlog.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace berth::core {

/// The label `protocol` of the metrics, and the xferlog service name. An FTP
/// control connection is `ftps` once it is TLS (implicit, or after AUTH TLS).
enum class Protocol { ftp, ftps, sftp };
std::string_view to_string(Protocol p);

/// How a transfer ended: label `result` of berth_transfers_total; the xferlog
/// says 'c' for ok and 'i' for the others.
enum class TransferResult {
  ok,      ///< All of it moved.
  failed,  ///< Refused or broken by the server side (no data connection, disk, quota).
  aborted, ///< Ended by the client (ABOR, a closed connection, a stall, no CLOSE).
};
std::string_view to_string(TransferResult r);

/// One file transfer, as a session saw it.
struct TransferRecord {
  Protocol protocol = Protocol::ftp;
  std::string client; ///< The client's address.
  std::string user;
  bool anonymous = false;
  std::string path; ///< As the user sees it.
  bool upload = false;
  bool binary = true; ///< false: FTP TYPE A.
  std::uint64_t bytes = 0;
  std::chrono::duration<double> duration{};
  TransferResult result = TransferResult::ok;
};

/// Thread-safe: every method may be called from any event loop. The metrics
/// are always counted; whether anyone reads them (the HTTP endpoint) is the
/// server's business. Metric families and their label sets are registered by
/// the constructor:
/// - berth_sessions_open{protocol} (gauge), berth_sessions_total{protocol}
/// - berth_logins_total{protocol, result="ok|failed"}
/// - berth_bytes_total{protocol, direction="in|out"} (counted when a transfer ends)
/// - berth_transfers_total{protocol, direction, result="ok|failed|aborted"}
/// - berth_transfer_duration_seconds (histogram, 0.01 s to 300 s)
/// - berth_tls_handshake_failures_total{protocol="ftp|ftps"} (by listener)
/// - berth_passive_ports_in_use (gauge)
class Telemetry {
public:
  /// `xferlog`: where finished transfers are appended; null: no transfer log.
  explicit Telemetry(std::unique_ptr<XferlogFile> xferlog = nullptr);
  Telemetry(const Telemetry&) = delete;
  Telemetry& operator=(const Telemetry&) = delete;

  /// The registry, for more metrics (gauges read at render time) and render().
  MetricsRegistry& metrics() { return metrics_; }
  /// The transfer log, or null.
  XferlogFile* xferlog() { return xferlog_.get(); }

  void session_opened(Protocol p);
  void session_closed(Protocol p);
  /// An FTP session's control connection became TLS (AUTH TLS): ftp -> ftps.
  void session_moved(Protocol from, Protocol to);
  void login(Protocol p, bool ok);
  /// A TLS handshake (control or data connection) failed; `p` is the listener's.
  void tls_handshake_failed(Protocol p);
  /// Open passive-mode data listeners.
  Gauge& passive_ports() { return *passive_ports_; }

  /// Counts a finished transfer, appends its xferlog line and logs it (info).
  void transfer(const TransferRecord& r);

private:
  static constexpr std::size_t kProtocols = 3;
  static constexpr std::size_t kResults = 3;

  MetricsRegistry metrics_;
  std::unique_ptr<XferlogFile> xferlog_;
  std::array<Gauge*, kProtocols> sessions_open_{};
  std::array<Counter*, kProtocols> sessions_total_{};
  std::array<std::array<Counter*, 2>, kProtocols> logins_{}; // [protocol][ok]
  std::array<std::array<Counter*, 2>, kProtocols> bytes_{};  // [protocol][upload]
  std::array<std::array<std::array<Counter*, kResults>, 2>, kProtocols> transfers_{};
  std::array<Counter*, kProtocols> tls_failures_{}; // sftp: null
  Histogram* duration_ = nullptr;
  Gauge* passive_ports_ = nullptr;
};

/// Keeps a session counted in berth_sessions_open while it lives (and counts
/// it in berth_sessions_total when made). Movable; a null Telemetry counts nothing.
class SessionCount {
public:
  SessionCount() = default;
  SessionCount(std::shared_ptr<Telemetry> telemetry, Protocol p);
  SessionCount(SessionCount&& o) noexcept;
  SessionCount& operator=(SessionCount&& o) noexcept;
  ~SessionCount();

  /// Moves the session to another protocol (AUTH TLS).
  void move_to(Protocol p);
  Protocol protocol() const { return protocol_; }

private:
  std::shared_ptr<Telemetry> telemetry_;
  Protocol protocol_ = Protocol::ftp;
};

/// A transfer in progress. Reports itself to Telemetry exactly once: at
/// finish(), or, when destroyed unfinished (the session ended), as aborted;
/// discard() reports nothing. Holds the Telemetry, so a session torn down at
/// exit still reports. A null Telemetry reports nothing.
class TransferTracker {
public:
  TransferTracker() = default;
  /// `record`: everything but bytes, duration and result. The clock starts now.
  TransferTracker(std::shared_ptr<Telemetry> telemetry, TransferRecord record);
  TransferTracker(TransferTracker&& o) noexcept;
  TransferTracker& operator=(TransferTracker&& o) noexcept;
  ~TransferTracker();

  TransferRecord& record() { return record_; }
  void add_bytes(std::uint64_t n) { record_.bytes += n; }
  void finish(TransferResult r);
  void discard() { telemetry_.reset(); }

private:
  std::shared_ptr<Telemetry> telemetry_;
  TransferRecord record_;
  std::chrono::steady_clock::time_point start_{};
};

} // namespace berth::core
