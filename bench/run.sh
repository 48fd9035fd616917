#!/usr/bin/env bash
# berth side by side with the servers it replaces, on loopback: vsftpd (FTP,
# explicit FTPS), ProFTPD (FTP, FTPS, SFTP via mod_sftp), Pure-FTPd (FTP,
# FTPS) and OpenSSH's sshd with sftp-server (SFTP), all measured with the same
# clients (curl and lftp for FTP/FTPS, passive; OpenSSH's sftp and scp for
# SFTP; Python for the many-session measurements):
#   1. download and upload of a 1 GiB file from the page cache (MB/s), and
#      an FTP upload that replaces a file of the same size
#   2. 2,000 files of 4 KiB uploaded, then downloaded, in one session (files/s)
#   3. 100 clients downloading a 10 MiB file each at once (aggregate MB/s)
#   4. memory (PSS of all the server's processes) with 1,000 idle logged-in
#      FTP sessions (berth also 10,000) and 200 SFTP sessions, per session
#   5. logins per second, 4 concurrent clients, connect + login + quit
#   6. the machine's limits: raw loopback TCP, openssl speed AES-128-GCM and
#      ChaCha20-Poly1305 on one core
# Each figure is the median of several runs, the servers interleaved (the
# order turns with each run). Writes docs/BENCHMARKS.md and its chart.
#
#   bash bench/run.sh            # full: about 20 minutes on 2 cores
#   bash bench/run.sh --quick    # under 3 minutes: smaller sizes, one run, fewer
#                                # sessions; the report stays in bench/out/
#
# Runs as root on Debian. Installs missing clients with apt-get (curl, lftp,
# openssh-client, openssl, python3-paramiko, gnuplot-nox; openssh-server with
# its service kept from starting), fetches vsftpd, ProFTPD and Pure-FTPd with
# `apt-get download` + `dpkg-deb -x` into bench/.peers/ (Debian's FTP server
# packages conflict with each other; these are never installed). Creates the
# system user berthbench (home: each run's data folder, a fresh random
# password) unless it exists from an earlier run. Everything listens on
# 127.0.0.1 high ports; every server runs in the foreground as a child of this
# script and is stopped by its PID. On a VM with free page reporting
# (virtio-balloon) it turns reporting off for the run and restores it at exit.
# Logs, configs and raw results go to bench/out/<UTC time>/.
#
# Knobs (environment; the --quick value in brackets): SIZE_MIB 1024 [64],
# RUNS 3 [1], BIG_RUNS (the 1 GiB rows) 5 [1], FILES 2000 [200], FTPS_FILES
# 200 [50], CONC_CLIENTS 100 [20], CONC_MIB 10 [10], FTP_SESSIONS 1000 [100],
# BERTH_FTP_SESSIONS 10000 [1000], SFTP_SESSIONS 200 [20], LOGIN_SECONDS 5
# [2], MAX_TIME (per transfer, s) 300, BENCH_USER berthbench, BERTH
# build/berth, DOC docs/BENCHMARKS.md [bench/out/<run>/],
# KEEP_PAGE_REPORTING 1 (leave free page reporting on), BENCH_DIR (put the
# workspace, the servers' homes included, there instead of /dev/shm: a disk
# file system), BERTH_UPLOAD_MODE atomic (or direct).
# To look into one row: SERVERS (e.g. "berth pureftpd"; berth always runs)
# and ONLY (sections: big replace small conc logins memory); with either, the
# report stays in bench/out/ as with --quick.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
QUICK=0
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: bash bench/run.sh [--quick]" >&2; exit 2 ;;
  esac
done
q() { if [ "$QUICK" = 1 ]; then echo "$2"; else echo "$1"; fi; } # full quick
SIZE_MIB=${SIZE_MIB:-$(q 1024 64)}
RUNS=${RUNS:-$(q 3 1)}
# The 1 GiB rows move most from run to run with the machine (bench/findings.md).
BIG_RUNS=${BIG_RUNS:-$(q 5 "$RUNS")}
FILES=${FILES:-$(q 2000 200)}
# FTPS: the first this many of them (at 40 ms a file, 2,000 would take 80 s a run).
FTPS_FILES=${FTPS_FILES:-$(q 200 50)}
FILE_KIB=4
CONC_CLIENTS=${CONC_CLIENTS:-$(q 100 20)}
CONC_MIB=${CONC_MIB:-10}
FTP_SESSIONS=${FTP_SESSIONS:-$(q 1000 100)}
BERTH_FTP_SESSIONS=${BERTH_FTP_SESSIONS:-$(q 10000 1000)}
SFTP_SESSIONS=${SFTP_SESSIONS:-$(q 200 20)}
LOGIN_SECONDS=${LOGIN_SECONDS:-$(q 5 2)}
HOLD=$(q 5 2)
SPEED_SECONDS=$(q 3 1)
TCP_MIB=$(q 4096 1024)
MAX_TIME=${MAX_TIME:-300}
BENCH_USER=${BENCH_USER:-berthbench}
BERTH=${BERTH:-$REPO/build/berth}
PEERS=$HERE/.peers
OUT=$HERE/out/$(date -u +%Y%m%dT%H%M%SZ)$([ "$QUICK" = 0 ] || echo -quick)
SERVERS=${SERVERS:-}
ONLY=${ONLY:-}
PARTIAL=$([ "$QUICK" = 1 ] || [ -n "$SERVERS$ONLY" ] && echo 1 || echo 0)
DOC=${DOC:-$([ "$PARTIAL" = 1 ] && echo "$OUT/BENCHMARKS.md" || echo "$REPO/docs/BENCHMARKS.md")}
SIZE=$((SIZE_MIB * 1024 * 1024))
CONC_SIZE=$((CONC_MIB * 1024 * 1024))
TLS_VERSION=1.3
TLS_CIPHER=TLS_AES_128_GCM_SHA256
SSH_CIPHERS=(aes128-gcm@openssh.com chacha20-poly1305@openssh.com)
BENCH_GECOS="berth benchmark"
SCRIPT_START=$(date +%s)

# shellcheck source=bench/common.sh
. "$HERE/common.sh"
# shellcheck source=bench/servers.sh
. "$HERE/servers.sh"

