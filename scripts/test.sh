#!/usr/bin/env bash
# Installs what is missing, builds berth twice (release, and ASan+UBSan) and runs
# every test (unit and integration) against each build; then builds the fuzz
# targets with clang and runs each for 30 seconds (scripts/fuzz.sh).
# Usage: scripts/test.sh [--release-only]
#
# The integration suite spends most of its time waiting on sockets, so while a
# build's tests run, the next build is compiled at the lowest CPU priority
# (nice 19: it only gets what the tests leave idle).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh" --test
jobs="$(nproc)"
werror="OFF"
if [[ "${CI:-}" == "true" ]]; then
  werror="ON"
fi

priority=() # "nice -n 19" while tests run
build() { # name, build dir, extra cmake args...
  local name="$1" dir="$2"
  shift 2
  echo "=== $name build ==="
  cmake -S "$root" -B "$dir" -G Ninja -DBERTH_BUILD_TESTS=ON -DBERTH_WERROR="$werror" "$@" &&
    "${priority[@]}" cmake --build "$dir" -j"$jobs"
}

# Runs a build's tests in the background (unit tests in parallel with the
# integration suite); their output goes to $dir/test-output.log.
tests_pid=""
start_tests() { # name, build dir, environment (NAME=VALUE...)
  echo "=== $1 tests (in the background) ==="
  env "${@:3}" ctest --test-dir "$2" --output-on-failure -j"$jobs" >"$2/test-output.log" 2>&1 &
  tests_pid=$!
}
# Waits for the tests start_tests started, prints their output; fails if they did.
finish_tests() { # name, build dir
  local status=0
  wait "$tests_pid" || status=$?
  echo "=== $1 tests ==="
  cat "$2/test-output.log"
  if ((status != 0)); then
    echo "$1 tests FAILED"
    exit "$status"
  fi
}

# Line tables only (-g1): enough for backtraces, and a fifth less compile time
# than full debug information at -O2.
build release "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG"
if [[ "${1:-}" == "--release-only" ]]; then
  ctest --test-dir "$root/build" --output-on-failure -j"$jobs"
  exit 0
fi

start_tests release "$root/build"
priority=(nice -n 19)
build asan "$root/build/asan" -DCMAKE_BUILD_TYPE=Debug -DBERTH_SANITIZE=ON ||
  { finish_tests release "$root/build"; exit 1; }
finish_tests release "$root/build"

start_tests asan "$root/build/asan" ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
"${priority[@]}" "$root/scripts/fuzz.sh" --build-only || { finish_tests asan "$root/build/asan"; exit 1; }
finish_tests asan "$root/build/asan"

"$root/scripts/fuzz.sh" 30
