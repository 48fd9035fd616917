#!/usr/bin/env bash
# Side-by-side SFTP: berth against OpenSSH (sshd with the real sftp-server) on
# loopback, measured with OpenSSH's own sftp and scp clients: 1 GiB get/put per
# cipher, many small files, idle-session memory, the most sessions berth holds,
# plus the machine's limits (AES-GCM and ChaCha20-Poly1305 on one core, raw
# loopback TCP) from the same run. Writes the SFTP section of
# docs/BENCHMARKS.md and leaves its other sections as they are.
#
#   bash bench/sftp_throughput.sh
#
# Runs as root on Debian. Installs what is missing with apt-get:
# openssh-server (service starts denied while it installs, so no sshd comes up
# on port 22), openssh-client, openssl, python3-paramiko. Creates the system
# user berthbench if missing (password '*': no password login; its home is
# pointed at each run's data folder) and logs in as it on both servers. A
# private sshd runs from a generated sshd_config on 127.0.0.1 with its own
# host key, which berth is given too. Each server is moved into a cgroup of
# its own (under the script's, removed at exit) to count its CPU time. Logs,
# configs and raw results go to bench/out/<UTC time>/. Only 127.0.0.1 is used.
#
# Knobs (environment): RUNS (5; 3 when the first round took over SLOW_ROUND
# seconds, 90), SIZE_MIB (1024), FILES (2000), FILE_KIB (4), SESSIONS (200),
# MAX_SESSIONS (1000, berth only; 0 skips), BENCH_USER (berthbench),
# BERTH (build/berth), DOC (docs/BENCHMARKS.md), MAX_TIME (per transfer,
# seconds; 300).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BERTH=${BERTH:-$REPO/build/berth}
RUNS=${RUNS:-5}
SLOW_ROUND=${SLOW_ROUND:-90}
SIZE_MIB=${SIZE_MIB:-1024}
FILES=${FILES:-2000}
FILE_KIB=${FILE_KIB:-4}
SESSIONS=${SESSIONS:-200}
MAX_SESSIONS=${MAX_SESSIONS:-1000}
BENCH_USER=${BENCH_USER:-berthbench}
DOC=${DOC:-$REPO/docs/BENCHMARKS.md}
MAX_TIME=${MAX_TIME:-300}
OUT=$HERE/out/$(date -u +%Y%m%dT%H%M%SZ)
SIZE=$((SIZE_MIB * 1024 * 1024))
SSHD=/usr/sbin/sshd
SFTP_SERVER=/usr/lib/openssh/sftp-server
CIPHERS=(aes128-gcm@openssh.com chacha20-poly1305@openssh.com)
SMALL_RUNS=3
BENCH_GECOS="berth benchmark"
SCRIPT_START=$(date +%s)

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# shellcheck source=bench/common.sh
. "$HERE/common.sh"
problem() { log "PROBLEM: $*"; printf '%s\n' "$*" >>"$OUT/problems.txt"; }

[ "$(id -u)" = 0 ] || die "run as root (sshd logs users in; apt-get and useradd for the setup)"
[ -x "$BERTH" ] || die "no berth binary at $BERTH (build it: cmake --build build)"
mkdir -p "$OUT"
: >"$OUT/problems.txt"
echo "server,client,cipher,direction,run,status,seconds,mb_s,client_cpu_s,server_cpu_s" >"$OUT/results.csv"
echo "server,run,status,login_s" >"$OUT/login.csv"
echo "server,run,status,files,upload_s,download_s" >"$OUT/files.csv"
echo "limit,mb_s" >"$OUT/limits.csv"

