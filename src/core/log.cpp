#include "core/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>

namespace berth::core {

void init_logging(const char* level) {
  auto logger = spdlog::stderr_logger_mt("berth");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

} // namespace berth::core
