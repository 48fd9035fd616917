# The servers of bench/run.sh (sourced after common.sh): fetched, configured
# and started on 127.0.0.1 with the bench user, each in the foreground as a
# child of the script, so it is stopped by its PID.
#
# Expects: PEERS (where the peers are unpacked), WORK, OUT, DATA (the user's
# home), BENCH_USER, BENCH_PASS, CERT/KEY (PEM, ECDSA), HOST_KEY (ed25519,
# OpenSSH format), CLIENT_KEY (its .pub beside it), BERTH.
# Sets per server: PID_OF, FTP_PORT_OF / SFTP_PORT_OF (servers that speak it),
# VERSION_OF.

FTP_SERVERS=(berth vsftpd proftpd pureftpd)
SFTP_SERVERS=(berth proftpd sshd)
ALL_SERVERS=(berth vsftpd proftpd pureftpd sshd)
# Passive port ranges below Linux's ephemeral ports (32768-). Pure-FTPd admits
# at most half as many users as its range has ports, hence its wide one.
declare -A PID_OF=() FTP_PORT_OF=() SFTP_PORT_OF=() VERSION_OF=() PASV_OF=(
  [berth]=30000-30199 [vsftpd]=30200-30399 [proftpd]=30400-30599 [pureftpd]=30600-32767)
SERVER_PIDS=() # every server process this script started

# fetch_peers: what the peers need, unpacked under PEERS or installed.
fetch_peers() {
  VS_ROOT=$PEERS/vsftpd
  PRO_ROOT=$PEERS/proftpd
  PURE_ROOT=$PEERS/pure-ftpd
  unpack_debs "$VS_ROOT" vsftpd libwrap0
  # Debian 12: mod_tls and mod_sftp are in proftpd-mod-crypto, not proftpd-core.
  unpack_debs "$PRO_ROOT" proftpd-core proftpd-mod-crypto libhiredis0.14 libmemcached11 \
    libmemcachedutil2 libhashkit2 libpcre2-posix3
  unpack_debs "$PURE_ROOT" pure-ftpd
  local bin lib
  for bin in "$VS_ROOT/usr/sbin/vsftpd" "$PRO_ROOT/usr/sbin/proftpd" "$PURE_ROOT/usr/sbin/pure-ftpd"; do
    lib=$(libdirs "$(dirname "$(dirname "$(dirname "$bin")")")")
    if LD_LIBRARY_PATH=$lib ldd "$bin" | grep -q 'not found'; then
      die "$bin misses libraries: $(LD_LIBRARY_PATH=$lib ldd "$bin" | grep 'not found' | tr -s ' \n' ' ')"
    fi
  done
  [ -x /usr/sbin/sshd ] && [ -x /usr/lib/openssh/sftp-server ] || apt_install openssh-server
  [ -d /run/sshd ] || { mkdir -p /run/sshd && chmod 755 /run/sshd; }
  VERSION_OF[vsftpd]="vsftpd $(cat "$VS_ROOT/.version")"
  VERSION_OF[proftpd]="proftpd-core $(cat "$PRO_ROOT/.version") (+ proftpd-mod-crypto: mod_tls, mod_sftp)"
  VERSION_OF[pureftpd]="pure-ftpd $(cat "$PURE_ROOT/.version")"
  VERSION_OF[sshd]="openssh-server $(dpkg-query -W -f '${Version}' openssh-server 2>/dev/null || echo '?')"
}

# launch NAME LOG CMD...: starts CMD in the background with its own cgroup.
launch() {
  local name=$1 logf=$2
  shift 2
  "$@" >"$logf" 2>&1 &
  PID_OF[$name]=$!
  SERVER_PIDS+=($!)
  cg_enter "$name" "$!"
}
# run_peer NAME ROOT BINARY ARGS...: launch for a peer unpacked under ROOT,
# with its libraries; logs to NAME.log.
run_peer() {
  local name=$1 root=$2 bin=$3
  shift 3
  launch "$name" "$OUT/$name.log" env LD_LIBRARY_PATH="$(libdirs "$root")" "$root$bin" "$@"
}
# ready NAME LOG PORT...: waits until each port takes connections.
ready() {
  local name=$1 logf=$2 port
  shift 2
  for port in "$@"; do
    wait_port "$port" 15 || die "$name did not listen on $port: $(tail -n5 "$logf")"
  done
  kill -0 "${PID_OF[$name]}" 2>/dev/null || die "$name exited at start: $(tail -n5 "$logf")"
}