# ---------------------------------------------------------------- cleanup
PIDS=()
CG_DIRS=()
WORK=
POLICY_RC_MADE=0
children() { ps -o pid= --ppid "$1" 2>/dev/null || true; }
descendants() { # pid -> its live descendants, each after its parent
  local c
  for c in $(children "$1"); do echo "$c"; descendants "$c"; done
}
cleanup() {
  local pid all=()
  for pid in "${PIDS[@]}"; do
    all+=("$pid")
    mapfile -t -O "${#all[@]}" all < <(descendants "$pid")
  done
  for pid in "${all[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  local d i
  for d in "${CG_DIRS[@]}"; do
    for ((i = 0; i < 20; i++)); do rmdir "$d" 2>/dev/null && break; sleep 0.1; done
  done
  if [ "$POLICY_RC_MADE" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  if [ -n "$WORK" ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- tools
APT_UPDATED=0
apt_update_once() {
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    apt-get update -qq >>"$OUT/apt.log" 2>&1
    APT_UPDATED=1
  fi
}
apt_install() { # package...
  apt_update_once
  log "installing $*"
  # Debian starts a service when its package is installed; policy-rc.d exit
  # 101 forbids that (invoke-rc.d and deb-systemd-invoke both ask it).
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
need sftp openssh-client
need scp openssh-client
need ssh-keygen openssh-client
need openssl openssl
need python3 python3
need cmp diffutils
need useradd passwd
need split coreutils
need ps procps
[ -x "$SSHD" ] && [ -x "$SFTP_SERVER" ] || apt_install openssh-server
[ -x "$SSHD" ] || die "no $SSHD after installing openssh-server"
[ -x "$SFTP_SERVER" ] || die "no $SFTP_SERVER after installing openssh-server"
PY=
for p in python3 /usr/bin/python3; do
  if "$p" -c 'import paramiko' 2>/dev/null; then PY=$p; break; fi
done
if [ -z "$PY" ]; then
  apt_install python3-paramiko
  /usr/bin/python3 -c 'import paramiko' 2>/dev/null || die "python3-paramiko installed but not importable"
  PY=/usr/bin/python3
fi
# sshd's privilege separation directory (Debian's service creates it at start).
if [ ! -d /run/sshd ]; then mkdir -p /run/sshd && chmod 755 /run/sshd; fi

# ---------------------------------------------------------------- workspace

# Descriptors for MAX_SESSIONS sessions on the server and in the client.
want=$((MAX_SESSIONS * 2 + 1024))
if [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt "$want" ]; then
  hard=$(ulimit -Hn)
  if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then want=$hard; fi
  ulimit -n "$want" || die "can not raise the descriptor limit to $want"
fi
NOFILE=$(ulimit -n)

# Payload, one upload and one download copy at a time: 3x the size, plus the
# small files three times over.
need_kb=$(((SIZE_MIB * 3 + 256) * 1024 + FILES * FILE_KIB * 3))
pick_workdir "$need_kb" berth-sftp-bench
DATA=$WORK/data
PAYLOAD=$DATA/payload.bin
mkdir -p "$DATA/up" "$WORK/state" "$WORK/check" "$WORK/small"

# The login user: a system user of this script's own, or none at all.
if ! getent passwd "$BENCH_USER" >/dev/null; then
  log "creating system user $BENCH_USER"
  useradd --system --shell /bin/sh --home-dir "$DATA" --no-create-home \
    --comment "$BENCH_GECOS" "$BENCH_USER" || die "useradd $BENCH_USER failed"
fi
[ "$(getent passwd "$BENCH_USER" | cut -d: -f5)" = "$BENCH_GECOS" ] ||
  die "user $BENCH_USER exists and was not created by this script (comment is not '$BENCH_GECOS'); set BENCH_USER"
# '*': no password can match, and unlike '!' sshd does not treat it as locked.
usermod --home "$DATA" --password '*' "$BENCH_USER" >>"$OUT/setup.log" 2>&1 ||
  die "usermod $BENCH_USER failed: $(tail -n1 "$OUT/setup.log")"
chown -R "$BENCH_USER:" "$DATA"

log "writing a ${SIZE_MIB} MiB payload and $FILES files of $FILE_KIB KiB on $WORK_FS ($WORK)"
head -c "$SIZE" /dev/urandom >"$PAYLOAD"
head -c $((FILES * FILE_KIB * 1024)) /dev/urandom |
  split -b $((FILE_KIB * 1024)) -a 6 -d - "$WORK/small/f"
chown "$BENCH_USER:" "$PAYLOAD"
chmod 644 "$PAYLOAD"

ssh-keygen -q -t ed25519 -N '' -C berth-bench-host -f "$WORK/ssh_host_ed25519_key"
ssh-keygen -q -t ed25519 -N '' -C berth-bench-client -f "$WORK/client_key"
cp "$WORK/client_key.pub" "$WORK/authorized_keys"

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

# Server CPU: each server runs in a cgroup of its own (cpuacct on cgroup v1,
# cpu.stat on v2), so the time of every process it forks is counted, whether
# it still runs or has exited: sshd's per-connection processes are not all
# reaped into the listener's cutime.
CG_KIND=
CG_BASE=
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
cg_enter() { # server pid: a new cgroup for the server, the process moved into it
  CG_OF[$1]=
  [ -n "$CG_KIND" ] || return 0
  local d=${CG_BASE%/}/berth-bench-$$-$1-$2
  if mkdir "$d" 2>/dev/null && echo "$2" >"$d/cgroup.procs" 2>/dev/null; then
    CG_DIRS+=("$d")
    CG_OF[$1]=$d
  else
    rmdir "$d" 2>/dev/null || true
    log "no cgroup for $1 under $CG_BASE: server CPU will not be reported"
  fi
}
cpu_ns() { # server -> CPU time of the server and all it forked, ns (empty if unknown)
  local d=${CG_OF[$1]:-}
  [ -n "$d" ] || return 0
  if [ "$CG_KIND" = v1 ]; then cat "$d/cpuacct.usage"; else awk '/^usage_usec/ { printf "%d000", $2 }' "$d/cpu.stat"; fi
}

# ---------------------------------------------------------------- sshd
SSHD_PORT=$(free_port)
cat >"$WORK/sshd_config" <<EOF
ListenAddress 127.0.0.1:$SSHD_PORT
HostKey $WORK/ssh_host_ed25519_key
PidFile $WORK/sshd.pid
AuthorizedKeysFile $WORK/authorized_keys
AllowUsers $BENCH_USER
UsePAM no
StrictModes no
PermitRootLogin no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowTcpForwarding no
AllowAgentForwarding no
X11Forwarding no
PermitTTY no
PrintMotd no
PrintLastLog no
UseDNS no
Subsystem sftp $SFTP_SERVER
EOF
cp "$WORK/sshd_config" "$OUT/sshd_config"
"$SSHD" -t -f "$WORK/sshd_config" >"$OUT/sshd-check.log" 2>&1 ||
  die "sshd rejects its config: $(tail -n3 "$OUT/sshd-check.log")"
log "starting sshd on $SSHD_PORT"
"$SSHD" -D -e -f "$WORK/sshd_config" >"$OUT/sshd.log" 2>&1 &
PIDS+=($!)
SSHD_PID=$!
cg_enter sshd "$SSHD_PID"
wait_port "$SSHD_PORT" 10 || die "sshd did not listen on $SSHD_PORT: $(tail -n5 "$OUT/sshd.log")"
kill -0 "$SSHD_PID" 2>/dev/null || die "sshd exited at start: $(tail -n5 "$OUT/sshd.log")"

# ---------------------------------------------------------------- berth
cat >"$WORK/berth.toml" <<EOF
[server]
state_dir = "$WORK/state"

[ftp]
listen = []

[sftp]
listen = ["127.0.0.1:0"]
host_keys = ["$WORK/ssh_host_ed25519_key"]

[[user]]
name = "$BENCH_USER"
home = "$DATA"
authorized_keys = ["$(cat "$WORK/client_key.pub")"]
EOF
cp "$WORK/berth.toml" "$OUT/berth.toml"
BERTH_PID=
BERTH_STARTS=0
start_berth() { # logs to berth[-N].stdout/stderr
  local tag=berth i
  BERTH_STARTS=$((BERTH_STARTS + 1))
  [ "$BERTH_STARTS" = 1 ] || tag=berth-$BERTH_STARTS
  log "starting berth"
  "$BERTH" serve --config "$WORK/berth.toml" >"$OUT/$tag.stdout" 2>"$OUT/$tag.stderr" &
  PIDS+=($!)
  BERTH_PID=$!
  cg_enter berth "$BERTH_PID"
  for ((i = 0; i < 150; i++)); do
    grep -q '^berth ready' "$OUT/$tag.stdout" 2>/dev/null && break
    kill -0 "$BERTH_PID" 2>/dev/null || die "berth exited at start: $(tail -n5 "$OUT/$tag.stderr")"
    sleep 0.1
  done
  grep -q '^berth ready' "$OUT/$tag.stdout" || die "berth not ready after 15 s"
  BERTH_PORT=$(sed -n 's/^sftp listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$OUT/$tag.stdout" | head -n1)
  [ -n "$BERTH_PORT" ] || die "berth printed no sftp port"
}
stop_berth() {
  local pid keep=()
  kill "$BERTH_PID" 2>/dev/null || true
  wait "$BERTH_PID" 2>/dev/null || true
  for pid in "${PIDS[@]}"; do [ "$pid" = "$BERTH_PID" ] || keep+=("$pid"); done
  PIDS=("${keep[@]}")
}
start_berth

# ---------------------------------------------------------------- clients
SERVERS=(berth sshd)
port_of() { if [ "$1" = berth ]; then echo "$BERTH_PORT"; else echo "$SSHD_PORT"; fi; }
pid_of() { if [ "$1" = berth ]; then echo "$BERTH_PID"; else echo "$SSHD_PID"; fi; }
BASE_OPTS=(-F /dev/null -i "$WORK/client_key" -o IdentitiesOnly=yes -o BatchMode=yes
  -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o Compression=no
  -o ConnectTimeout=10)
SSH_OPTS=("${BASE_OPTS[@]}" -o LogLevel=ERROR)
TARGET=$BENCH_USER@127.0.0.1

# sftp in batch mode: server cipher batchfile [extra sftp args...]
run_sftp() {
  local server=$1 cipher=$2 batch=$3
  shift 3
  timeout --foreground "$MAX_TIME" sftp -b "$batch" -P "$(port_of "$server")" -c "$cipher" "$@" "$TARGET"
}
# scp: server cipher from to [extra scp args...]; "R:" marks the remote side
run_scp() {
  local server=$1 cipher=$2 from=$3 to=$4
  shift 4
  from=${from/#R:/$TARGET:}
  to=${to/#R:/$TARGET:}
  timeout --foreground "$MAX_TIME" scp -P "$(port_of "$server")" -c "$cipher" "$@" "$from" "$to"
}

CLK_TCK=$(getconf CLK_TCK)
settle() { # server [seconds, 10]: wait until its per-connection processes are gone
  local pid i limit=${2:-10}
  pid=$(pid_of "$1")
  for ((i = 0; i < limit * 20; i++)); do
    [ -z "$(children "$pid")" ] && return 0
    sleep 0.05
  done
  problem "$1: per-connection processes still running $limit s after the client exited"
}

# ---------------------------------------------------------------- checks
# Untimed, per server: a verbose sftp session per cipher confirms what was
# negotiated; the aes128 one also gets and puts the payload, compared byte for
# byte; a verbose scp confirms scp speaks SFTP (OpenSSH 9: "Sending subsystem: sftp").
verify_server() { # server -> 0 if fine, message on stdout
  local server=$1 cipher short vlog b
  for cipher in "${CIPHERS[@]}"; do
    short=${cipher%@*}
    vlog=$OUT/verify-$server-$short.log
    b=$WORK/verify.batch
    if [ "$cipher" = "${CIPHERS[0]}" ]; then
      printf 'get payload.bin %s\nput %s up/verify-%s.bin\n' "$WORK/check/copy.bin" "$PAYLOAD" "$server" >"$b"
    else
      printf 'pwd\n' >"$b"
    fi
    rm -f "$WORK/check/copy.bin"
    if ! run_sftp "$server" "$cipher" "$b" -v "${BASE_OPTS[@]}" >"$vlog" 2>&1; then
      echo "sftp ($short) failed: $(grep -av '^debug' "$vlog" | tail -n2 | tr '\n' ' ')"
      return 1
    fi
    if [ "$(grep -ac "kex: .* cipher: $cipher " "$vlog" || true)" -lt 2 ]; then
      echo "sftp -c $cipher: the log does not show $cipher both ways"
      return 1
    fi
    if [ "$cipher" = "${CIPHERS[0]}" ]; then
      cmp -s "$PAYLOAD" "$WORK/check/copy.bin" || { echo "downloaded copy differs from the payload"; return 1; }
      cmp -s "$PAYLOAD" "$DATA/up/verify-$server.bin" || { echo "uploaded copy differs from the payload"; return 1; }
      rm -f "$WORK/check/copy.bin" "$DATA/up/verify-$server.bin"
    fi
  done
  vlog=$OUT/verify-$server-scp.log
  head -c 65536 "$PAYLOAD" >"$WORK/check/small.bin"
  run_scp "$server" "${CIPHERS[0]}" "$WORK/check/small.bin" "R:up/verify-scp-$server.bin" -v "${BASE_OPTS[@]}" >"$vlog" 2>&1 || true
  cmp -s "$WORK/check/small.bin" "$DATA/up/verify-scp-$server.bin" ||
    { echo "scp upload failed or differs: $(grep -av '^debug' "$vlog" | tail -n2 | tr '\n' ' ')"; return 1; }
  rm -f "$WORK/check/small.bin" "$DATA/up/verify-scp-$server.bin"
  grep -aq 'Sending subsystem: sftp' "$vlog" || { echo "scp did not use the SFTP protocol"; return 1; }
  settle "$server"
}
for server in "${SERVERS[@]}"; do
  log "verifying $server"
  if ! msg=$(verify_server "$server"); then problem "$server check: $msg"; fi
done

# ---------------------------------------------------------------- login time
printf 'pwd\n' >"$WORK/pwd.batch"
for ((run = 1; run <= 5; run++)); do
  for server in "${SERVERS[@]}"; do
    status=ok
    t0=$(date +%s%N)
    run_sftp "$server" "${CIPHERS[0]}" "$WORK/pwd.batch" "${SSH_OPTS[@]}" >/dev/null 2>"$OUT/login.err" || status=fail
    t1=$(date +%s%N)
    [ "$status" = ok ] || problem "$server login run $run failed: $(tail -n1 "$OUT/login.err")"
    echo "$server,$run,$status,$(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.4f", d / 1e9 }')" >>"$OUT/login.csv"
    settle "$server"
  done
done
rm -f "$OUT/login.err"

# ---------------------------------------------------------------- 1 GiB transfers
# CPU accounting over the timed runs, as in bench/ftp_throughput.sh: the
# machine's time in processes less this script's tree and the servers' =
# other load.
cpu_snapshot() { # -> "busy steal total ours" in clock ticks
  local ours pid server ns
  ours=$(sed 's/^.*) //' "/proc/$$/stat" | awk '{ print $12 + $13 + $14 + $15 }')
  for server in "${SERVERS[@]}"; do
    ns=$(cpu_ns "$server")
    if [ -n "$ns" ]; then
      ours=$((ours + ns * CLK_TCK / 1000000000))
    else
      pid=$(pid_of "$server")
      ns=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $12 + $13 + $14 + $15 }')
      ours=$((ours + ${ns:-0}))
    fi
  done
  awk -v ours="$ours" '/^cpu / { busy = $2 + $3 + $4; total = busy + $5 + $6 + $7 + $8 + $9
    print busy, $9, total, ours; exit }' /proc/stat
}

one_run() { # server client cipher direction run
  local server=$1 client=$2 cipher=$3 dir=$4 run=$5 short=${3%@*} name rc=0 status=ok
  local errf=$OUT/err-$server-$client-$short-$dir-$run.log tf=$WORK/time.out c0 c1 b
  if [ "${TIMEOUTS[$server]:-0}" -ge 2 ]; then
    echo "$server,$client,$short,$dir,$run,skipped,,,," >>"$OUT/results.csv"
    return 0
  fi
  name=up/$server-$client-$short-$run.bin
  rm -f "$WORK/check/copy.bin"
  c0=$(cpu_ns "$server")
  local TIMEFORMAT='%3R %3U %3S'
  case "$client:$dir" in
    sftp:get)
      b=$WORK/xfer.batch
      printf 'get payload.bin %s\n' "$WORK/check/copy.bin" >"$b"
      { time run_sftp "$server" "$cipher" "$b" "${SSH_OPTS[@]}" >"$errf" 2>&1; } 2>"$tf" || rc=$? ;;
    sftp:put)
      b=$WORK/xfer.batch
      printf 'put %s %s\n' "$PAYLOAD" "$name" >"$b"
      { time run_sftp "$server" "$cipher" "$b" "${SSH_OPTS[@]}" >"$errf" 2>&1; } 2>"$tf" || rc=$? ;;
    scp:get)
      { time run_scp "$server" "$cipher" R:payload.bin "$WORK/check/copy.bin" -q "${SSH_OPTS[@]}" >"$errf" 2>&1; } 2>"$tf" || rc=$? ;;
    scp:put)
      { time run_scp "$server" "$cipher" "$PAYLOAD" "R:$name" -q "${SSH_OPTS[@]}" >"$errf" 2>&1; } 2>"$tf" || rc=$? ;;
  esac
  settle "$server"
  c1=$(cpu_ns "$server")
  local real user sys got
  read -r real user sys <"$tf"
  if [ "$dir" = get ]; then got=$WORK/check/copy.bin; else got=$DATA/$name; fi
  if [ "$rc" = 1 ] && [ "$client" = scp ] && ! grep -aq '^scp:' "$errf" &&
    [ "$(stat -c %s "$got" 2>/dev/null || echo missing)" = "$SIZE" ] && cmp -s "$PAYLOAD" "$got"; then
    # The file arrived whole and scp reported no error of its own, but ssh
    # exited 255: the server closed the channel without an exit status, or
    # dropped the connection before closing it ("closed by remote host").
    status=unclean
    UNCLEAN[$server]=$((${UNCLEAN[$server]:-0} + 1))
  elif [ "$rc" = 124 ]; then
    status=timeout
    TIMEOUTS[$server]=$((${TIMEOUTS[$server]:-0} + 1))
    problem "$server $client $short $dir run $run: not done after MAX_TIME=${MAX_TIME}s ($(stat -c %s "$got" 2>/dev/null || echo 0) of $SIZE bytes)$([ "${TIMEOUTS[$server]}" -lt 2 ] || echo "; $server's remaining transfers are skipped")"
  elif [ "$rc" != 0 ]; then
    status=fail
    problem "$server $client $short $dir run $run: exit $rc after ${real}s: $(grep -av '^sftp>' "$errf" | tail -n1)"
  elif [ "$(stat -c %s "$got" 2>/dev/null || echo missing)" != "$SIZE" ]; then
    status=short
    problem "$server $client $short $dir run $run: file is $(stat -c %s "$got" 2>/dev/null || echo missing) bytes, expected $SIZE"
  elif [ "$dir" = put ] && ! cmp -s "$PAYLOAD" "$got"; then
    status=corrupt
    problem "$server $client $short $dir run $run: uploaded file differs from the payload"
  fi
  rm -f "$got"
  [ "$status" != ok ] || rm -f "$errf"
  local mbs srv
  mbs=$(awk -v s="$SIZE" -v t="$real" 'BEGIN { printf "%.1f", (t > 0 ? s / t / 1e6 : 0) }')
  srv=
  if [ -n "$c0" ] && [ -n "$c1" ]; then srv=$(awk -v d=$((c1 - c0)) 'BEGIN { printf "%.2f", d / 1e9 }'); fi
  echo "$server,$client,$short,$dir,$run,$status,$real,$mbs,$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }'),$srv" >>"$OUT/results.csv"
  log "$(printf '%-5s %-4s %-17s %-3s run %s: %7s MB/s  %6ss  server CPU %5ss  %s' \
    "$server" "$client" "$short" "$dir" "$run" "$mbs" "$real" "${srv:-?}" "$status")"
}

