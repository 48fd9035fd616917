#!/usr/bin/env bash
# Installs every build and test dependency from Debian packages (Debian 12).
# Usage: scripts/install-deps.sh [--test]   (needs root, or sudo)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libasio-dev libssl-dev libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev
  libsodium-dev libcrypt-dev libsqlite3-dev libssh-dev libcpp-httplib-dev zlib1g-dev
)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(libgtest-dev libgmock-dev python3 python3-pytest python3-pytest-xdist
             python3-paramiko curl lftp openssh-client sshpass rclone sshfs git tnftp ncftp
             clang libclang-rt-14-dev llvm # libFuzzer; llvm has llvm-symbolizer for reports
             ceph-mon ceph-osd radosgw ceph-common python3-boto3) # S3 tests: a real radosgw
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  sudo="sudo"
fi
echo "installing: ${missing[*]}"
$sudo apt-get update
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
