#pragma once
// The server: event-loop threads (one io_context each), listeners, signals.

#include "core/config.hpp"

namespace berth::server {

/// Binds every listener of `cfg`, prints "ftp listening on ADDRESS" for each,
/// drops root when [server] user says so (warns when it stays root without
/// it) and prints "berth ready", then serves:
/// - SIGHUP reloads: the configuration file (when there is one), its users,
///   the TLS certificate and the SSH host keys. New sessions get the new
///   generation, running ones keep theirs. Listeners whose address changed
///   are re-bound (a failed bind keeps the old listener); a bad
///   configuration keeps the running one (one error line).
/// - SIGTERM or SIGINT drains: listeners close at once, idle sessions end
///   (FTP: 421), transfers get [server] shutdown_timeout to finish; then the
///   rest is closed. A second signal stops at once.
/// Returns the exit code (0 after a drain). Throws std::runtime_error (one
/// line) when a listener can not be bound, when [server] user names another
/// user and the process is not root, or when dropping root fails.
int serve(const core::Config& cfg);

} // namespace berth::server