# SERVERS: the peers named there, and berth.
if [ -n "$SERVERS" ]; then
  keep() { local s; for s in "$@"; do [ "$s" = berth ] || [[ " $SERVERS " = *" $s "* ]] && echo "$s"; done; }
  mapfile -t FTP_SERVERS < <(keep "${FTP_SERVERS[@]}")
  mapfile -t SFTP_SERVERS < <(keep "${SFTP_SERVERS[@]}")
  mapfile -t ALL_SERVERS < <(keep "${ALL_SERVERS[@]}")
fi
# section NAME: true if ONLY is unset or names it
section() { [ -z "$ONLY" ] || [[ " $ONLY " = *" $1 "* ]]; }

[ "$(id -u)" = 0 ] || die "run as root (the peers log system users in; apt-get and useradd for the setup)"
[ -x "$BERTH" ] || die "no berth binary at $BERTH (build it: cmake --preset release && cmake --build build)"
mkdir -p "$OUT"
: >"$OUT/problems.txt"
: >"$OUT/results.tsv"
: >"$OUT/scenarios.tsv"
: >"$OUT/limits.tsv"
: >"$OUT/unsupported.tsv"

WORK=
PR_ORDER=/sys/module/page_reporting/parameters/page_reporting_order
PR_SAVED=
cleanup() {
  local pid all=()
  for pid in "${SERVER_PIDS[@]}"; do
    all+=("$pid")
    mapfile -t -O "${#all[@]}" all < <(descendants "$pid")
  done
  for pid in "${all[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${SERVER_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  cg_cleanup
  if [ "$POLICY_RC_MADE" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  if [ -n "$WORK" ]; then rm -rf "$WORK"; fi
  if [ -n "$PR_SAVED" ]; then echo "$PR_SAVED" >"$PR_ORDER" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- tools
need curl curl
need lftp lftp
need sftp openssh-client
need scp openssh-client
need ssh-keygen openssh-client
need openssl openssl
need python3 python3
need gnuplot gnuplot-nox
need cmp diffutils
need useradd passwd
need chpasswd passwd
need split coreutils
need ps procps
PY=
for p in python3 /usr/bin/python3; do
  if "$p" -c 'import paramiko' 2>/dev/null; then PY=$p; break; fi
done
if [ -z "$PY" ]; then
  apt_install python3-paramiko
  /usr/bin/python3 -c 'import paramiko' 2>/dev/null || die "python3-paramiko installed but not importable"
  PY=/usr/bin/python3
fi
fetch_peers

# Descriptors for the most sessions, server and client side (inherited by
# both): berth holds a socket and the home's directory for each session.
# Without CAP_SYS_RESOURCE (some containers) the hard limit stays, and berth
# is asked for as many sessions as fit under it.
want=$((BERTH_FTP_SESSIONS * 3 + 4096))
if [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt "$want" ]; then
  if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$want" ]; then
    ulimit -Hn "$want" 2>/dev/null || log "can not raise the descriptor hard limit $(ulimit -Hn) to $want"
  fi
  ulimit -Sn "$want" 2>/dev/null || ulimit -Sn "$(ulimit -Hn)"
fi
NOFILE=$(ulimit -n)
if [ "$NOFILE" != unlimited ] && [ $((BERTH_FTP_SESSIONS * 2 + 1024)) -gt "$NOFILE" ]; then
  fit=$(((NOFILE - 1024) / 2 / 1000 * 1000))
  note="FTP with $BERTH_FTP_SESSIONS sessions: the descriptor limit is $NOFILE and may not be raised here (no CAP_SYS_RESOURCE), so berth was asked for $fit"
  log "$note"
  printf 'berth\t%s\n' "$note" >>"$OUT/unsupported.tsv"
  BERTH_FTP_SESSIONS=$fit
fi

# ---------------------------------------------------------------- workspace
# The payload, one upload and one download copy at a time, the concurrent
# file and the small files three times over.
need_kb=$(((SIZE_MIB * 3 + CONC_MIB + 256) * 1024 + FILES * FILE_KIB * 3))
pick_workdir "$need_kb" berth-bench
DATA=$WORK/data
mkdir -p "$DATA/up" "$WORK/check" "$WORK/small" "$WORK/conc"

if ! getent passwd "$BENCH_USER" >/dev/null; then
  log "creating system user $BENCH_USER"
  useradd --system --shell /bin/sh --home-dir "$DATA" --no-create-home \
    --comment "$BENCH_GECOS" "$BENCH_USER" || die "useradd $BENCH_USER failed"
fi
[ "$(getent passwd "$BENCH_USER" | cut -d: -f5)" = "$BENCH_GECOS" ] ||
  die "user $BENCH_USER exists and was not created by this script (comment is not '$BENCH_GECOS'); set BENCH_USER"
BENCH_PASS=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
usermod --home "$DATA" "$BENCH_USER" >>"$OUT/setup.log" 2>&1 || die "usermod $BENCH_USER failed"
echo "$BENCH_USER:$BENCH_PASS" | chpasswd -c SHA512 >>"$OUT/setup.log" 2>&1 || die "chpasswd failed"

log "writing a ${SIZE_MIB} MiB payload, a ${CONC_MIB} MiB one and $FILES files of $FILE_KIB KiB on $WORK_FS ($WORK)"
PAYLOAD=$DATA/payload.bin
head -c "$SIZE" /dev/urandom >"$PAYLOAD"
head -c "$CONC_SIZE" /dev/urandom >"$DATA/conc.bin"
head -c $((FILES * FILE_KIB * 1024)) /dev/urandom | split -b $((FILE_KIB * 1024)) -a 6 -d - "$WORK/small/f"
mkdir "$WORK/small-ftps"
# Python's ssl sets no TLS 1.3 suite itself: OpenSSL's configuration does.
printf '%s\n' "openssl_conf = init" "[init]" "ssl_conf = ssl" "[ssl]" "system_default = tls" "[tls]" \
  "Ciphersuites = $TLS_CIPHER" >"$WORK/client-openssl.cnf"
find "$WORK/small" -type f | sort | awk -v n="$FTPS_FILES" 'NR <= n' | xargs cp -t "$WORK/small-ftps"
chmod 644 "$PAYLOAD" "$DATA/conc.bin"

# A VM with free page reporting (virtio-balloon) hands memory freed in the
# guest back to the host, and the next write into it pays a host page fault
# per page: a 1 GiB upload written where an earlier one was deleted cost 2-4x
# the CPU, for whichever server came then (bench/findings.md, "FTP upload").
# The run keeps its memory instead: reporting off until it ends (restored at
# exit; KEEP_PAGE_REPORTING=1 leaves it on), and the memory the transfers will
# write touched once beforehand.
PAGE_REPORTING="not present"
if [ -w "$PR_ORDER" ]; then
  PAGE_REPORTING="on (left on: KEEP_PAGE_REPORTING=1)"
  if [ "${KEEP_PAGE_REPORTING:-0}" != 1 ]; then
    # one above the largest order there is (/proc/buddyinfo): nothing is reported
    off=$(awk '/Normal/ { print NF - 4; exit }' /proc/buddyinfo)
    PR_SAVED=$(cat "$PR_ORDER")
    if echo "${off:-11}" >"$PR_ORDER" 2>/dev/null; then
      PAGE_REPORTING="off during the run (page_reporting_order $PR_SAVED, restored at the end)"
      log "free page reporting off for the run; touching $((SIZE_MIB * 3)) MiB of memory once"
      head -c $((SIZE * 3)) /dev/zero >"$WORK/warm" && rm -f "$WORK/warm"
    else
      PR_SAVED=
    fi
  fi
fi
chown -R "$BENCH_USER:" "$DATA"

CERT=$WORK/cert.pem
KEY=$WORK/key.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
  -keyout "$KEY" -out "$CERT" >>"$OUT/setup.log" 2>&1 || die "openssl req failed"
HOST_KEY=$WORK/ssh_host_ed25519_key
CLIENT_KEY=$WORK/client_key
ssh-keygen -q -t ed25519 -N '' -C berth-bench-host -f "$HOST_KEY"
ssh-keygen -q -t ed25519 -N '' -C berth-bench-client -f "$CLIENT_KEY"

for s in "${ALL_SERVERS[@]}"; do start_server "$s"; done

# ---------------------------------------------------------------- clients
# One transfer at a time (the 1 GiB and small-file rows): every server on CPU
# 0 and the client on CPU 1, where there are two, so that each side has a core
# of its own whatever the scheduler would do; without it the same server's
# figure spreads by 2x from run to run, by whether the two share a core.
PIN=()
pin_one_each() {
  [ "$(nproc)" -ge 2 ] || return 0
  local s
  for s in "${!PID_OF[@]}"; do taskset -a -p -c 0 "${PID_OF[$s]}" >/dev/null 2>&1 || true; done
  PIN=(taskset -c 1)
  log "servers on CPU 0, clients on CPU 1"
}
unpin() {
  [ "${#PIN[@]}" -gt 0 ] || return 0
  local s
  for s in "${!PID_OF[@]}"; do taskset -a -p -c "0-$(($(nproc) - 1))" "${PID_OF[$s]}" >/dev/null 2>&1 || true; done
  PIN=()
}
ftp_url() { echo "ftp://$BENCH_USER:$BENCH_PASS@127.0.0.1:${FTP_PORT_OF[$1]}"; }
curl_args() { # mode(ftp|ftps) -> ARGS
  ARGS=(-sS --max-time "$MAX_TIME" --ftp-pasv)
  [ "$1" = ftp ] || ARGS+=(--ssl-reqd -k "--tlsv$TLS_VERSION" --tls-max "$TLS_VERSION" --tls13-ciphers "$TLS_CIPHER")
}
SSH_OPTS=(-F /dev/null -i "$CLIENT_KEY" -o IdentitiesOnly=yes -o BatchMode=yes
  -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o Compression=no
  -o ConnectTimeout=10 -o LogLevel=ERROR)
TARGET=$BENCH_USER@127.0.0.1
run_sftp() { # server cipher batchfile [sftp args...]
  local server=$1 cipher=$2 batch=$3
  shift 3
  "${PIN[@]}" timeout --foreground "$MAX_TIME" sftp -b "$batch" -P "${SFTP_PORT_OF[$server]}" -c "$cipher" "${SSH_OPTS[@]}" "$@" "$TARGET"
}
run_scp() { # server cipher from to ("R:" marks the remote side)
  local from=${3/#R:/$TARGET:} to=${4/#R:/$TARGET:}
  "${PIN[@]}" timeout --foreground "$MAX_TIME" scp -q -P "${SFTP_PORT_OF[$1]}" -c "$2" "${SSH_OPTS[@]}" "$from" "$to"
}
run_lftp() { # server mode(ftp|ftps) script: runs the lftp commands of SCRIPT (one a line)
  local script=$WORK/lftp.script
  {
    echo "set cmd:fail-exit yes; set net:max-retries 1; set net:timeout 30; set ftp:passive-mode on"
    if [ "$2" = ftp ]; then
      echo "set ftp:ssl-allow no"
    else
      echo "set ftp:ssl-force yes; set ftp:ssl-protect-data yes; set ssl:verify-certificate no"
      echo "set ssl:priority NORMAL:-VERS-ALL:+VERS-TLS$TLS_VERSION:-CIPHER-ALL:+AES-128-GCM"
    fi
    echo "open -u $BENCH_USER,$BENCH_PASS -p ${FTP_PORT_OF[$1]} 127.0.0.1"
    printf '%s\n' "$3" quit
  } >"$script"
  "${PIN[@]}" timeout --foreground "$MAX_TIME" lftp -f "$script"
}

# ---------------------------------------------------------------- records
SCEN_IDS=()
# add_scen ID GROUP LABEL UNIT hi|lo: a row of the report (hi: more is better)
add_scen() { SCEN_IDS+=("$1"); printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$OUT/scenarios.tsv"; }
record() { # scenario server run status value
  printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$OUT/results.tsv"
  log "$(printf '%-26s %-9s run %s: %10s  %s' "$1" "$2" "$3" "$5" "$4")"
}
order_of() { # run server... -> the servers, turned by one more each run
  local run=$1 n i
  shift
  n=$#
  local s=("$@")
  for ((i = 0; i < n; i++)); do echo "${s[$(((i + run - 1) % n))]}"; done
}
# rounds FUNC VARIANT...: FUNC SERVER VARIANT RUN for each run (ROUNDS of
# them, by default RUNS), variant and server that speaks it, the servers'
# order turned each run
rounds() {
  local func=$1 run v s n=${ROUNDS:-$RUNS}
  shift
  for ((run = 1; run <= n; run++)); do
    for v in "$@"; do
      for s in $(order_of "$run" $(servers_for "$v")); do "$func" "$s" "$v" "$run"; done
    done
  done
}
mbs() { awk -v b="$1" -v ns="$2" 'BEGIN { printf "%.1f", (ns > 0 ? b / (ns / 1e9) / 1e6 : 0) }'; }
now_ns() { date +%s%N; }

# ---------------------------------------------------------------- checks
# Untimed, before anything is measured: a verbose download and upload per FTP
# server and mode, compared byte for byte, with the TLS version and cipher on
# both connections; a verbose sftp session per SFTP server and cipher.
check_ftp() { # server mode -> message on stdout when it fails
  local s=$1 mode=$2 vlog=$OUT/check-$1-$2.log n
  curl_args "$mode"
  rm -f "$WORK/check/copy.bin"
  if ! curl -v "${ARGS[@]}" -o "$WORK/check/copy.bin" "$(ftp_url "$s")/payload.bin" 2>"$vlog" ||
    ! curl "${ARGS[@]}" -T "$DATA/conc.bin" "$(ftp_url "$s")/up/check.bin" 2>>"$vlog"; then
    echo "curl failed: $(grep -a '^curl:' "$vlog" | tail -n1)"
    return 1
  fi
  cmp -s "$PAYLOAD" "$WORK/check/copy.bin" || { echo "downloaded copy differs"; return 1; }
  cmp -s "$DATA/conc.bin" "$DATA/up/check.bin" || { echo "uploaded copy differs"; return 1; }
  rm -f "$WORK/check/copy.bin" "$DATA/up/check.bin"
  [ "$mode" = ftps ] || return 0
  grep -aq '^> PROT P' "$vlog" || { echo "no PROT P in the exchange"; return 1; }
  n=$(grep -ac "^\* SSL connection using TLSv$TLS_VERSION / $TLS_CIPHER" "$vlog" || true)
  [ "$n" -ge 2 ] || { echo "expected TLSv$TLS_VERSION / $TLS_CIPHER on control and data connections, saw $n"; return 1; }
}
check_sftp() { # server cipher -> message on stdout when it fails
  local s=$1 cipher=$2 vlog=$OUT/check-$1-${2%@*}.log
  printf 'get conc.bin %s\nput %s up/check.bin\n' "$WORK/check/copy.bin" "$DATA/conc.bin" >"$WORK/check.batch"
  rm -f "$WORK/check/copy.bin"
  run_sftp "$s" "$cipher" "$WORK/check.batch" -v >"$vlog" 2>&1 ||
    { echo "sftp -c $cipher failed: $(grep -av '^debug' "$vlog" | tail -n2 | tr '\n' ' ')"; return 1; }
  [ "$(grep -ac "kex: .* cipher: $cipher " "$vlog" || true)" -ge 2 ] ||
    { echo "sftp -c $cipher: the log does not show $cipher both ways"; return 1; }
  cmp -s "$DATA/conc.bin" "$WORK/check/copy.bin" || { echo "sftp download differs"; return 1; }
  cmp -s "$DATA/conc.bin" "$DATA/up/check.bin" || { echo "sftp upload differs"; return 1; }
  rm -f "$WORK/check/copy.bin" "$DATA/up/check.bin"
  settle "$s"
}
declare -A BROKEN=() # "server check" that failed: not measured
for s in "${FTP_SERVERS[@]}"; do
  for mode in ftp ftps; do
    log "checking $s $mode"
    if ! msg=$(check_ftp "$s" "$mode"); then problem "$s $mode check: $msg"; BROKEN["$s $mode"]=1; fi
  done
done
for s in "${SFTP_SERVERS[@]}"; do
  for cipher in "${SSH_CIPHERS[@]}"; do
    log "checking $s sftp ${cipher%@*}"
    if msg=$(check_sftp "$s" "$cipher"); then continue; fi
    BROKEN["$s sftp-${cipher%@*}"]=1
    if [[ "$msg" == *"no matching cipher found"* ]]; then
      log "$s does not offer $cipher: not measured with it"
      printf '%s\t%s\n' "$s" "SFTP with $cipher (the server does not offer it)" >>"$OUT/unsupported.tsv"
    else
      problem "$s sftp check: $msg"
    fi
  done
done
# servers_for VARIANT (ftp, ftps, sftp, sftp-CIPHER, scp-CIPHER): the servers
# that speak it and passed its check
servers_for() {
  local s list check=$1
  case "$1" in
    sftp) check=sftp-${SSH_CIPHERS[0]%@*} ;;
    scp-*) check=sftp-${1#scp-} ;;
  esac
  if [ "${1:0:1}" = s ]; then list=("${SFTP_SERVERS[@]}"); else list=("${FTP_SERVERS[@]}"); fi
  for s in "${list[@]}"; do
    [ -n "${BROKEN["$s $check"]:-}" ] || echo "$s"
  done
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
SNAP0=$(cpu_snapshot "${ALL_SERVERS[@]}")

# ---------------------------------------------------------------- 1. big file
# variant: ftp | ftps | sftp-<cipher> | scp-<cipher>; one timed client run.
big_one() { # scenario server variant dir(down|up) run
  # Downloads go to /dev/null, so the client's own file writes do not bound
  # the server (the verification pass before the timed runs compares a
  # download byte for byte); curl reports the size it read, sftp and scp fail
  # on a short transfer. Uploads are compared byte for byte.
  local scen=$1 s=$2 variant=$3 dir=$4 run=$5 t0 t1 rc=0 got=0 status=ok name=up/big-$2-$5.bin
  local errf=$OUT/err-$scen-$s-$run.log cipher=
  case "$variant" in s*-*) cipher=${variant#*-}@openssh.com ;; esac
  rm -f "$DATA/$name"
  local c0 c1
  c0=$(cpu_ns "$s")
  t0=$(now_ns)
  case "$variant:$dir" in
    ftp*:down) curl_args "${variant}"; got=$("${PIN[@]}" curl "${ARGS[@]}" -o /dev/null -w '%{size_download}' "$(ftp_url "$s")/payload.bin" 2>"$errf") || rc=$? ;;
    ftp*:up) curl_args "${variant}"; "${PIN[@]}" curl "${ARGS[@]}" -T "$PAYLOAD" "$(ftp_url "$s")/$name" 2>"$errf" || rc=$? ;;
    sftp-*:down) printf 'get payload.bin /dev/null\n' >"$WORK/x.batch"; run_sftp "$s" "$cipher" "$WORK/x.batch" >"$errf" 2>&1 || rc=$? ;;
    sftp-*:up) printf 'put %s %s\n' "$PAYLOAD" "$name" >"$WORK/x.batch"; run_sftp "$s" "$cipher" "$WORK/x.batch" >"$errf" 2>&1 || rc=$? ;;
    scp-*:down) run_scp "$s" "$cipher" R:payload.bin /dev/null >"$errf" 2>&1 || rc=$? ;;
    scp-*:up) run_scp "$s" "$cipher" "$PAYLOAD" "R:$name" >"$errf" 2>&1 || rc=$? ;;
  esac
  t1=$(now_ns)
  case "$variant" in s*) settle "$s" ;; esac # sshd's session processes: their CPU too
  c1=$(cpu_ns "$s")
  if [ "$dir" = up ]; then
    got=$(stat -c %s "$DATA/$name" 2>/dev/null || echo 0)
  elif [ "$variant" != ftp ] && [ "$variant" != ftps ]; then
    got=$([ "$rc" = 0 ] && echo "$SIZE" || echo 0) # sftp and scp: their exit status
  fi
  if [ "$got" != "$SIZE" ]; then
    status=fail
    problem "$s $scen run $run: exit $rc, $got of $SIZE bytes: $(grep -av '^sftp>' "$errf" | tail -n1)"
  elif [ "$dir" = up ] && ! cmp -s "$PAYLOAD" "$DATA/$name"; then
    status=fail
    problem "$s $scen run $run: the uploaded file differs from the payload"
  elif [ "$rc" != 0 ]; then
    # the file arrived whole (scp: ssh's exit 255 when a server ends the
    # session without an exit status): counted, and reported
    problem "$s $scen run $run: the file arrived whole but the client exited $rc: $(grep -av '^sftp>' "$errf" | tail -n1)"
  fi
  rm -f "$DATA/$name"
  [ "$status" != ok ] || [ "$rc" != 0 ] || rm -f "$errf"
  record "$scen" "$s" "$run" "$status" "$(mbs "$SIZE" $((t1 - t0)))"
  if [ -n "$c0" ] && [ -n "$c1" ]; then
    record "cpu_$scen" "$s" "$run" "$status" \
      "$(awk -v ns=$((c1 - c0)) -v b="$SIZE" 'BEGIN { printf "%.2f", ns / 1e9 / (b / 1073741824) }')"
  fi
}
SIZE_HUMAN=$([ $((SIZE_MIB % 1024)) = 0 ] && echo "$((SIZE_MIB / 1024)) GiB" || echo "$SIZE_MIB MiB")
BIG_VARIANTS=(ftp ftps sftp-aes128-gcm sftp-chacha20-poly1305 scp-aes128-gcm)
variant_label() {
  case "$1" in
    ftp) echo "FTP" ;;
    ftps) echo "FTPS (TLS $TLS_VERSION, AES-128-GCM)" ;;
    sftp) echo "SFTP ${SSH_CIPHERS[0]%@*}" ;;
    sftp-*) echo "SFTP ${1#sftp-}" ;;
    scp-*) echo "scp ${1#scp-}" ;;
  esac
}
for v in "${BIG_VARIANTS[@]}"; do
  add_scen "big_down_$v" "$SIZE_HUMAN file (MB/s)" "$(variant_label "$v") download" MB/s hi
  add_scen "big_up_$v" "$SIZE_HUMAN file (MB/s)" "$(variant_label "$v") upload" MB/s hi
