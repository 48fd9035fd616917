# Compiler flags as INTERFACE targets; nothing here edits global flags.
add_library(berth_warnings INTERFACE)
add_library(berth::warnings ALIAS berth_warnings)
target_compile_options(berth_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
  # GCC 12 misreports Asio's coroutine frame allocator (GCC bug 109224).
  $<$<CXX_COMPILER_ID:GNU>:-Wno-mismatched-new-delete>
  # GCC 12 at -O3 reports std::string copies as overlapping or overflowing (GCC bugs
  # 105329, 105651).
  $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict -Wno-stringop-overflow>
  $<$<BOOL:${BERTH_WERROR}>:-Werror>)

add_library(berth_hardening INTERFACE)
add_library(berth::hardening ALIAS berth_hardening)
target_compile_options(berth_hardening INTERFACE
  -fstack-protector-strong -fPIE
  $<$<NOT:$<CONFIG:Debug>>:-D_FORTIFY_SOURCE=2>)
target_link_options(berth_hardening INTERFACE -pie -Wl,-z,relro -Wl,-z,now)

add_library(berth_sanitize INTERFACE)
add_library(berth::sanitize ALIAS berth_sanitize)
if(BERTH_SANITIZE OR BERTH_BUILD_FUZZERS)
  target_compile_options(berth_sanitize INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
    # clang 14 can not emit -fsanitize=function checks for coroutines ("Cannot
    # represent a difference across sections", LLVM issue 49689).
    $<$<CXX_COMPILER_ID:Clang>:-fno-sanitize=function>)
  target_link_options(berth_sanitize INTERFACE -fsanitize=address,undefined)
endif()
# libFuzzer: every library gets coverage instrumentation; the fuzz targets add
# -fsanitize=fuzzer (libFuzzer's main) themselves.
if(BERTH_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "BERTH_BUILD_FUZZERS needs clang (CXX=clang++); libFuzzer is part of clang")
  endif()
  target_compile_options(berth_sanitize INTERFACE -fsanitize=fuzzer-no-link)
endif()
