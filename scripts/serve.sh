#!/usr/bin/env bash
# Installs what is missing, builds berth, and runs it on its embedded default:
# FTP on port 2121, state (users, keys) in ./berth-data.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBERTH_BUILD_TESTS=OFF
cmake --build "$root/build" -j"$(nproc)"
exec "$root/build/berth" serve "$@"
