#pragma once
// Errors of the core layer.

#include <system_error>

namespace berth::core {

enum class Errc {
  timed_out = 1, ///< An operation did not finish before its deadline.
  closed,        ///< The peer closed the connection.
  too_long,      ///< Input exceeded a configured bound.
  stopping,      ///< The server is stopping (SIGTERM): the wait was ended for it.
  truncated,     ///< The peer ended a TLS stream without close_notify (it may be cut short).
  bad_data,      ///< Bytes that do not decode (a corrupt or cut compressed stream).
};

const std::error_category& core_category() noexcept;
inline std::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), core_category()};
}

} // namespace berth::core

template <> struct std::is_error_code_enum<berth::core::Errc> : std::true_type {};
