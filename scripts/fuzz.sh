#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang into build/fuzz, replays
# their corpora and regression inputs (ctest -L fuzz), then fuzzes each target
# for SECONDS seconds on a scratch copy of its seed corpus. Exits non-zero if a
# target crashes, leaks, hangs or runs out of memory; the input that did it is
# kept in build/fuzz/artifacts/<target>/ (see tests/fuzz/README.md).
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (default: 60 seconds, every target)
#        scripts/fuzz.sh --build-only               (only builds them)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build_only=false
if [[ "${1:-}" == "--build-only" ]]; then
  build_only=true
  shift
fi
seconds="${1:-60}"
shift || true
build="$root/build/fuzz"
jobs="$(nproc)"
werror="OFF"
if [[ "${CI:-}" == "true" ]]; then
  werror="ON"
fi

echo "=== fuzz build ==="
# Line tables only (-g1): enough for the reports, a fifth less compile time.
CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
  -DBERTH_BUILD_FUZZERS=ON -DBERTH_BUILD_TESTS=OFF -DBERTH_WERROR="$werror"
cmake --build "$build" --target fuzzers -j"$jobs"
if $build_only; then
  exit 0
fi

targets=("$@")
if ((${#targets[@]} == 0)); then
  for dir in "$root"/tests/fuzz/corpus/*/; do
    targets+=("$(basename "$dir")")
  done
fi

failed=()
echo "=== fuzz regressions ==="
ctest --test-dir "$build" -L fuzz --output-on-failure || failed+=(regressions)

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# One target: fuzzes it, leaves "ok" or "failed" in $scratch/$t/status.
run_target() {
  local t="$1"
  local artifacts="$build/artifacts/$t"
  mkdir -p "$artifacts" "$scratch/$t/corpus" "$scratch/$t/tmp"
  # New inputs go to the scratch copy; the committed corpus stays as it is.
  cp "$root/tests/fuzz/corpus/$t"/* "$scratch/$t/corpus/"
  local inputs=("$scratch/$t/corpus")
  if [[ -d "$root/tests/fuzz/regressions/$t" ]]; then
    inputs+=("$root/tests/fuzz/regressions/$t")
  fi
  local options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
                 -artifact_prefix="$artifacts/")
  if [[ -f "$root/tests/fuzz/$t.dict" ]]; then
    options+=(-dict="$root/tests/fuzz/$t.dict")
  fi
  if TMPDIR="$scratch/$t/tmp" "$build/tests/fuzz/${t}_fuzz" "${options[@]}" "${inputs[@]}" \
    >"$artifacts/fuzz.log" 2>&1; then
    echo ok >"$scratch/$t/status"
  else
    echo failed >"$scratch/$t/status"
  fi
}

# As many targets at once as there are cores (each libFuzzer run uses one), so
# that every target still gets its SECONDS of a core.
for ((i = 0; i < ${#targets[@]}; i += jobs)); do
  batch=("${targets[@]:i:jobs}")
  echo "=== fuzz ${batch[*]} (${seconds}s) ==="
  for t in "${batch[@]}"; do
    run_target "$t" &
  done
  wait
  for t in "${batch[@]}"; do
    artifacts="$build/artifacts/$t"
    if [[ "$(cat "$scratch/$t/status" 2>/dev/null)" == ok ]]; then
      echo "--- $t"
      grep -E '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)' \
        "$artifacts/fuzz.log" || true
    else
      failed+=("$t")
      tail -n 80 "$artifacts/fuzz.log"
      echo "fuzz $t FAILED: input and log in $artifacts/"
    fi
  done
done

if ((${#failed[@]} > 0)); then
  echo "fuzz: failed: ${failed[*]}"
  exit 1
fi
echo "fuzz: every target ran ${seconds}s without a finding"