declare -A UNCLEAN=() TIMEOUTS=()
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
read -r busy0 steal0 total0 ours0 <<<"$(cpu_snapshot)"
RUNS_DONE=0
for ((run = 1; run <= RUNS; run++)); do
  round_start=$(date +%s)
  for client in sftp scp; do
    for cipher in "${CIPHERS[@]}"; do
      for dir in get put; do
        if ((run % 2)); then order=(berth sshd); else order=(sshd berth); fi
        for server in "${order[@]}"; do one_run "$server" "$client" "$cipher" "$dir" "$run"; done
      done
    done
  done
  RUNS_DONE=$run
  if [ "$run" = 1 ] && [ "$RUNS" -gt 3 ] && (($(date +%s) - round_start > SLOW_ROUND)); then
    log "the first round took $(($(date +%s) - round_start)) s (> $SLOW_ROUND): 3 runs instead of $RUNS"
    RUNS=3
  fi
done
read -r busy1 steal1 total1 ours1 <<<"$(cpu_snapshot)"
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
OTHER_CPU=$(awk -v b="$((busy1 - busy0))" -v o="$((ours1 - ours0))" -v t="$((total1 - total0))" \
  'BEGIN { x = t > 0 ? (b - o) * 100 / t : 0; if (x < 0) x = 0; printf "%.0f", x }')