# ---------------------------------------------------------------- berth
BERTH_EXTRA= # more TOML for [users], e.g. "login_cache = 0"
BERTH_UPLOAD_MODE=${BERTH_UPLOAD_MODE:-atomic}
start_berth() {
  local tag=berth i hash
  BERTH_STARTS=$((${BERTH_STARTS:-0} + 1))
  [ "$BERTH_STARTS" = 1 ] || tag=berth-$BERTH_STARTS
  hash=$(getent shadow "$BENCH_USER" | cut -d: -f2)
  cat >"$WORK/berth.toml" <<EOF
[server]
state_dir = "$WORK/berth-state"
upload_mode = "$BERTH_UPLOAD_MODE"

[ftp]
listen = ["127.0.0.1:0"]
passive_ports = "${PASV_OF[berth]}"
active_data_port = 0
tls = "optional"

[tls]
certificate = "$CERT"
private_key = "$KEY"
require_session_reuse = true

[sftp]
listen = ["127.0.0.1:0"]
host_keys = ["$HOST_KEY"]

[limits]
max_sessions_per_user = 0                 # the memory rows hold 10,000 sessions of one user

[users]
$BERTH_EXTRA

[[user]]
name = "$BENCH_USER"
password_hash = "$hash"
home = "$DATA"
authorized_keys = ["$(cat "$CLIENT_KEY.pub")"]
EOF
  cp "$WORK/berth.toml" "$OUT/$tag.toml"
  log "starting berth${BERTH_EXTRA:+ ($BERTH_EXTRA)}"
  launch berth "$OUT/$tag.log" "$BERTH" serve --config "$WORK/berth.toml"
  for ((i = 0; i < 150; i++)); do
    grep -q '^berth ready' "$OUT/$tag.log" 2>/dev/null && break
    kill -0 "${PID_OF[berth]}" 2>/dev/null || die "berth exited at start: $(tail -n5 "$OUT/$tag.log")"
    sleep 0.1
  done
  grep -q '^berth ready' "$OUT/$tag.log" || die "berth not ready after 15 s"
  FTP_PORT_OF[berth]=$(sed -n 's/^ftp listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$OUT/$tag.log" | head -n1)
  SFTP_PORT_OF[berth]=$(sed -n 's/^sftp listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$OUT/$tag.log" | head -n1)
  [ -n "${FTP_PORT_OF[berth]}" ] && [ -n "${SFTP_PORT_OF[berth]}" ] || die "berth printed no ftp/sftp port"
  VERSION_OF[berth]="$("$BERTH" --version 2>&1 | head -n1)"
}

# ---------------------------------------------------------------- vsftpd
# One instance for FTP and explicit FTPS (TLS allowed, not forced), local
# users through PAM (no /etc/pam.d/ file of its own: Debian's "other" stack,
# pam_unix), chrooted to the home.
start_vsftpd() {
  local port conf=$WORK/vsftpd.conf
  port=$(free_port)
  mkdir -p "$WORK/vs-empty"
  cat >"$conf" <<EOF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$port
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
chroot_local_user=YES
allow_writeable_chroot=YES
pam_service_name=berth-bench-vsftpd
pasv_enable=YES
pasv_min_port=${PASV_OF[vsftpd]%-*}
pasv_max_port=${PASV_OF[vsftpd]#*-}
seccomp_sandbox=NO
secure_chroot_dir=$WORK/vs-empty
xferlog_enable=NO
max_clients=0
max_per_ip=0
ssl_enable=YES
force_local_logins_ssl=NO
force_local_data_ssl=NO
rsa_cert_file=$CERT
rsa_private_key_file=$KEY
require_ssl_reuse=YES
ssl_ciphers=HIGH
EOF
  cp "$conf" "$OUT/vsftpd.conf"
  log "starting vsftpd on $port"
  run_peer vsftpd "$VS_ROOT" /usr/sbin/vsftpd "$conf"
  FTP_PORT_OF[vsftpd]=$port
  ready vsftpd "$OUT/vsftpd.log" "$port"
}

# ---------------------------------------------------------------- ProFTPD
# One daemon: FTP with optional explicit FTPS (mod_tls) on one port, SFTP
# (mod_sftp) in a virtual host on another; system users (mod_auth_unix).
start_proftpd() {
  local ftp sftp conf=$WORK/proftpd.conf
  ftp=$(free_port)
  sftp=$(free_port)
  mkdir -p "$WORK/proftpd-keys"
  # mod_sftp reads authorized keys in RFC 4716 form.
  ssh-keygen -e -f "$CLIENT_KEY.pub" >"$WORK/proftpd-keys/$BENCH_USER"
  # for the main server and the virtual host alike
  local common="AuthPAM off
AuthOrder mod_auth_unix.c
RequireValidShell off
DefaultRoot ~
AllowOverwrite on
Umask 022
MaxLoginAttempts 10
TimeoutIdle 900"
  cat >"$conf" <<EOF
ServerName "berth bench ProFTPD"
ServerType standalone
DefaultServer on
DefaultAddress 127.0.0.1
SocketBindTight on
UseIPv6 off
Port $ftp
User nobody
Group nogroup
PidFile $WORK/proftpd.pid
ScoreboardFile $WORK/proftpd.scoreboard
SystemLog $OUT/proftpd-system.log
TransferLog none
WtmpLog off
UseReverseDNS off
MaxInstances none
DelayEngine off
$common
PassivePorts ${PASV_OF[proftpd]%-*} ${PASV_OF[proftpd]#*-}
<IfModule mod_cap.c>
  CapabilitiesEngine off
</IfModule>
<IfModule mod_dso.c>
  ModulePath $PRO_ROOT/usr/lib/proftpd
  LoadModule mod_tls.c
  LoadModule mod_sftp.c
</IfModule>
TLSEngine on
TLSLog $OUT/proftpd-tls.log
TLSProtocol TLSv1.2 TLSv1.3
TLSRequired off
TLSECCertificateFile $CERT
TLSECCertificateKeyFile $KEY
TLSCipherSuite HIGH
TLSVerifyClient off
<VirtualHost 127.0.0.1>
  Port $sftp
  TLSEngine off
  SFTPEngine on
  SFTPLog $OUT/proftpd-sftp.log
  SFTPHostKey $HOST_KEY
  SFTPAuthorizedUserKeys file:$WORK/proftpd-keys/%u
  SFTPAuthMethods publickey password
  SFTPCompression off
$common
</VirtualHost>
EOF
  cp "$conf" "$OUT/proftpd.conf"
  LD_LIBRARY_PATH=$(libdirs "$PRO_ROOT") "$PRO_ROOT/usr/sbin/proftpd" -t -c "$conf" >"$OUT/proftpd-check.log" 2>&1 ||
    die "proftpd rejects its config: $(tail -n3 "$OUT/proftpd-check.log")"
  log "starting proftpd on $ftp (FTP/FTPS) and $sftp (SFTP)"
  run_peer proftpd "$PRO_ROOT" /usr/sbin/proftpd --nodaemon -c "$conf"
  FTP_PORT_OF[proftpd]=$ftp
  SFTP_PORT_OF[proftpd]=$sftp
  ready proftpd "$OUT/proftpd.log" "$ftp" "$sftp"
}

# ---------------------------------------------------------------- Pure-FTPd
# Command-line configuration (no wrapper, no /etc/pure-ftpd): system users
# (-l unix), everyone chrooted, TLS allowed (-Y 1), no syslog.
start_pureftpd() {
  local port
  port=$(free_port)
  cat "$CERT" "$KEY" >"$WORK/pure-ftpd.pem"
  chmod 600 "$WORK/pure-ftpd.pem"
  local args=(-S "127.0.0.1,$port" -4 -l unix -E -A -H -f none -u 1
    -p "${PASV_OF[pureftpd]/-/:}" -c 20000 -C 20000 -I 900
    -Y 1 -2 "$WORK/pure-ftpd.pem" -J HIGH -g "$WORK/pure-ftpd.pid")
  printf '%q ' pure-ftpd "${args[@]}" >"$OUT/pureftpd.cmdline"
  log "starting pure-ftpd on $port"
  run_peer pureftpd "$PURE_ROOT" /usr/sbin/pure-ftpd "${args[@]}"
  FTP_PORT_OF[pureftpd]=$port
  ready pureftpd "$OUT/pureftpd.log" "$port"
}

# ---------------------------------------------------------------- sshd
# OpenSSH's sshd with the real sftp-server subsystem, from a private config;
# MaxStartups raised so that 100 clients may connect at once.
start_sshd() {
  local port conf=$WORK/sshd_config
  port=$(free_port)
  cp "$CLIENT_KEY.pub" "$WORK/authorized_keys"
  cat >"$conf" <<EOF
ListenAddress 127.0.0.1:$port
HostKey $HOST_KEY
PidFile $WORK/sshd.pid
AuthorizedKeysFile $WORK/authorized_keys
AllowUsers $BENCH_USER
UsePAM no
StrictModes no
PermitRootLogin no
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
AllowTcpForwarding no
AllowAgentForwarding no
X11Forwarding no
PermitTTY no
PrintMotd no
PrintLastLog no
UseDNS no
MaxStartups 400:30:800
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
  cp "$conf" "$OUT/sshd_config"
  /usr/sbin/sshd -t -f "$conf" >"$OUT/sshd-check.log" 2>&1 ||
    die "sshd rejects its config: $(tail -n3 "$OUT/sshd-check.log")"
  log "starting sshd on $port"
  launch sshd "$OUT/sshd.log" /usr/sbin/sshd -D -e -f "$conf"
  SFTP_PORT_OF[sshd]=$port
  ready sshd "$OUT/sshd.log" "$port"
}

start_server() { "start_$1"; }
# stop_server NAME: the server and what it forked, by PID.
stop_server() {
  local pid=${PID_OF[$1]:-} all p keep=()
  [ -n "$pid" ] || return 0
  all=("$pid")
  mapfile -t -O 1 all < <(descendants "$pid")
  for p in "${all[@]}"; do kill "$p" 2>/dev/null || true; done
  wait "$pid" 2>/dev/null || true
  for p in "${SERVER_PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  SERVER_PIDS=("${keep[@]}")
  PID_OF[$1]=
}
stop_all_servers() {
  local s
  for s in "${ALL_SERVERS[@]}"; do stop_server "$s"; done
}
# settle NAME [SECONDS]: waits until a forking server's per-session
# processes are gone (berth has none).
settle() {
  local pid=${PID_OF[$1]:-} i limit=${2:-10}
  [ -n "$pid" ] || return 0
  for ((i = 0; i < limit * 20; i++)); do
    [ -z "$(children "$pid")" ] && return 0
    sleep 0.05
  done
  problem "$1: per-session processes still running $limit s after the clients left"
}
