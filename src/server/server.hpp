#pragma once
// The server: event-loop threads (one io_context each), listeners, signals.

#include "core/config.hpp"

namespace berth::server {

/// Binds every listener of `cfg`, prints "ftp listening on ADDRESS" for each and
/// "berth ready", then serves until SIGINT or SIGTERM. Returns the exit code.
/// Throws std::runtime_error (one line) when a listener can not be bound.
int serve(const core::Config& cfg);

} // namespace berth::server
