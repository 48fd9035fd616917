#!/usr/bin/env bash
# Where berth spends its time moving data: one transfer against berth alone,
# recorded with perf (call graphs through DWARF, so that library frames show
# who called them) and counted with strace, and the first lines of each.
#
#   bash bench/profile.sh MODE [MiB]
#
# MODE: ftp-get ftp-put ftps-get ftps-put sftp-get sftp-put ftp-small
# (200 files of 4 KiB down and up over FTP, one ftplib session). MiB: the file's
# size for the others (default 1024). Runs as root on Debian; installs curl,
# openssh-client, linux-perf and strace if missing. berth listens on
# 127.0.0.1 high ports from a generated configuration; files live on a tmpfs
# mounted for the run and unmounted after. Output and perf data:
# bench/out/profile-<MODE>-<UTC time>/.
#
# What the findings in docs/BENCHMARKS.md came from. Samples are cpu-clock
# (machines without hardware counters have nothing else); a busy machine
# changes the totals, not much the shares.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
MODE=${1:-}
MIB=${2:-1024}
[ "$MODE" != ftp-small ] || MIB=1 # only the small files matter
case "$MODE" in
  ftp-get | ftp-put | ftps-get | ftps-put | sftp-get | sftp-put | ftp-small) ;;
  *) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
esac
BERTH=${BERTH:-$REPO/build/berth}
[ -x "$BERTH" ] || { echo "profile: no berth binary at $BERTH (build it first)" >&2; exit 1; }
OUT=$HERE/out/profile-$MODE-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
# shellcheck source=bench/common.sh
. "$HERE/common.sh"
need curl curl
need sftp openssh-client
need strace strace
need openssl openssl
command -v perf >/dev/null 2>&1 || apt_install linux-perf

WORK=$(mktemp -d /tmp/berth-profile.XXXXXX)
DATA=$WORK/data
PID=
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  umount "$DATA" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$DATA" "$WORK/state"
mount -t tmpfs -o size=$((2 * MIB + 256))m tmpfs "$DATA"

PASS=$(head -c 12 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
ssh-keygen -q -t ed25519 -N '' -f "$WORK/client" >/dev/null
head -c "$((MIB << 20))" /dev/urandom >"$DATA/payload.bin"
mkdir "$DATA/small"
for i in $(seq 200); do head -c 4096 /dev/urandom >"$DATA/small/f$i"; done
cat >"$WORK/berth.toml" <<EOF
[server]
state_dir = "$WORK/state"
[ftp]
listen = ["127.0.0.1:0"]
passive_ports = "45000-45999"
active_data_port = 0
tls = "optional"
[sftp]
listen = ["127.0.0.1:0"]
[[user]]
name = "bench"
password_hash = "$(openssl passwd -6 "$PASS")"
home = "$DATA"
authorized_keys = ["$(cat "$WORK/client.pub")"]
EOF
"$BERTH" serve --config "$WORK/berth.toml" >"$OUT/berth.log" 2>&1 &
PID=$!
for _ in $(seq 100); do grep -q '^berth ready' "$OUT/berth.log" && break; sleep 0.1; done
grep -q '^berth ready' "$OUT/berth.log" || die "berth did not start: $(tail -n3 "$OUT/berth.log")"
FTP=$(sed -n 's/^ftp listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$OUT/berth.log" | head -n1)
SFTP=$(sed -n 's/^sftp listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$OUT/berth.log" | head -n1)
URL=ftp://bench:$PASS@127.0.0.1:$FTP

client() {
  local tls=() sftp=(sftp -q -b - -i "$WORK/client" -P "$SFTP" -c aes128-gcm@openssh.com
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null bench@127.0.0.1)
  case "$MODE" in ftps-*) tls=(--ssl-reqd -k --tlsv1.3 --tls13-ciphers TLS_AES_128_GCM_SHA256) ;; esac
  case "$MODE" in
    ftp-get | ftps-get) curl -sS "${tls[@]}" -o /dev/null "$URL/payload.bin" ;;
    ftp-put | ftps-put) curl -sS "${tls[@]}" -T "$DATA/payload.bin" "$URL/up.bin" ;;
    sftp-get) "${sftp[@]}" <<<"get payload.bin /dev/null" >/dev/null ;;
    sftp-put) "${sftp[@]}" <<<"put $DATA/payload.bin up.bin" >/dev/null ;;
    ftp-small) # one session (Python's ftplib, PASV): 200 RETR, then 200 STOR
      python3 - "$FTP" "$PASS" <<'PY'
import ftplib, io, sys
f = ftplib.FTP()
f.connect("127.0.0.1", int(sys.argv[1]))
f.login("bench", sys.argv[2])
f.cwd("small")
for i in range(1, 201):
    f.retrbinary("RETR f%d" % i, io.BytesIO().write)
for i in range(1, 201):
    f.storbinary("STOR u%d" % i, io.BytesIO(b"x" * 4096))
for i in range(1, 201):
    f.delete("u%d" % i)
f.quit()
PY
      ;;
  esac
}

cpu() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; } # utime + stime, clock ticks
log "perf record ($MODE)"
c0=$(cpu)
t0=$(date +%s%N)
perf record -q --call-graph dwarf,16384 -F 499 -p "$PID" -o "$OUT/perf.data" 2>"$OUT/perf.err" &
REC=$!
sleep 0.5
client
kill -INT "$REC"
wait "$REC" 2>/dev/null || true
t1=$(date +%s%N)
c1=$(cpu)
rm -f "$DATA/up.bin"
log "strace -c ($MODE)"
strace -f -c -p "$PID" -o "$OUT/strace.txt" 2>/dev/null &
ST=$!
sleep 0.5
client
kill -INT "$ST"
wait "$ST" 2>/dev/null || true

{
  echo "# $MODE, $("$BERTH" --version 2>&1 | head -n1)$([ "$MODE" = ftp-small ] || echo ", $MIB MiB")"
  echo "berth CPU during the recorded run: $(awk -v t=$(((c1 - c0))) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f s", t / hz }')," \
    "wall $(awk -v ns=$((t1 - t0)) 'BEGIN { printf "%.2f s", ns / 1e9 }') (with perf running)"
  echo
  echo "## samples by library"
  perf report -i "$OUT/perf.data" --no-children --sort dso -g none 2>/dev/null | grep '%' | head -n 8 || true
  echo
  echo "## hottest symbols"
  perf report -i "$OUT/perf.data" --no-children --sort dso,sym -g none 2>/dev/null | grep '%' | head -n 15 || true
  echo
  echo "## who calls memmove/memcpy (callers, flat)"
  perf report -i "$OUT/perf.data" --no-children --sort sym -g caller,0.5,callee,flat \
    --symbol-filter=memmove 2>/dev/null |
    grep -E '^ +[0-9.]+%|ssh_|berth::|Writer|SSL' | grep -v 'asio::\|server::serve\|run_serve' | head -n 30 || true
  echo
  echo "## system calls (strace -c, a second run)"
  head -n 16 "$OUT/strace.txt"
} | tee "$OUT/report.txt"
log "perf data and report in ${OUT#"$REPO"/}"
