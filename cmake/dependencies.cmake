# Every dependency is a Debian package (see scripts/install-deps.sh).
find_package(Threads REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(TOMLPP REQUIRED IMPORTED_TARGET tomlplusplus)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)

# Standalone Asio, compiled once (ASIO_SEPARATE_COMPILATION) in net/asio_impl.cpp.
find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED)
add_library(berth_asio_headers INTERFACE)
add_library(berth::asio ALIAS berth_asio_headers)
target_include_directories(berth_asio_headers SYSTEM INTERFACE ${ASIO_INCLUDE_DIR})
target_compile_definitions(berth_asio_headers INTERFACE
  ASIO_STANDALONE ASIO_SEPARATE_COMPILATION ASIO_NO_DEPRECATED)
target_link_libraries(berth_asio_headers INTERFACE Threads::Threads OpenSSL::SSL OpenSSL::Crypto)
