#pragma once
// `berth user recount NAME`: what a user stores, counted from their home and
// kept as their usage counter (quotas on object storage read the counter
// instead of scanning a bucket at each login).

#include "core/config.hpp"
#include "core/result.hpp"
#include "store/storage_state.hpp"

#include <string>

namespace berth::app {

/// Counts what `user` (a [[user]] of `cfg`, else one of its user database)
/// stores in their home and sets it as their usage counter in the user
/// database. Blocks for as long as the home takes to walk.
/// Errors: store::Errc::no_such_user; store::Errc::database (logged); the
/// home's error (a missing or unreadable home) otherwise.
core::Result<store::UsageRecord> recount_usage(const core::Config& cfg, const std::string& user);

} // namespace berth::app
