# Shared by the bench/ scripts (sourced). Expects OUT (the run's log folder)
# to be set before anything that logs to it is called.

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
problem() { log "PROBLEM: $*"; printf '%s\n' "$*" >>"$OUT/problems.txt"; }

# ---------------------------------------------------------------- packages
APT_UPDATED=0
POLICY_RC_MADE=0
apt_update_once() {
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    apt-get update -qq >>"$OUT/apt.log" 2>&1
    APT_UPDATED=1
  fi
}
# apt_install PACKAGE...: installs system-wide, without starting a service
# (policy-rc.d exit 101 forbids that to invoke-rc.d and deb-systemd-invoke).
apt_install() {
  apt_update_once
  log "installing $*"
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    POLICY_RC_MADE=1
  fi
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
    >>"$OUT/apt.log" 2>&1 || rc=$?
  if [ "$POLICY_RC_MADE" = 1 ]; then rm -f /usr/sbin/policy-rc.d; POLICY_RC_MADE=0; fi
  [ "$rc" = 0 ] || die "apt-get install $* failed (see $OUT/apt.log)"
}
need() { # command package
  command -v "$1" >/dev/null 2>&1 || apt_install "$2"
}
# unpack_debs DIR PACKAGE...: `apt-get download` the packages and extract
# them with `dpkg-deb -x` into DIR (never installed: Debian's FTP servers
# conflict with each other). DIR/.version holds the first package's version.
unpack_debs() {
  local dir=$1 debs=$1.debs
  shift
  [ -s "$dir/.version" ] && return 0
  log "fetching $* into $(basename "$(dirname "$dir")")/$(basename "$dir") (apt-get download, dpkg-deb -x)"
  rm -rf "$dir" "$debs"
  mkdir -p "$dir" "$debs"
  if ! (cd "$debs" && apt-get download "$@") >>"$OUT/apt.log" 2>&1; then
    apt_update_once
    (cd "$debs" && apt-get download "$@") >>"$OUT/apt.log" 2>&1 ||
      die "apt-get download $* failed (see $OUT/apt.log)"
  fi
  local deb
  for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$dir"; done
  dpkg-deb -f "$(ls "$debs/$1"_*.deb)" Version >"$dir/.version"
  rm -rf "$debs"
}
# libdirs DIR: the folders of DIR holding shared libraries, ':'-joined.
libdirs() { find "$1" -name '*.so*' -printf '%h\n' | sort -u | paste -sd: -; }

