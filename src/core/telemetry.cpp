#include "core/telemetry.hpp"

#include "core/log.hpp"

#include <fmt/format.h>

#include <ctime>

namespace berth::core {
namespace {

constexpr std::array kProtocolList{Protocol::ftp, Protocol::ftps, Protocol::sftp};
constexpr std::array kResultList{TransferResult::ok, TransferResult::failed,
                                 TransferResult::aborted};

std::size_t index(Protocol p) {
  return static_cast<std::size_t>(p);
}

std::size_t index(TransferResult r) {
  return static_cast<std::size_t>(r);
}

std::string label(std::string_view s) {
  return std::string(s);
}

} // namespace

std::string_view to_string(Protocol p) {
  switch (p) {
  case Protocol::ftp:
    return "ftp";
  case Protocol::ftps:
    return "ftps";
  case Protocol::sftp:
    return "sftp";
  }
  return "?";
}

std::string_view to_string(TransferResult r) {
  switch (r) {
  case TransferResult::ok:
    return "ok";
  case TransferResult::failed:
    return "failed";
  case TransferResult::aborted:
    return "aborted";
  }
  return "?";
}

Telemetry::Telemetry(std::unique_ptr<XferlogFile> xferlog) : xferlog_(std::move(xferlog)) {
  for (Protocol p : kProtocolList)
    sessions_open_[index(p)] = &metrics_.gauge("berth_sessions_open", "Sessions open now.",
                                               {{"protocol", label(to_string(p))}});
  for (Protocol p : kProtocolList)
    sessions_total_[index(p)] =
        &metrics_.counter("berth_sessions_total", "Sessions started (connections admitted).",
                          {{"protocol", label(to_string(p))}});
  for (Protocol p : kProtocolList)
    for (bool ok : {true, false})
      logins_[index(p)][ok ? 1 : 0] =
          &metrics_.counter("berth_logins_total", "Login attempts by outcome.",
                            {{"protocol", label(to_string(p))}, {"result", ok ? "ok" : "failed"}});
  for (Protocol p : kProtocolList)
    for (bool upload : {true, false})
      bytes_[index(p)][upload ? 1 : 0] = &metrics_.counter(
          "berth_bytes_total", "File bytes transferred (counted when a transfer ends).",
          {{"protocol", label(to_string(p))}, {"direction", upload ? "in" : "out"}});
  for (Protocol p : kProtocolList)
    for (bool upload : {true, false})
      for (TransferResult r : kResultList)
        transfers_[index(p)][upload ? 1 : 0][index(r)] =
            &metrics_.counter("berth_transfers_total", "File transfers by outcome.",
                              {{"protocol", label(to_string(p))},
                               {"direction", upload ? "in" : "out"},
                               {"result", label(to_string(r))}});
  duration_ =
      &metrics_.histogram("berth_transfer_duration_seconds", "How long file transfers took.",
                          {0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300});
  for (Protocol p : {Protocol::ftp, Protocol::ftps})
    tls_failures_[index(p)] = &metrics_.counter(
        "berth_tls_handshake_failures_total",
        "Failed TLS handshakes, control and data connections (protocol: the listener).",
        {{"protocol", label(to_string(p))}});
  passive_ports_ =
      &metrics_.gauge("berth_passive_ports_in_use", "FTP passive-mode data listeners open now.");
}

void Telemetry::session_opened(Protocol p) {
  sessions_total_[index(p)]->inc();
  sessions_open_[index(p)]->add();
}

void Telemetry::session_closed(Protocol p) {
  sessions_open_[index(p)]->sub();
}

void Telemetry::session_moved(Protocol from, Protocol to) {
  sessions_open_[index(from)]->sub();
  sessions_open_[index(to)]->add();
}

void Telemetry::login(Protocol p, bool ok) {
  logins_[index(p)][ok ? 1 : 0]->inc();
}

void Telemetry::tls_handshake_failed(Protocol p) {
  if (Counter* c = tls_failures_[index(p)])
    c->inc();
}

void Telemetry::transfer(const TransferRecord& r) {
  const std::size_t p = index(r.protocol);
  const std::size_t dir = r.upload ? 1 : 0;
  bytes_[p][dir]->inc(r.bytes);
  transfers_[p][dir][index(r.result)]->inc();
  duration_->observe(r.duration.count());
  if (xferlog_) {
    XferlogEntry e;
    const std::time_t now = std::time(nullptr);
    localtime_r(&now, &e.time);
    e.duration = r.duration;
    e.remote_host = r.client;
    e.bytes = r.bytes;
    e.filename = r.path;
    e.binary = r.binary;
    e.incoming = r.upload;
    e.anonymous = r.anonymous;
    e.user = r.user;
    e.service = std::string(to_string(r.protocol));
    e.complete = r.result == TransferResult::ok;
    xferlog_->append(format_xferlog_line(e));
  }
  const std::string msg = fmt::format(
      "{}: {} {} {} {} bytes in {:.3f} s: {}", to_string(r.protocol), r.user,
      r.upload ? "upload" : "download", r.path, r.bytes, r.duration.count(), to_string(r.result));
  log_event(spdlog::level::info, msg,
            {{"event", "transfer"},
             {"protocol", to_string(r.protocol)},
             {"client", r.client},
             {"user", r.user},
             {"path", r.path},
             {"direction", r.upload ? "in" : "out"},
             {"bytes", r.bytes},
             {"duration_s", r.duration.count()},
             {"result", to_string(r.result)}});
}

SessionCount::SessionCount(std::shared_ptr<Telemetry> telemetry, Protocol p)
    : telemetry_(std::move(telemetry)), protocol_(p) {
  if (telemetry_)
    telemetry_->session_opened(p);
}

SessionCount::SessionCount(SessionCount&& o) noexcept
    : telemetry_(std::move(o.telemetry_)), protocol_(o.protocol_) {}

SessionCount& SessionCount::operator=(SessionCount&& o) noexcept {
  if (this != &o) {
    if (telemetry_)
      telemetry_->session_closed(protocol_);
    telemetry_ = std::move(o.telemetry_);
    protocol_ = o.protocol_;
  }
  return *this;
}

SessionCount::~SessionCount() {
  if (telemetry_)
    telemetry_->session_closed(protocol_);
}

void SessionCount::move_to(Protocol p) {
  if (telemetry_ && p != protocol_)
    telemetry_->session_moved(protocol_, p);
  protocol_ = p;
}

TransferTracker::TransferTracker(std::shared_ptr<Telemetry> telemetry, TransferRecord record)
    : telemetry_(std::move(telemetry)), record_(std::move(record)),
      start_(std::chrono::steady_clock::now()) {}

TransferTracker::TransferTracker(TransferTracker&& o) noexcept
    : telemetry_(std::move(o.telemetry_)), record_(std::move(o.record_)), start_(o.start_) {}

TransferTracker& TransferTracker::operator=(TransferTracker&& o) noexcept {
  if (this != &o) {
    finish(TransferResult::aborted);
    telemetry_ = std::move(o.telemetry_);
    record_ = std::move(o.record_);
    start_ = o.start_;
  }
  return *this;
}

TransferTracker::~TransferTracker() {
  try {
    finish(TransferResult::aborted);
  } catch (const std::exception& e) {
    spdlog::error("transfer log: {}", e.what()); // out of memory; nothing to undo
  }
}

void TransferTracker::finish(TransferResult r) {
  if (!telemetry_)
    return;
  record_.result = r;
  record_.duration = std::chrono::steady_clock::now() - start_;
  auto telemetry = std::move(telemetry_);
  telemetry_.reset();
  telemetry->transfer(record_);
}

} // namespace berth::core
