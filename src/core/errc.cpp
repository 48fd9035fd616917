#include "core/errc.hpp"

#include <string>

namespace berth::core {
namespace {

class Category final : public std::error_category {
public:
  const char* name() const noexcept override { return "berth.core"; }
  std::string message(int ev) const override {
    switch (static_cast<Errc>(ev)) {
    case Errc::timed_out:
      return "timed out";
    case Errc::closed:
      return "connection closed";
    case Errc::too_long:
      return "input too long";
    case Errc::stopping:
      return "server stopping";
    case Errc::truncated:
      return "TLS stream ended without close_notify";
    case Errc::bad_data:
      return "corrupt compressed data";
    }
    return "unknown core error";
  }
};

} // namespace

const std::error_category& core_category() noexcept {
  static const Category category;
  return category;
}

} // namespace berth::core