STEAL_CPU=$(awk -v s="$((steal1 - steal0))" -v t="$((total1 - total0))" \
  'BEGIN { printf "%.0f", (t > 0 ? s * 100 / t : 0) }')
log "other processes used ${OTHER_CPU}% of the machine's CPU during the timed transfers (steal ${STEAL_CPU}%)"
for server in "${!UNCLEAN[@]}"; do
  problem "$server: ${UNCLEAN[$server]} scp transfers moved the whole file (compared byte for byte) but scp exited 1 because ssh exited 255 ('Exit status -1' in ssh -v; often 'Connection to 127.0.0.1 closed by remote host'): the server ends the session without an exit-status request and may close the connection before the channel. sftp ignores ssh's exit code, scp does not. Reproduce: ssh -s -p PORT USER@127.0.0.1 sftp </dev/null; echo \$? (255; sshd gives 0)"
done

# ---------------------------------------------------------------- small files
# One sftp session per run: upload all files into a new folder, download them
# all again; "!date" between the steps stamps each phase.
small_run() { # server run
  local server=$1 run=$2 dir="small-$1-$2" back=$WORK/back-$1-$2 b=$WORK/small.batch
  local stamps=$WORK/stamps errf=$OUT/err-$1-small-$2.log status=ok
  mkdir -p "$back"
  : >"$stamps"
  cat >"$b" <<EOF
mkdir $dir
!date +%s%N >>$stamps
put $WORK/small/* $dir/
!date +%s%N >>$stamps
get $dir/* $back/
!date +%s%N >>$stamps
EOF
  if ! run_sftp "$server" "${CIPHERS[0]}" "$b" "${SSH_OPTS[@]}" >"$errf" 2>&1; then
    status=fail
    problem "$server small files run $run: sftp failed: $(grep -av '^sftp>' "$errf" | tail -n1)"
  elif [ "$(wc -l <"$stamps")" != 3 ]; then
    status=fail
    problem "$server small files run $run: sftp ran $(wc -l <"$stamps") of 3 stamps"
  elif ! diff -rq "$WORK/small" "$DATA/$dir" >/dev/null 2>&1 || ! diff -rq "$WORK/small" "$back" >/dev/null 2>&1; then
    status=corrupt
    problem "$server small files run $run: uploaded or downloaded files differ from the originals"
  fi
  settle "$server"
  local up=0 down=0
  if [ "$status" = ok ]; then
    up=$(awk 'NR==1 { a = $1 } NR==2 { b = $1 } END { printf "%.3f", (b - a) / 1e9 }' "$stamps")
    down=$(awk 'NR==2 { a = $1 } NR==3 { b = $1 } END { printf "%.3f", (b - a) / 1e9 }' "$stamps")
    rm -f "$errf"
  fi
  rm -rf "${DATA:?}/$dir" "$back"
  echo "$server,$run,$status,$FILES,$up,$down" >>"$OUT/files.csv"
  log "$(printf '%-5s %s x %s KiB run %s: up %ss, down %ss  %s' "$server" "$FILES" "$FILE_KIB" "$run" "$up" "$down" "$status")"
}
for ((run = 1; run <= SMALL_RUNS; run++)); do
  if ((run % 2)); then order=(berth sshd); else order=(sshd berth); fi
  for server in "${order[@]}"; do small_run "$server" "$run"; done
done

# ---------------------------------------------------------------- idle sessions
sessions() { # server count deadline -> writes sessions-<server>-<count>.json
  local server=$1 count=$2 deadline=$3 f=$OUT/sessions-$1-$2.json
  log "$server: opening $count idle SFTP sessions (paramiko, at most 8 logins at a time)"
  if ! timeout --foreground $((deadline + 300)) "$PY" "$HERE/sftp_sessions.py" --port "$(port_of "$server")" --user "$BENCH_USER" \
    --key "$WORK/client_key" --server-pid "$(pid_of "$server")" --count "$count" \
    --deadline "$deadline" >"$f" 2>"$OUT/sessions-$server-$count.err"; then
    problem "$server: sftp_sessions.py failed: $(tail -n1 "$OUT/sessions-$server-$count.err")"
    rm -f "$f"
    return 0
  fi
  log "$server: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("opened %(opened)s of %(requested)s in %(open_seconds)s s, alive after hold %(alive_after_hold)s, PSS/session %(pss_kib_per_session)s KiB" % d)' "$f")"
  settle "$server" 60
}
# A fresh berth for each count: memory freed after the transfers stays with
# the process and would hide what sessions cost.
stop_berth
start_berth
sessions berth "$SESSIONS" 120
sessions sshd "$SESSIONS" 120
if [ "$MAX_SESSIONS" -gt 0 ]; then
  stop_berth
  start_berth
  sessions berth "$MAX_SESSIONS" 180
fi

# ---------------------------------------------------------------- limits
openssl_16k() { # evp row-name extra... -> MB/s at 16 KiB blocks, one core
  local evp=$1 row=$2 out
  shift 2
  out=$(openssl speed -evp "$evp" -seconds 2 -bytes 16384 "$@" 2>/dev/null) || return 1
  echo "$out" | awk -v row="$row" '/^type/ { for (i = 2; i <= NF; i += 2) if ($i == "16384") col = (i - 2) / 2 + 2 }
    $1 == row && col { v = $col; sub(/k$/, "", v); printf "%.0f", v / 1000 }'
}
log "openssl speed (AES-128-GCM, ChaCha20-Poly1305; 16 KiB, one core)"
v=$(openssl_16k aes-128-gcm AES-128-GCM) || v=n/a
echo "\"AES-128-GCM encrypt, 16 KiB blocks, one core (openssl speed -evp aes-128-gcm)\",$v" >>"$OUT/limits.csv"
v=$(openssl_16k chacha20-poly1305 ChaCha20-Poly1305) || v=n/a
echo "\"ChaCha20-Poly1305 encrypt, 16 KiB blocks, one core (openssl speed -evp chacha20-poly1305)\",$v" >>"$OUT/limits.csv"
log "raw loopback TCP (python3, 4 GiB, median of 3)"
tcp=()
for _ in 1 2 3; do tcp+=("$(python3 "$HERE/loopback_tcp.py" $((4 << 30)))"); done
tcp_med=$(printf '%s\n' "${tcp[@]}" | sort -g | sed -n 2p)
echo "\"loopback TCP, one stream, 4 GiB, no encryption (bench/loopback_tcp.py, median of 3)\",$tcp_med" >>"$OUT/limits.csv"

# ---------------------------------------------------------------- report
for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || problem "server process $pid died during the run"; done
lvl='^[0-9T:.-]+ '
for f in "$OUT"/berth*.stderr; do
  if grep -aqE "$lvl(error|critical) " "$f"; then
    problem "berth logged errors ($(basename "$f")): $(grep -aE "$lvl(error|critical) " "$f" | head -n3 | tr '\n' ' ')"
  fi
done

cmd="bash bench/sftp_throughput.sh"
for v in RUNS SIZE_MIB FILES FILE_KIB SESSIONS MAX_SESSIONS MAX_TIME; do
  case "$v=${!v}" in
    RUNS=5 | RUNS=3 | SIZE_MIB=1024 | FILES=2000 | FILE_KIB=4 | SESSIONS=200 | MAX_SESSIONS=1000 | MAX_TIME=300) ;;
    *) cmd="$v=${!v} $cmd" ;;
  esac
done
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$(dirname "$BERTH")/CMakeCache.txt" 2>/dev/null || true)
threads=$(grep -ao 'serving with [0-9]* event-loop thread(s)' "$OUT/berth.stderr" | head -n1 | sed 's/serving with //' || true)
libssh_path=$(ldd "$BERTH" | awk '/libssh\.so/ { print $3; exit }')
libssh_pkg=$(dpkg -S "$(readlink -f "$libssh_path")" 2>/dev/null | cut -d: -f1-2 | head -n1 || true)
if [ -n "$libssh_pkg" ]; then
  libssh_version="$libssh_pkg $(dpkg-query -W -f '${Version}' "$libssh_pkg")"
else
  libssh_version=$(basename "$(readlink -f "$libssh_path")")
fi
if ((SIZE_MIB % 1024 == 0)); then size_human="$((SIZE_MIB / 1024)) GiB"; else size_human="$SIZE_MIB MiB"; fi
{
  echo "DATE=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "NPROC=$(nproc)"
  echo "CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
  echo "MEM=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
  echo "KERNEL=$(uname -r)"
  echo "BERTH_VERSION=$("$BERTH" --version 2>&1 | head -n1)"
  echo "BERTH_BUILD_TYPE=${build_type:-unknown}"
  echo "BERTH_COMMIT=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)"
  echo "BERTH_THREADS=${threads:-unknown event-loop threads}"
  echo "LIBSSH_VERSION=$libssh_version"
  echo "SSHD_VERSION=$("$SSHD" -V 2>&1 | head -n1) (Debian openssh-server $(dpkg-query -W -f '${Version}' openssh-server 2>/dev/null || echo '?'))"
  echo "SFTP_SERVER_PACKAGE=$(dpkg -S "$SFTP_SERVER" 2>/dev/null | cut -d: -f1 | head -n1) $(dpkg-query -W -f '${Version}' "$(dpkg -S "$SFTP_SERVER" 2>/dev/null | cut -d: -f1 | head -n1)" 2>/dev/null || true)"
  echo "CLIENT_VERSION=$(ssh -V 2>&1 | head -n1)"
  echo "PARAMIKO_VERSION=$("$PY" -c 'import paramiko; print(paramiko.__version__)')"
  echo "OPENSSL_VERSION=$(openssl version)"
  echo "COMMAND=$cmd"
  echo "SIZE=$SIZE"
  echo "SIZE_HUMAN=$size_human"
  echo "WORK_FS=$WORK_FS"
  echo "RUNS=$RUNS_DONE"
  echo "SMALL_RUNS=$SMALL_RUNS"
  echo "FILES=$FILES"
  echo "FILE_KIB=$FILE_KIB"
  echo "SESSIONS=$SESSIONS"
  echo "MAX_SESSIONS=$MAX_SESSIONS"
  echo "NOFILE=$NOFILE"
  echo "BENCH_USER=$BENCH_USER"
  echo "OTHER_CPU=$OTHER_CPU"
  echo "STEAL_CPU=$STEAL_CPU"
  echo "LOAD_START=$LOAD_START"
  echo "LOAD_END=$LOAD_END"
  echo "CPU_ACCOUNTING=${CG_KIND:+cgroup $CG_KIND}"
  echo "ELAPSED=$(($(date +%s) - SCRIPT_START))"
} >"$OUT/meta.env"
python3 "$HERE/render_benchmarks.py" sftp "$OUT" "$DOC"
cp "$DOC" "$OUT/BENCHMARKS.md"
log "wrote the SFTP section of $DOC (raw data in $OUT) after $(($(date +%s) - SCRIPT_START)) s"
if [ -s "$OUT/problems.txt" ]; then
  log "problems were seen; see the report and $OUT/problems.txt"
  exit 1
fi