# ---------------------------------------------------------------- workspace
# pick_workdir NEED_KB PREFIX: makes WORK, a fresh directory on the first of
# /dev/shm, $TMPDIR, /tmp with NEED_KB free (only in $BENCH_DIR when that is
# set), and sets WORK_FS to its type.
pick_workdir() {
  local need_kb=$1 prefix=$2 base avail
  WORK=""
  local bases=(/dev/shm "${TMPDIR:-/tmp}")
  [ -z "${BENCH_DIR:-}" ] || bases=("$BENCH_DIR")
  for base in "${bases[@]}"; do
    [ -d "$base" ] && [ -w "$base" ] || continue
    avail=$(df -Pk "$base" | awk 'NR==2 {print $4}')
    if [ "$avail" -ge "$need_kb" ]; then
      WORK=$(mktemp -d "$base/$prefix.XXXXXX")
      break
    fi
  done
  [ -n "$WORK" ] || die "no temp dir with $((need_kb / 1024)) MiB free (/dev/shm, \$TMPDIR, /tmp)"
  chmod 755 "$WORK"
  WORK_FS=$(df -PT "$WORK" | awk 'NR==2 {print $2}')
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() { # port seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}
children() { ps -o pid= --ppid "$1" 2>/dev/null || true; }
descendants() { # pid -> its live descendants, each after its parent
  local c
  for c in $(children "$1"); do echo "$c"; descendants "$c"; done
}

# ---------------------------------------------------------------- CPU time
# Each server runs in a cgroup of its own (cpuacct on cgroup v1, cpu.stat on
# v2), so the time of every process it forks is counted, whether it still
# runs or has exited.
CG_KIND=
CG_BASE=
CG_DIRS=()
if [ -f /sys/fs/cgroup/cpuacct/cpuacct.usage ]; then
  CG_KIND=v1
  CG_BASE=/sys/fs/cgroup/cpuacct$(awk -F: '$2 ~ /(^|,)cpuacct(,|$)/ { print $3; exit }' /proc/self/cgroup)
else
  for root in /sys/fs/cgroup /sys/fs/cgroup/unified; do
    if [ -f "$root/cgroup.controllers" ]; then
      CG_KIND=v2
      CG_BASE=$root$(awk -F: '$1 == 0 { print $3; exit }' /proc/self/cgroup)
      break
    fi
  done
fi
declare -A CG_OF=()
cg_enter() { # name pid: the process moved into a new cgroup for NAME (one per name)
  [ -n "$CG_KIND" ] || return 0
  local d=${CG_OF[$1]:-}
  if [ -z "$d" ]; then
    d=${CG_BASE%/}/berth-bench-$$-$1
    mkdir "$d" 2>/dev/null || { log "no cgroup for $1 under $CG_BASE: its CPU is not counted"; return 0; }
    CG_DIRS+=("$d")
    CG_OF[$1]=$d
  fi
  echo "$2" >"$d/cgroup.procs" 2>/dev/null || log "could not move $1 into its cgroup"
}
cpu_ns() { # name -> CPU time of that server and all it forked, ns (empty if unknown)
  local d=${CG_OF[$1]:-}
  [ -n "$d" ] || return 0
  if [ "$CG_KIND" = v1 ]; then cat "$d/cpuacct.usage"; else awk '/^usage_usec/ { printf "%d000", $2 }' "$d/cpu.stat"; fi
}
cg_cleanup() {
  local d i
  for d in "${CG_DIRS[@]}"; do
    for ((i = 0; i < 20; i++)); do rmdir "$d" 2>/dev/null && break; sleep 0.1; done
  done
}
# cpu_snapshot NAME...: "busy steal total ours" in clock ticks: the machine's
# time in processes (user, nice, system; not interrupts, which carry loopback
# traffic), steal, all, and what this script's tree and the named servers'
# cgroups used. Two snapshots give the share of other load on the machine.
cpu_snapshot() {
  local ours name ns tck
  tck=$(getconf CLK_TCK)
  ours=$(sed 's/^.*) //' "/proc/$$/stat" | awk '{ print $12 + $13 + $14 + $15 }')
  for name in "$@"; do
    ns=$(cpu_ns "$name")
    [ -z "$ns" ] || ours=$((ours + ns * tck / 1000000000))
  done
  awk -v ours="$ours" '/^cpu / { busy = $2 + $3 + $4; total = busy + $5 + $6 + $7 + $8 + $9
    print busy, $9, total, ours; exit }' /proc/stat
}
# other_load "SNAP0" "SNAP1" -> "OTHER% STEAL%"
other_load() {
  local b0 s0 t0 o0 b1 s1 t1 o1
  read -r b0 s0 t0 o0 <<<"$1"
  read -r b1 s1 t1 o1 <<<"$2"
  awk -v b=$((b1 - b0)) -v o=$((o1 - o0)) -v s=$((s1 - s0)) -v t=$((t1 - t0)) \
    'BEGIN { x = t > 0 ? (b - o) * 100 / t : 0; if (x < 0) x = 0
             printf "%.0f %.0f", x, (t > 0 ? s * 100 / t : 0) }'
}

# ---------------------------------------------------------------- limits
# openssl_speed EVP ROW SECONDS [extra...] -> MB/s at 16 KiB blocks, one core
openssl_speed() {
  local evp=$1 row=$2 secs=$3 out
  shift 3
  out=$(openssl speed -evp "$evp" -seconds "$secs" -bytes 16384 "$@" 2>/dev/null) || return 1
  # header: "type 16384 bytes"; row: "AES-128-GCM 1234.56k"
  echo "$out" | awk -v row="$row" '/^type/ { for (i = 2; i <= NF; i += 2) if ($i == "16384") col = (i - 2) / 2 + 2 }
    $1 == row && col { v = $col; sub(/k$/, "", v); printf "%.0f", v / 1000 }'
}
