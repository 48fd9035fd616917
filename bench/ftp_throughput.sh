#!/usr/bin/env bash
# Side-by-side FTP/FTPS transfer throughput: berth against vsftpd on loopback,
# measured with curl, plus the machine's limits (AES-GCM on one core, raw
# loopback TCP) from the same run. Writes the FTP section of docs/BENCHMARKS.md.
#
#   bash bench/ftp_throughput.sh
#
# Runs as root on Debian: installs curl/openssl/python3 with apt-get if they
# are missing, and fetches vsftpd with `apt-get download` + `dpkg-deb -x` into
# bench/.peers/ (never installed system-wide). Logs, configs and raw results
# go to bench/out/<UTC time>/. Only 127.0.0.1 is used.
#
# Knobs (environment): RUNS (5), SIZE_MIB (1024), BERTH (build/berth),
# DOC (docs/BENCHMARKS.md), MAX_TIME (per transfer, seconds; 300).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BERTH=${BERTH:-$REPO/build/berth}
RUNS=${RUNS:-5}
SIZE_MIB=${SIZE_MIB:-1024}
DOC=${DOC:-$REPO/docs/BENCHMARKS.md}
MAX_TIME=${MAX_TIME:-300}
PEERS=$HERE/.peers
OUT=$HERE/out/$(date -u +%Y%m%dT%H%M%SZ)
SIZE=$((SIZE_MIB * 1024 * 1024))
PAYLOAD_NAME=payload.bin
# Passive port ranges, kept below Linux's default ephemeral range (32768-).
BERTH_PASV=30000-30199
VS_PLAIN_PASV=(30200 30399)
VS_TLS_PASV=(30400 30599)
TLS13_CIPHER=TLS_AES_128_GCM_SHA256

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# shellcheck source=bench/common.sh
. "$HERE/common.sh"
problem() { log "PROBLEM: $*"; printf '%s\n' "$*" >>"$OUT/problems.txt"; }

[ "$(id -u)" = 0 ] || die "run as root (vsftpd needs root for its chroot; apt-get for tools)"
[ -x "$BERTH" ] || die "no berth binary at $BERTH (build it: cmake --build build)"
mkdir -p "$OUT"
: >"$OUT/problems.txt"
: >"$OUT/results.tsv"
: >"$OUT/limits.tsv"
: >"$OUT/scenarios.tsv"

# ---------------------------------------------------------------- tools
APT_UPDATED=0
apt_update_once() {
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    apt-get update -qq >>"$OUT/apt.log" 2>&1
    APT_UPDATED=1
  fi
}
need() { # command package
  command -v "$1" >/dev/null 2>&1 && return 0
  apt_update_once
  log "installing $2"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" \
    >>"$OUT/apt.log" 2>&1 || die "apt-get install $2 failed (see $OUT/apt.log)"
}
need curl curl
need openssl openssl
need python3 python3
need cmp diffutils
need dpkg-deb dpkg
need ldd libc-bin

