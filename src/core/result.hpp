#pragma once
// An expected-like result: a value or a std::error_code. Mirrors std::expected's
// names (value, error, has_value, unexpected) so a later switch is mechanical;
// clang 14 cannot use libstdc++ 12's <expected>.

#include <cstdlib>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace berth::core {

/// Wraps an error code so that it converts into any Result<T>.
struct Unexpected {
  std::error_code error;
};

/// Makes an error result from an error code or one of our error enums.
inline Unexpected unexpected(std::error_code ec) {
  return Unexpected{ec};
}
template <class E>
requires std::is_error_code_enum_v<E>
inline Unexpected unexpected(E e) {
  return Unexpected{make_error_code(e)};
}

/// A value of T, or the error that prevented it.
template <class T> class [[nodiscard]] Result {
public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(Unexpected u) : v_(std::in_place_index<1>, u.error) {}

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { return check(), std::get<0>(v_); }
  const T& value() const& { return check(), std::get<0>(v_); }
  T&& value() && { return check(), std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  std::error_code error() const noexcept {
    return has_value() ? std::error_code{} : std::get<1>(v_);
  }

private:
  void check() const {
    if (!has_value())
      std::abort(); // programming error: value() of an error result
  }
  std::variant<T, std::error_code> v_;
};

template <> class [[nodiscard]] Result<void> {
public:
  Result() = default;
  Result(Unexpected u) : ec_(u.error) {}
  bool has_value() const noexcept { return !ec_; }
  explicit operator bool() const noexcept { return has_value(); }
  void value() const {
    if (ec_)
      std::abort();
  }
  std::error_code error() const noexcept { return ec_; }

private:
  std::error_code ec_;
};

} // namespace berth::core
