#!/usr/bin/env bash
# Installs what is missing, builds berth twice (release, and ASan+UBSan) and runs
# every test (unit and integration) against each build; then builds the fuzz
# targets with clang and runs each for 30 seconds (scripts/fuzz.sh).
# Usage: scripts/test.sh [--release-only]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh" --test
jobs="$(nproc)"
werror="OFF"
if [[ "${CI:-}" == "true" ]]; then
  werror="ON"
fi

run_suite() { # name, build dir, extra cmake args...
  local name="$1" dir="$2"
  shift 2
  echo "=== $name build ==="
  cmake -S "$root" -B "$dir" -G Ninja -DBERTH_BUILD_TESTS=ON -DBERTH_WERROR="$werror" "$@"
  cmake --build "$dir" -j"$jobs"
  echo "=== $name tests ==="
  ctest --test-dir "$dir" --output-on-failure
}

run_suite release "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
if [[ "${1:-}" != "--release-only" ]]; then
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    run_suite asan "$root/build/asan" -DCMAKE_BUILD_TYPE=Debug -DBERTH_SANITIZE=ON
  "$root/scripts/fuzz.sh" 30
fi