done
# The server's CPU time (its cgroup: every process it forks) per GiB moved.
for v in "${BIG_VARIANTS[@]}"; do
  add_scen "cpu_big_down_$v" "server CPU per GiB moved, $SIZE_HUMAN file (s)" "$(variant_label "$v") download" s/GiB lo
  add_scen "cpu_big_up_$v" "server CPU per GiB moved, $SIZE_HUMAN file (s)" "$(variant_label "$v") upload" s/GiB lo
done
big_both() { # server variant run
  big_one "big_down_$2" "$1" "$2" down "$3"
  big_one "big_up_$2" "$1" "$2" up "$3"
}
pin_one_each
! section big || ROUNDS=$BIG_RUNS rounds big_both "${BIG_VARIANTS[@]}"

# ---------------------------------------------------------------- 1b. replace
# An FTP upload over an existing file of the same size, as a nightly backup
# that overwrites yesterday's does. The old file is written and flushed to its
# file system untimed first, so that its pages are clean cache, as an old
# file's are. Servers that truncate in place (vsftpd, ProFTPD, Pure-FTPd) free
# the old pages as the upload starts and write into them; berth's atomic
# upload mode writes a second copy beside the old one until the rename, and
# berth_upload_mode says which mode berth ran in.
replace_one() { # server variant run
  local s=$1 variant=$2 run=$3 name=up/replace-$1.bin t0 t1 c0 c1 rc=0 status=ok
  local errf=$OUT/err-replace-$s-$run.log
  cp "$PAYLOAD" "$DATA/$name"
  chown "$BENCH_USER:" "$DATA/$name"
  sync -f "$DATA/$name"
  curl_args "$variant"
  c0=$(cpu_ns "$s")
  t0=$(now_ns)
  "${PIN[@]}" curl "${ARGS[@]}" -T "$PAYLOAD" "$(ftp_url "$s")/$name" 2>"$errf" || rc=$?
  t1=$(now_ns)
  c1=$(cpu_ns "$s")
  if [ "$rc" != 0 ] || ! cmp -s "$PAYLOAD" "$DATA/$name"; then
    status=fail
    problem "$s replace run $run: exit $rc, or the replaced file differs from the payload"
  fi
  rm -f "$DATA/$name"
  [ "$status" != ok ] || rm -f "$errf"
  record "replace_$variant" "$s" "$run" "$status" "$(mbs "$SIZE" $((t1 - t0)))"
  if [ -n "$c0" ] && [ -n "$c1" ]; then
    record "cpu_replace_$variant" "$s" "$run" "$status" \
      "$(awk -v ns=$((c1 - c0)) -v b="$SIZE" 'BEGIN { printf "%.2f", ns / 1e9 / (b / 1073741824) }')"
  fi
}
if section replace; then
  add_scen replace_ftp "$SIZE_HUMAN file replacing one of the same size (MB/s)" "FTP upload (berth: $BERTH_UPLOAD_MODE)" MB/s hi
  add_scen cpu_replace_ftp "server CPU per GiB, $SIZE_HUMAN file replacing one (s)" "FTP upload (berth: $BERTH_UPLOAD_MODE)" s/GiB lo
  ROUNDS=$BIG_RUNS rounds replace_one ftp