# vsftpd (and libwrap0, which it links) unpacked under bench/.peers/vsftpd.
VS_ROOT=$PEERS/vsftpd
if [ ! -x "$VS_ROOT/usr/sbin/vsftpd" ] || [ ! -s "$VS_ROOT/.version" ]; then
  log "fetching vsftpd into bench/.peers/ (apt-get download, dpkg-deb -x)"
  rm -rf "$VS_ROOT" "$PEERS/debs"
  mkdir -p "$PEERS/debs" "$VS_ROOT"
  if ! (cd "$PEERS/debs" && apt-get download vsftpd libwrap0) >>"$OUT/apt.log" 2>&1; then
    apt_update_once
    (cd "$PEERS/debs" && apt-get download vsftpd libwrap0) >>"$OUT/apt.log" 2>&1 ||
      die "apt-get download vsftpd libwrap0 failed (see $OUT/apt.log)"
  fi
  for deb in "$PEERS"/debs/*.deb; do dpkg-deb -x "$deb" "$VS_ROOT"; done
  dpkg-deb -f "$PEERS"/debs/vsftpd_*.deb Version >"$VS_ROOT/.version"
fi
VSFTPD=$VS_ROOT/usr/sbin/vsftpd
VS_LIBDIR=$(dirname "$(find "$VS_ROOT" -name 'libwrap.so.0' | head -n1)")
if LD_LIBRARY_PATH=$VS_LIBDIR ldd "$VSFTPD" | grep -q 'not found'; then
  die "vsftpd misses libraries: $(LD_LIBRARY_PATH=$VS_LIBDIR ldd "$VSFTPD" | grep 'not found' | tr -s ' \n' ' ')"
fi
VSFTPD_VERSION=$(cat "$VS_ROOT/.version")

# ---------------------------------------------------------------- workspace
PIDS=()
WORK=
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$WORK" ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Payload, one upload at a time and one verification copy: 3x the size.
need_kb=$(((SIZE_MIB * 3 + 256) * 1024))
pick_workdir "$need_kb" berth-bench
DATA=$WORK/data
PAYLOAD=$DATA/$PAYLOAD_NAME
mkdir -p "$DATA/up" "$WORK/state" "$WORK/vs-empty" "$WORK/check"
chmod 755 "$DATA" "$WORK/vs-empty"

# vsftpd's anonymous user: its home directory must exist (vsftpd chdirs there
# before anon_root). Debian's nobody has /nonexistent, so fall back to daemon.
VS_FTP_USER=
for u in nobody daemon; do
  h=$(getent passwd "$u" | cut -d: -f6) || continue
  if [ -n "$h" ] && [ -d "$h" ]; then VS_FTP_USER=$u; break; fi
done
[ -n "$VS_FTP_USER" ] || die "no user for vsftpd's anonymous login (nobody/daemon with a home dir)"
chown "$VS_FTP_USER" "$DATA/up"

log "writing a ${SIZE_MIB} MiB payload on $WORK_FS ($WORK)"
head -c "$SIZE" /dev/urandom >"$PAYLOAD"
chmod 644 "$PAYLOAD"

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

# ---------------------------------------------------------------- berth
cat >"$WORK/berth.toml" <<EOF
[server]
state_dir = "$WORK/state"

[ftp]
listen = ["127.0.0.1:0"]
passive_ports = "$BERTH_PASV"
active_data_port = 0
tls = "optional"

[tls]
require_session_reuse = true

[[user]]
name = "bench"
password = "bench"
home = "$DATA"
EOF
cp "$WORK/berth.toml" "$OUT/berth.toml"
log "starting berth"
"$BERTH" serve --config "$WORK/berth.toml" >"$OUT/berth.stdout" 2>"$OUT/berth.stderr" &
PIDS+=($!)
BERTH_PID=$!
for ((i = 0; i < 150; i++)); do
  grep -q '^berth ready' "$OUT/berth.stdout" 2>/dev/null && break
  kill -0 "$BERTH_PID" 2>/dev/null || die "berth exited at start: $(tail -n5 "$OUT/berth.stderr")"
  sleep 0.1
done
grep -q '^berth ready' "$OUT/berth.stdout" || die "berth not ready after 15 s"
BERTH_PORT=$(sed -n 's/^ftp listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$OUT/berth.stdout" | head -n1)
[ -n "$BERTH_PORT" ] || die "berth printed no ftp port"
CERT=$WORK/state/tls/certificate.pem
KEY=$WORK/state/tls/private-key.pem
[ -s "$CERT" ] && [ -s "$KEY" ] || die "berth generated no certificate in state_dir/tls"
if openssl x509 -in "$CERT" -noout -text | grep -q 'id-ecPublicKey'; then KEYTYPE=ECDSA; else KEYTYPE=RSA; fi
TLS12_CIPHER=ECDHE-$KEYTYPE-AES128-GCM-SHA256

# ---------------------------------------------------------------- vsftpd
vs_conf() { # file port pasv_min pasv_max tls(YES|NO)
  cat >"$1" <<EOF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$2
background=NO
anonymous_enable=YES
anon_root=$DATA
ftp_username=$VS_FTP_USER
no_anon_password=YES
local_enable=NO
write_enable=YES
anon_upload_enable=YES
pasv_enable=YES
pasv_min_port=$3
pasv_max_port=$4
seccomp_sandbox=NO
secure_chroot_dir=$WORK/vs-empty
xferlog_enable=NO
EOF
  if [ "$5" = YES ]; then
    cat >>"$1" <<EOF
ssl_enable=YES
allow_anon_ssl=YES
force_anon_data_ssl=YES
force_anon_logins_ssl=YES
rsa_cert_file=$CERT
rsa_private_key_file=$KEY
require_ssl_reuse=YES
ssl_ciphers=HIGH
EOF
  fi
}
start_vsftpd() { # name port pasv_min pasv_max tls
  vs_conf "$WORK/$1.conf" "$2" "$3" "$4" "$5"
  cp "$WORK/$1.conf" "$OUT/$1.conf"
  LD_LIBRARY_PATH=$VS_LIBDIR "$VSFTPD" "$WORK/$1.conf" >"$OUT/$1.log" 2>&1 &
  PIDS+=($!)
  wait_port "$2" 10 || die "$1 did not listen on $2: $(tail -n5 "$OUT/$1.log")"
  kill -0 "$!" 2>/dev/null || die "$1 exited at start: $(tail -n5 "$OUT/$1.log")"
}
VS_PLAIN_PORT=$(free_port)
log "starting vsftpd (plain) on $VS_PLAIN_PORT"
start_vsftpd vsftpd-plain "$VS_PLAIN_PORT" "${VS_PLAIN_PASV[@]}" NO
VS_TLS_PORT=$(free_port)
log "starting vsftpd (FTPS) on $VS_TLS_PORT"
start_vsftpd vsftpd-tls "$VS_TLS_PORT" "${VS_TLS_PASV[@]}" YES

# ---------------------------------------------------------------- scenarios
url_for() { # server mode(plain|tls)
  case "$1:$2" in
    berth:*) echo "ftp://bench:bench@127.0.0.1:$BERTH_PORT" ;;
    vsftpd:plain) echo "ftp://127.0.0.1:$VS_PLAIN_PORT" ;;
    vsftpd:tls) echo "ftp://127.0.0.1:$VS_TLS_PORT" ;;
  esac
}
TLS12_ARGS=(--ssl-reqd -k --tlsv1.2 --tls-max 1.2 --ciphers "$TLS12_CIPHER")
TLS13_ARGS=(--ssl-reqd -k --tlsv1.3 --tls-max 1.3 --tls13-ciphers "$TLS13_CIPHER")
tls_args() { # tls12|tls13 -> sets ARGS
  case "$1" in
    plain) ARGS=() ;;
    tls12) ARGS=("${TLS12_ARGS[@]}") ;;
    tls13) ARGS=("${TLS13_ARGS[@]}") ;;
  esac
}

# Untimed check per server and mode: verbose download into tmpfs, compare
# bytes, and confirm PROT P and the negotiated version/cipher.
verify_mode() { # server mode(plain|tls12|tls13) -> 0 if fine
  local server=$1 mode=$2 kind=tls want vlog="$OUT/verify-$1-$2.log"
  [ "$mode" = plain ] && kind=plain
  tls_args "$mode"
  rm -f "$WORK/check/copy.bin"
  if ! curl -sS -v --max-time "$MAX_TIME" "${ARGS[@]}" -o "$WORK/check/copy.bin" \
    "$(url_for "$server" "$kind")/$PAYLOAD_NAME" 2>"$vlog"; then
    echo "curl failed: $(grep -a '^curl:' "$vlog" | tail -n1)"
    return 1
  fi
  if ! cmp -s "$PAYLOAD" "$WORK/check/copy.bin"; then
    echo "downloaded copy differs from the payload ($(stat -c %s "$WORK/check/copy.bin") bytes)"
    return 1
  fi
  rm -f "$WORK/check/copy.bin"
  case "$mode" in
    tls12) want="SSL connection using TLSv1.2 / $TLS12_CIPHER" ;;
    tls13) want="SSL connection using TLSv1.3 / $TLS13_CIPHER" ;;
    *) return 0 ;;
  esac
  grep -aq '^> PROT P' "$vlog" || { echo "no PROT P in the exchange"; return 1; }
  local n
  n=$(grep -ac "^\* $want" "$vlog" || true)
  [ "$n" -ge 2 ] || { echo "expected '$want' on control and data connections, saw $n"; return 1; }
}

MODES=(plain tls12)
for server in berth vsftpd; do
  for mode in plain tls12; do
    log "verifying $server $mode"
    if ! msg=$(verify_mode "$server" "$mode"); then problem "$server $mode check: $msg"; fi
  done
done
TLS13_NOTE=
b13=$(verify_mode berth tls13) && b13=ok
v13=$(verify_mode vsftpd tls13) && v13=ok
if [ "$b13" = ok ] && [ "$v13" = ok ]; then
  MODES+=(tls13)
else
  TLS13_NOTE="No TLS 1.3 rows: berth: ${b13}; vsftpd: ${v13}."
  log "$TLS13_NOTE"
fi

SCEN_IDS=()
add_scen() { SCEN_IDS+=("$1"); printf '%s\t%s\n' "$1" "$2" >>"$OUT/scenarios.tsv"; }
add_scen plain_down "FTP download (RETR)"
add_scen plain_up "FTP upload (STOR)"
add_scen tls12_down "FTPS PROT P download, TLS 1.2 $TLS12_CIPHER"
add_scen tls12_up "FTPS PROT P upload, TLS 1.2 $TLS12_CIPHER"
if [[ " ${MODES[*]} " == *" tls13 "* ]]; then
  add_scen tls13_down "FTPS PROT P download, TLS 1.3 $TLS13_CIPHER"
  add_scen tls13_up "FTPS PROT P upload, TLS 1.3 $TLS13_CIPHER"
fi

one_run() { # server scenario run
  local server=$1 scen=$2 run=$3 mode=${2%_*} dir=${2##*_} kind=tls url out rc=0 errf
  [ "$mode" = plain ] && kind=plain
  tls_args "$mode"
  url=$(url_for "$server" "$kind")
  errf=$OUT/curl-$server-$scen-$run.err
  if [ "$dir" = down ]; then
    out=$(curl -sS --max-time "$MAX_TIME" "${ARGS[@]}" -o /dev/null \
      -w '%{speed_download}\t%{size_download}\t%{time_pretransfer}\t%{time_total}' \
      "$url/$PAYLOAD_NAME" 2>"$errf") || rc=$?
  else
    local name="up/$server-$scen-$run.bin"
    out=$(curl -sS --max-time "$MAX_TIME" "${ARGS[@]}" -T "$PAYLOAD" \
      -w '%{speed_upload}\t%{size_upload}\t%{time_pretransfer}\t%{time_total}' \
      "$url/$name" 2>"$errf") || rc=$?
  fi
  local status=ok speed bytes pre total
  [ -n "$out" ] || out=$'0\t0\t0\t0'
  IFS=$'\t' read -r speed bytes pre total <<<"$out"
  if [ "$rc" != 0 ]; then
    status=fail
    problem "$server $scen run $run: curl exit $rc: $(tail -n1 "$errf")"
  elif [ "$bytes" != "$SIZE" ]; then
    status=short
    problem "$server $scen run $run: curl moved $bytes of $SIZE bytes"
  elif [ "$dir" = up ]; then
    local got
    got=$(stat -c %s "$DATA/$name" 2>/dev/null || echo missing)
    if [ "$got" != "$SIZE" ]; then
      status=badfile
      problem "$server $scen run $run: uploaded file is $got bytes, expected $SIZE"
    elif ! cmp -s "$PAYLOAD" "$DATA/$name"; then
      status=corrupt
      problem "$server $scen run $run: uploaded file differs from the payload"
    fi
  fi
  [ "$dir" = up ] && rm -f "$DATA/$name"
  [ -s "$errf" ] || rm -f "$errf"
  # curl's speed is bytes/s; MB/s = 10^6 bytes/s
  speed=$(awk -v s="$speed" 'BEGIN { printf "%.1f", s / 1e6 }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$scen" "$run" "$status" \
    "$speed" "$bytes" "$pre" "$total" >>"$OUT/results.tsv"
  log "$(printf '%-6s %-11s run %s: %8s MB/s  %s' "$server" "$scen" "$run" "$speed" "$status")"
}

# CPU accounting over the timed runs: the machine's time in processes (user,
# nice, system; interrupts and softirqs, which carry loopback traffic, are not
# counted) less what this script's process tree and the servers used = other
# load, a sign of a machine that was not quiet.
SERVER_PIDS=("${PIDS[@]}")
cpu_snapshot() { # -> "busy steal total ours" in clock ticks
  local ours=0 pid t
  for pid in $$ "${SERVER_PIDS[@]}"; do
    t=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $12 + $13 + $14 + $15 }') || t=0
    ours=$((ours + ${t:-0}))
  done
  awk -v ours="$ours" '/^cpu / { busy = $2 + $3 + $4; total = busy + $5 + $6 + $7 + $8 + $9
    print busy, $9, total, ours; exit }' /proc/stat
}
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
read -r busy0 steal0 total0 ours0 <<<"$(cpu_snapshot)"

for ((run = 1; run <= RUNS; run++)); do
  for scen in "${SCEN_IDS[@]}"; do
    if ((run % 2)); then order=(berth vsftpd); else order=(vsftpd berth); fi
    for server in "${order[@]}"; do one_run "$server" "$scen" "$run"; done
  done
done

read -r busy1 steal1 total1 ours1 <<<"$(cpu_snapshot)"
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
OTHER_CPU=$(awk -v b="$((busy1 - busy0))" -v o="$((ours1 - ours0))" -v t="$((total1 - total0))" \
  'BEGIN { x = t > 0 ? (b - o) * 100 / t : 0; if (x < 0) x = 0; printf "%.0f", x }')
STEAL_CPU=$(awk -v s="$((steal1 - steal0))" -v t="$((total1 - total0))" \
  'BEGIN { printf "%.0f", (t > 0 ? s * 100 / t : 0) }')
log "other processes used ${OTHER_CPU}% of the machine's CPU during the timed runs (steal ${STEAL_CPU}%)"

# ---------------------------------------------------------------- limits
openssl_16k() { # extra args... -> MB/s at 16 KiB blocks, one core
  local out
  out=$(openssl speed -evp aes-128-gcm -seconds 2 -bytes 16384 "$@" 2>/dev/null) || return 1
  # header: "type 16 bytes 64 bytes ..."; row: "AES-128-GCM 1234.56k 5678.90k ..."
  echo "$out" | awk '/^type/ { for (i = 2; i <= NF; i += 2) if ($i == "16384") col = (i - 2) / 2 + 2 }
    /^AES-128-GCM/ && col { v = $col; sub(/k$/, "", v); printf "%.0f", v / 1000 }'
}
log "openssl speed (AES-128-GCM, 16 KiB, one core)"
enc=$(openssl_16k) || enc="n/a"
dec=$(openssl_16k -decrypt) || dec="n/a"
printf 'AES-128-GCM encrypt, 16 KiB blocks, one core (openssl speed -evp aes-128-gcm)\t%s\n' "$enc" >>"$OUT/limits.tsv"
printf 'AES-128-GCM decrypt, 16 KiB blocks, one core (same, -decrypt)\t%s\n' "$dec" >>"$OUT/limits.tsv"
log "raw loopback TCP (python3, 4 GiB, median of 3)"
tcp=()
for _ in 1 2 3; do tcp+=("$(python3 "$HERE/loopback_tcp.py" $((4 << 30)))"); done
tcp_med=$(printf '%s\n' "${tcp[@]}" | sort -g | sed -n 2p)
printf 'loopback TCP, one stream, 4 GiB, no TLS (bench/loopback_tcp.py, median of 3)\t%s\n' "$tcp_med" >>"$OUT/limits.tsv"

# ---------------------------------------------------------------- report
for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || problem "server process $pid died during the run"; done
lvl='^[0-9T:.-]+ '
if grep -aqE "$lvl(error|critical) " "$OUT/berth.stderr"; then
  problem "berth logged errors: $(grep -aE "$lvl(error|critical) " "$OUT/berth.stderr" | head -n3 | tr '\n' ' ')"
fi
if grep -aqE "${lvl}warn" "$OUT/berth.stderr"; then
  problem "berth logged warnings: $(grep -aE "${lvl}warn" "$OUT/berth.stderr" | head -n3 | tr '\n' ' ')"
fi

cmd="bash bench/ftp_throughput.sh"
for v in RUNS SIZE_MIB MAX_TIME; do
  case "$v=${!v}" in RUNS=5 | SIZE_MIB=1024 | MAX_TIME=300) ;; *) cmd="$v=${!v} $cmd" ;; esac
done
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$(dirname "$BERTH")/CMakeCache.txt" 2>/dev/null || true)
threads=$(grep -ao 'serving with [0-9]* event-loop thread(s)' "$OUT/berth.stderr" | head -n1 | sed 's/serving with //' || true)
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
  echo "VSFTPD_VERSION=$VSFTPD_VERSION"
  echo "CURL_VERSION=$(curl --version | head -n1 | cut -d' ' -f1-3)"
  echo "OPENSSL_VERSION=$(openssl version)"
  echo "COMMAND=$cmd"
  echo "SIZE_HUMAN=$size_human"
  echo "WORK_FS=$WORK_FS"
  echo "RUNS=$RUNS"
  echo "VS_FTP_USER=$VS_FTP_USER"
  echo "TLS13_NOTE=$TLS13_NOTE"
  echo "OTHER_CPU=$OTHER_CPU"
  echo "STEAL_CPU=$STEAL_CPU"
  echo "LOAD_START=$LOAD_START"
  echo "LOAD_END=$LOAD_END"
} >"$OUT/meta.env"
python3 "$HERE/render_benchmarks.py" ftp "$OUT" "$DOC"
cp "$DOC" "$OUT/BENCHMARKS.md"
log "wrote $DOC (raw data in $OUT)"
if [ -s "$OUT/problems.txt" ]; then
  log "problems were seen; see the report and $OUT/problems.txt"
  exit 1
fi
