# Every dependency is a Debian package (see scripts/install-deps.sh).
find_package(Threads REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(ZLIB REQUIRED) # MODE Z data connections
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(TOMLPP REQUIRED IMPORTED_TARGET tomlplusplus)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(LIBCRYPT REQUIRED IMPORTED_TARGET libxcrypt)
# The metrics endpoint's HTTP server (libcpp-httplib-dev; a compiled library in
# Debian, whose .pc file carries the defines its header must see).
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)

# Standalone Asio, compiled once (ASIO_SEPARATE_COMPILATION) in core/asio_impl.cpp
# (asio::ssl in net/asio_ssl_impl.cpp).
find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED)
add_library(berth_asio_headers INTERFACE)
add_library(berth::asio ALIAS berth_asio_headers)
target_include_directories(berth_asio_headers SYSTEM INTERFACE ${ASIO_INCLUDE_DIR})
target_compile_definitions(berth_asio_headers INTERFACE
  ASIO_STANDALONE ASIO_SEPARATE_COMPILATION ASIO_NO_DEPRECATED
  # Asio 1.22 detects C++20 coroutines only on GCC (its clang test looks for the
  # pre-standard __cpp_coroutines); clang 14 with libstdc++ has them too.
  $<$<CXX_COMPILER_ID:Clang>:ASIO_HAS_CO_AWAIT=1>
  # Asio picks aligned_alloc or operator new depending on whether libstdc++'s
  # config was included before its own, so the Asio implementation files and the others
  # disagree; inlined at -O2, memory from aligned_alloc is freed with operator
  # delete (ASan: alloc-dealloc-mismatch). Make every file agree.
  $<$<CXX_COMPILER_ID:Clang>:ASIO_HAS_STD_ALIGNED_ALLOC=1>)
target_link_libraries(berth_asio_headers INTERFACE Threads::Threads OpenSSL::SSL OpenSSL::Crypto)