fi

# ---------------------------------------------------------------- 2. small files
# One session: upload all files into a new folder, then download them all;
# the client stamps the time between the steps (lftp and sftp: "!date").
small_one() { # server mode(ftp|ftps|sftp) run
  local s=$1 mode=$2 run=$3 dir=small-$1-$3 back=$WORK/back-$1-$3 stamps=$WORK/stamps rc=0
  local errf=$OUT/err-small-$2-$1-$3.log status=ok stamp="!date +%s%N >>$WORK/stamps"
  local src=$WORK/small n=$FILES
  [ "$mode" != ftps ] || { src=$WORK/small-ftps; n=$FTPS_FILES; }
  mkdir -p "$back"
  : >"$stamps"
  if [ "$mode" = sftp ]; then
    printf 'mkdir %s\n%s\nput %s/* %s/\n%s\nget %s/* %s/\n%s\n' "$dir" "$stamp" "$WORK/small" "$dir" \
      "$stamp" "$dir" "$back" "$stamp" >"$WORK/small.batch"
    run_sftp "$s" "${SSH_CIPHERS[0]}" "$WORK/small.batch" >"$errf" 2>&1 || rc=$?
  elif [ "$mode" = ftps ]; then
    local rates
    rates=$(OPENSSL_CONF=$WORK/client-openssl.cnf "${PIN[@]}" timeout --foreground "$MAX_TIME" \
      python3 "$HERE/small_ftp.py" --port "${FTP_PORT_OF[$s]}" --user "$BENCH_USER" \
      --password "$BENCH_PASS" --local "$src" --remote "$dir" --back "$back" \
      --cipher "$TLS_CIPHER" 2>"$errf") || rc=$?
    # The client times its own steps: stamps as the others give them.
    [ "$rc" != 0 ] || awk -v n="$n" -v r="$rates" 'BEGIN { split(r, a, " ");
      printf "0\n%.0f\n%.0f\n", n / a[1] * 1e9, n / a[1] * 1e9 + n / a[2] * 1e9 }' >"$stamps"
  else
    run_lftp "$s" "$mode" "$(printf '%s\n' "mkdir $dir" "cd $dir" "lcd $WORK/small" "$stamp" "mput *" \
      "$stamp" "lcd $back" "mget *" "$stamp")" >"$errf" 2>&1 || rc=$?
  fi
  if [ "$rc" != 0 ] || [ "$(wc -l <"$stamps")" != 3 ]; then
    status=fail
    problem "$s small files ($mode) run $run: exit $rc after $(wc -l <"$stamps") of 3 steps: $(grep -av '^sftp>' "$errf" | tail -n1)"
  elif ! diff -rq "$src" "$DATA/$dir" >/dev/null 2>&1 || ! diff -rq "$src" "$back" >/dev/null 2>&1; then
    status=fail
    problem "$s small files ($mode) run $run: uploaded or downloaded files differ from the originals"
  fi
  [ "$status" != ok ] || rm -f "$errf"
  local up down
  up=$(awk -v n="$n" 'NR==1 { a = $1 } NR==2 { b = $1 } END { printf "%.0f", (b > a ? n / ((b - a) / 1e9) : 0) }' "$stamps")
  down=$(awk -v n="$n" 'NR==2 { a = $1 } NR==3 { b = $1 } END { printf "%.0f", (b > a ? n / ((b - a) / 1e9) : 0) }' "$stamps")
  rm -rf "${DATA:?}/$dir" "$back"
  record "small_up_$mode" "$s" "$run" "$status" "$up"
  record "small_down_$mode" "$s" "$run" "$status" "$down"
  settle "$s"
}
# FTPS with Python's ftplib (bench/small_ftp.py, data connections resume the
# control connection's TLS session), not lftp: lftp waits about 50-100 ms per
# file on FTPS data connections, whichever the server, and would measure
# little else.
for mode in ftp ftps sftp; do
  case "$mode" in sftp) client="sftp -b" ;; ftps) client="ftplib, first $FTPS_FILES files" ;; *) client=lftp ;; esac
  add_scen "small_up_$mode" "$FILES files of $FILE_KIB KiB, one session (files/s)" "$(variant_label "$mode") upload ($client)" files/s hi
  add_scen "small_down_$mode" "$FILES files of $FILE_KIB KiB, one session (files/s)" "$(variant_label "$mode") download ($client)" files/s hi
