#pragma once
// The SSH wire encoding (RFC 4251 §5) as read from keys, certificates and
// revocation lists: a bounded reader that fails rather than read past the
// end, and base64 as public key lines carry it. Pure, no allocation beyond
// the values returned.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace berth::auth {

/// Reads SSH wire values from a byte string. After a failed read ok() is
/// false and every later read fails too.
class SshReader {
public:
  explicit SshReader(std::string_view bytes) : rest_(bytes), size_(bytes.size()) {}

  bool ok() const { return ok_; }
  bool done() const { return ok_ && rest_.empty(); }
  /// Bytes consumed so far.
  std::size_t offset() const { return size_ - rest_.size(); }

  std::optional<std::uint8_t> byte() {
    auto b = take(1);
    if (!b)
      return std::nullopt;
    return static_cast<std::uint8_t>((*b)[0]);
  }
  std::optional<std::uint32_t> u32() { return number<std::uint32_t>(4); }
  std::optional<std::uint64_t> u64() { return number<std::uint64_t>(8); }
  /// A `string`: uint32 length, then that many bytes (a view into the input).
  std::optional<std::string_view> string() {
    auto n = u32();
    if (!n)
      return std::nullopt;
    return take(*n);
  }

private:
  std::optional<std::string_view> take(std::size_t n) {
    if (!ok_ || rest_.size() < n) {
      ok_ = false;
      return std::nullopt;
    }
    std::string_view v = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return v;
  }
  template <class T> std::optional<T> number(std::size_t n) {
    auto b = take(n);
    if (!b)
      return std::nullopt;
    T v = 0;
    for (char c : *b)
      v = static_cast<T>((v << 8) | static_cast<unsigned char>(c));
    return v;
  }

  std::string_view rest_;
  std::size_t size_;
  bool ok_ = true;
};

/// Calls `add` with each string of `packed`, a run of SSH strings (a
/// certificate's principals, a KRL's key ids); false when one is truncated.
template <class F> bool for_each_string(std::string_view packed, F add) {
  SshReader r(packed);
  while (!r.done()) {
    auto s = r.string();
    if (!s)
      return false;
    add(*s);
  }
  return true;
}

/// `s` as an SSH `string` (uint32 length + bytes).
inline std::string ssh_string(std::string_view s) {
  std::string out;
  const auto n = static_cast<std::uint32_t>(s.size());
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((n >> shift) & 0xff));
  out.append(s);
  return out;
}

/// Standard base64 (RFC 4648 §4, padding optional); nullopt on any other byte.
std::optional<std::string> decode_base64(std::string_view text);

} // namespace berth::auth