done
! section small || rounds small_one ftp ftps sftp
unpin

# ---------------------------------------------------------------- 3. many clients
# CONC_CLIENTS clients started at once, each downloading the CONC_MIB file
# (curl; sftp); aggregate = all bytes / time from the first start to the last end.
conc_one() { # server mode run
  local s=$1 mode=$2 run=$3 i pids=() t0 t1 bad=0
  rm -f "$WORK"/conc/*
  printf 'get conc.bin /dev/null\n' >"$WORK/conc.batch"
  curl_args "$mode"
  t0=$(now_ns)
  for ((i = 1; i <= CONC_CLIENTS; i++)); do
    if [ "$mode" = sftp ]; then
      run_sftp "$s" "${SSH_CIPHERS[0]}" "$WORK/conc.batch" >"$WORK/conc/$i.err" 2>&1 &
    else
      curl "${ARGS[@]}" -o /dev/null -w '%{size_download}' "$(ftp_url "$s")/conc.bin" >"$WORK/conc/$i.out" 2>"$WORK/conc/$i.err" &
    fi
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { bad=$((bad + 1)); cp "$WORK/conc/$((i + 1)).err" "$OUT/err-conc-$s-$mode-$run-$((i + 1)).log"; }
  done
  t1=$(now_ns)
  if [ "$mode" != sftp ]; then
    for ((i = 1; i <= CONC_CLIENTS; i++)); do
      [ "$(cat "$WORK/conc/$i.out" 2>/dev/null)" = "$CONC_SIZE" ] || bad=$((bad + 1))
    done
  fi
  if [ "$bad" = 0 ]; then
    record "conc_$mode" "$s" "$run" ok "$(mbs $((CONC_SIZE * CONC_CLIENTS)) $((t1 - t0)))"
  else
    problem "$s $CONC_CLIENTS clients ($mode) run $run: $bad failed downloads"
    record "conc_$mode" "$s" "$run" fail 0
  fi
  settle "$s" 30
}
for mode in ftp ftps sftp; do
  client=$([ "$mode" = sftp ] && echo "sftp -b" || echo curl)
  add_scen "conc_$mode" "$CONC_CLIENTS clients at once, $CONC_MIB MiB each (aggregate MB/s)" "$(variant_label "$mode") ($client)" MB/s hi
done
! section conc || rounds conc_one ftp ftps sftp

# ---------------------------------------------------------------- 5. logins
login_one() { # server proto run [scenario]
  local s=$1 proto=$2 run=$3 scen=${4:-login_$2} port auth
  local f=$OUT/login-$scen-$s-$run.json
  if [ "$proto" = ftp ]; then port=${FTP_PORT_OF[$s]}; auth=(--password "$BENCH_PASS"); else port=${SFTP_PORT_OF[$s]}; auth=(--key "$CLIENT_KEY"); fi
  if ! "$PY" "$HERE/login_rate.py" --proto "$proto" --port "$port" --user "$BENCH_USER" "${auth[@]}" \
    --clients 4 --seconds "$LOGIN_SECONDS" >"$f" 2>"$f.err"; then
    problem "$s $scen run $run: login_rate.py failed: $(tail -n1 "$f.err")"
    record "$scen" "$s" "$run" fail 0
    return 0
  fi
  rm -f "$f.err"
  local failures
  failures=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["failures"])' "$f")
  [ "$failures" = 0 ] || problem "$s $scen run $run: $failures failed logins: $(cat "$f")"
  record "$scen" "$s" "$run" "$([ "$failures" = 0 ] && echo ok || echo fail)" \
    "$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["logins_per_s"])' "$f")"
  settle "$s" 30
}
add_scen login_ftp "logins per second, 4 clients (connect, login, quit)" "FTP, password" logins/s hi
add_scen login_ftp_nocache "logins per second, 4 clients (connect, login, quit)" "FTP, password; berth with login_cache = 0" logins/s hi
add_scen login_sftp "logins per second, 4 clients (connect, login, quit)" "SFTP, ed25519 key, up to the SFTP VERSION" logins/s hi
if section logins; then
  rounds login_one ftp sftp
  # The same password logins with berth's verified-login cache off: every login
  # verifies the hash, as the peers do. The peers' figures are the row above's.
  stop_server berth
  BERTH_EXTRA="login_cache = 0" start_berth
  for ((run = 1; run <= RUNS; run++)); do login_one berth ftp "$run" login_ftp_nocache; done
  stop_server berth
fi

# ---------------------------------------------------------------- 4. memory
# A fresh berth for each count: memory freed after the transfers stays with
# the process and would hide what sessions cost.
sessions_one() { # server proto count
  local s=$1 proto=$2 count=$3 f=$OUT/sessions-$1-$2-$3.json port auth
  [ "$s" != berth ] || { stop_server berth; start_berth; }
  if [ "$proto" = ftp ]; then port=${FTP_PORT_OF[$s]}; auth=(--password "$BENCH_PASS"); else port=${SFTP_PORT_OF[$s]}; auth=(--key "$CLIENT_KEY"); fi
  log "$s: opening $count idle $proto sessions"
  if ! timeout --foreground 600 "$PY" "$HERE/sessions.py" --proto "$proto" --port "$port" --user "$BENCH_USER" \
    "${auth[@]}" --server-pid "${PID_OF[$s]}" --count "$count" --parallel "$([ "$proto" = ftp ] && echo 32 || echo 8)" \
    --hold "$HOLD" --deadline 240 >"$f" 2>"$f.err"; then
    problem "$s: sessions.py ($proto, $count) failed: $(tail -n1 "$f.err")"
    rm -f "$f"
    record "mem_${proto}_$count" "$s" 1 fail 0
    return 0
  fi
  rm -f "$f.err"
  local opened per
  read -r opened per < <("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["opened"], round(d["pss_kib_per_session"] or 0, 1))' "$f")
  if [ "$opened" != "$count" ]; then
    problem "$s: $opened of $count idle $proto sessions opened: $("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["errors"])' "$f")"
    record "mem_${proto}_$count" "$s" 1 fail "$per"
  else
    record "mem_${proto}_$count" "$s" 1 ok "$per"
  fi
  settle "$s" 60
}
add_scen "mem_ftp_$FTP_SESSIONS" "memory per idle logged-in session (PSS KiB)" "FTP, $FTP_SESSIONS sessions" KiB lo
add_scen "mem_ftp_$BERTH_FTP_SESSIONS" "memory per idle logged-in session (PSS KiB)" "FTP, $BERTH_FTP_SESSIONS sessions (berth only)" KiB lo
add_scen "mem_sftp_$SFTP_SESSIONS" "memory per idle logged-in session (PSS KiB)" "SFTP, $SFTP_SESSIONS sessions" KiB lo
if section memory; then
  for s in $(servers_for ftp); do sessions_one "$s" ftp "$FTP_SESSIONS"; done
  servers_for ftp | grep -qx berth && sessions_one berth ftp "$BERTH_FTP_SESSIONS"
  for s in $(servers_for sftp); do sessions_one "$s" sftp "$SFTP_SESSIONS"; done
fi

SNAP1=$(cpu_snapshot "${ALL_SERVERS[@]}")
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
read -r OTHER_CPU STEAL_CPU <<<"$(other_load "$SNAP0" "$SNAP1")"
log "other processes used ${OTHER_CPU}% of the machine's CPU during the measurements (steal ${STEAL_CPU}%)"

# ---------------------------------------------------------------- 6. limits
log "machine limits: openssl speed, loopback TCP"
v=$(openssl_speed aes-128-gcm AES-128-GCM "$SPEED_SECONDS") || v=n/a
printf 'AES-128-GCM, 16 KiB blocks, one core (openssl speed -evp aes-128-gcm)\t%s\n' "$v" >>"$OUT/limits.tsv"
v=$(openssl_speed chacha20-poly1305 ChaCha20-Poly1305 "$SPEED_SECONDS") || v=n/a
printf 'ChaCha20-Poly1305, 16 KiB blocks, one core (openssl speed -evp chacha20-poly1305)\t%s\n' "$v" >>"$OUT/limits.tsv"
tcp=()
for _ in 1 2 3; do tcp+=("$(python3 "$HERE/loopback_tcp.py" $((TCP_MIB << 20)))"); done
printf 'loopback TCP, one stream, %s MiB, no encryption (bench/loopback_tcp.py, median of 3)\t%s\n' \
  "$TCP_MIB" "$(printf '%s\n' "${tcp[@]}" | sort -g | sed -n 2p)" >>"$OUT/limits.tsv"

# ---------------------------------------------------------------- report
for s in "${ALL_SERVERS[@]}"; do
  [ -z "${PID_OF[$s]:-}" ] || kill -0 "${PID_OF[$s]}" 2>/dev/null || problem "$s died during the run"
done
lvl='^[0-9T:.-]+ '
for f in "$OUT"/berth*.log; do
  if grep -aqE "$lvl(error|critical) " "$f"; then
    problem "berth logged errors ($(basename "$f")): $(grep -aE "$lvl(error|critical) " "$f" | head -n3 | tr '\n' ' ')"
  fi
done
stop_all_servers

knobs=
[ "${KEEP_PAGE_REPORTING:-0}" != 1 ] || knobs+="KEEP_PAGE_REPORTING=1 "
[ -z "${BENCH_DIR:-}" ] || knobs+="BENCH_DIR=$BENCH_DIR "
[ "$BERTH_UPLOAD_MODE" = atomic ] || knobs+="BERTH_UPLOAD_MODE=$BERTH_UPLOAD_MODE "
cmd="$knobs${SERVERS:+SERVERS=\"$SERVERS\" }${ONLY:+ONLY=\"$ONLY\" }bash bench/run.sh$([ "$QUICK" = 0 ] || echo ' --quick')"
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$(dirname "$BERTH")/CMakeCache.txt" 2>/dev/null || true)
threads=$(grep -ao 'serving with [0-9]* event-loop thread(s)' "$OUT/berth.log" | head -n1 | sed 's/serving with //' || true)
libssh_path=$(ldd "$BERTH" | awk '/libssh\.so/ { print $3; exit }')
libssh_pkg=$(dpkg -S "$(readlink -f "$libssh_path")" 2>/dev/null | cut -d: -f1-2 | head -n1 || true)
{
  echo "DATE=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "QUICK=$QUICK"
  echo "NPROC=$(nproc)"
  echo "CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
  echo "MEM=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
  echo "KERNEL=$(uname -r)"
  echo "OS=$(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "BERTH_VERSION=${VERSION_OF[berth]}"
  echo "BERTH_BUILD_TYPE=${build_type:-unknown}"
  echo "BERTH_COMMIT=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)"
  echo "BERTH_THREADS=${threads:-unknown event-loop threads}"
  echo "LIBSSH_VERSION=${libssh_pkg:+$libssh_pkg $(dpkg-query -W -f '${Version}' "$libssh_pkg")}"
  echo "VSFTPD_VERSION=${VERSION_OF[vsftpd]}"
  echo "PROFTPD_VERSION=${VERSION_OF[proftpd]}"
  echo "PUREFTPD_VERSION=${VERSION_OF[pureftpd]}"
  echo "SSHD_VERSION=${VERSION_OF[sshd]}"
  echo "CURL_VERSION=$(curl --version | head -n1 | cut -d' ' -f1-2)"
  echo "LFTP_VERSION=$(lftp --version | head -n1 | grep -o 'Version [0-9.]*')"
  echo "SSH_VERSION=$(ssh -V 2>&1 | head -n1)"
  echo "PARAMIKO_VERSION=$("$PY" -c 'import paramiko; print(paramiko.__version__)')"
  echo "OPENSSL_VERSION=$(openssl version)"
  echo "COMMAND=$cmd"
  echo "SIZE_HUMAN=$SIZE_HUMAN"
  echo "WORK_FS=$WORK_FS"
  echo "RUNS=$RUNS"
  echo "BIG_RUNS=$BIG_RUNS"
  echo "PAGE_REPORTING=$PAGE_REPORTING"
  echo "NOFILE=$NOFILE"
  echo "BENCH_USER=$BENCH_USER"
  echo "TLS=TLS $TLS_VERSION $TLS_CIPHER"
  echo "CPU_ACCOUNTING=${CG_KIND:+cgroup $CG_KIND}"
  echo "OTHER_CPU=$OTHER_CPU"
  echo "STEAL_CPU=$STEAL_CPU"
  echo "LOAD_START=$LOAD_START"
  echo "LOAD_END=$LOAD_END"
  echo "ELAPSED=$(($(date +%s) - SCRIPT_START))"
} >"$OUT/meta.env"
python3 "$HERE/render_benchmarks.py" "$OUT" "$DOC"
[ "$DOC" = "$OUT/BENCHMARKS.md" ] || cp "$DOC" "$OUT/BENCHMARKS.md"
log "wrote $DOC (raw data in $OUT) after $(($(date +%s) - SCRIPT_START)) s"
if [ -s "$OUT/problems.txt" ]; then
  log "problems were seen; see the report and $OUT/problems.txt"
  exit 1
fi
