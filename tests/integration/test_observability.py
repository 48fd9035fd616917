"""Observability: the xferlog transfer log ([log] transfer_log), JSON log
lines ([log] format = "json"), the Prometheus endpoint ([metrics] listen:
/metrics and /healthz), and that no password ever reaches a log."""

import ftplib
import http.client
import json
import re
import socket
import time

import pytest

from ftphelpers import (MiB, DataChannel, cmd, download, quit_quietly, read_reply, upload,
                        wait_closed, ssh_password_client)
from test_sftp_clients import host_keys  # noqa: F401  (session fixture)

import paramiko  # a test dependency (scripts/install-deps.sh --test): its absence fails

SSH_TIMEOUT = 30
METRICS_RE = re.compile(r"metrics listening on (\[[0-9a-fA-F:.]+\]|[0-9.]+):(\d+)")

# man 5 xferlog: current-time transfer-time remote-host file-size filename
# transfer-type special-action-flag direction access-mode username service-name
# authentication-method authenticated-user-id completion-status
XFERLOG_RE = re.compile(
    r"^(?P<time>(?:Sun|Mon|Tue|Wed|Thu|Fri|Sat) "
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 123]\d \d{2}:\d{2}:\d{2} \d{4}) "
    r"(?P<seconds>\d+) (?P<host>\S+) (?P<size>\d+) (?P<filename>\S+) (?P<type>[ab]) "
    r"(?P<action>_) (?P<direction>[oi]) (?P<mode>[ar]) (?P<user>\S+) (?P<service>ftp|ftps|sftp) "
    r"(?P<auth>0) (?P<auth_user>\*) (?P<status>[ci])$")


# ---------------------------------------------------------------- helpers

def start(start_server, host_keys, tmp_path, log=None, metrics=True, **kw):  # noqa: F811
    sections = {"log": dict(log or {})}
    sections["log"].setdefault("transfer_log", str(tmp_path / "xferlog"))
    if metrics:
        sections["metrics"] = {"listen": "127.0.0.1:0"}
    srv = start_server(listen=("127.0.0.1:0",),
                       sftp={"listen": ["127.0.0.1:0"], "host_keys": host_keys},
                       extra_ftp={"failed_login_delay_ms": 100}, sections=sections, **kw)
    srv.xferlog = tmp_path / "xferlog"
    srv.metrics_port = None
    for line in srv.stdout_lines:
        m = METRICS_RE.search(line)
        if m:
            srv.metrics_port = int(m.group(2))
    assert srv.metrics_port or not metrics, srv.stdout_lines
    return srv


def xferlog_lines(srv):
    """Every line of the transfer log, parsed by XFERLOG_RE (all must match)."""
    try:
        text = srv.xferlog.read_text()
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        m = XFERLOG_RE.match(line)
        assert m, "not an xferlog line: %r" % line
        out.append(m.groupdict())
    return out


def http_get(srv, path):
    conn = http.client.HTTPConnection("127.0.0.1", srv.metrics_port, timeout=10)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type"), r.read().decode()
    finally:
        conn.close()


LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')
SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")


def parse_prometheus(text):
    """A tiny parser of the text exposition format 0.0.4: returns
    {(name, frozenset of (label, value)): float}; checks that every family
    has HELP and TYPE before its samples and that samples belong to one."""
    types, helps, samples = {}, set(), {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP "):
            helps.add(line.split(" ", 3)[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            assert name in helps, "TYPE before HELP: " + line
            types[name] = kind
            continue
        assert not line.startswith("#"), line
        m = SAMPLE_RE.match(line)
        assert m, "bad sample line %r" % line
        name, labels_text, value = m.groups()
        family = name
        if name not in types:
            for suffix in ("_bucket", "_sum", "_count"):
                if name.endswith(suffix) and types.get(name[:-len(suffix)]) == "histogram":
                    family = name[:-len(suffix)]
        assert family in types, "sample without TYPE: %r" % line
        labels = {}
        if labels_text:
            pos = 0
            while pos < len(labels_text):
                lm = LABEL_RE.match(labels_text, pos)
                assert lm, "bad labels in %r" % line
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
        key = (name, frozenset(labels.items()))
        assert key not in samples, "duplicate series %r" % line
        samples[key] = float(value)
    return samples


def metric(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


def sftp_client(srv, user="alice", password=None):
    return ssh_password_client(srv, user, password)


def ssh_transport(srv):
    sock = socket.create_connection(("127.0.0.1", srv.sftp_port), timeout=SSH_TIMEOUT)
    t = paramiko.Transport(sock)
    t.banner_timeout = t.auth_timeout = SSH_TIMEOUT
    t.start_client(timeout=SSH_TIMEOUT)
    return t


# ---------------------------------------------------------------- transfer log

def test_xferlog_has_one_line_per_transfer(start_server, host_keys, tmp_path):  # noqa: F811
    srv = start(start_server, host_keys, tmp_path)
    data = bytes(range(256)) * 4000  # 1,024,000 bytes
    ftp = srv.login("alice")
    ftp.voidcmd("TYPE I")
    upload(ftp, "up load.bin", data)
    assert download(ftp, "up load.bin") == data
    quit_quietly(ftp)

    ftps = srv.login_kind("explicit")  # AUTH TLS, PROT P: the service is ftps
    try:
        chunks = []
        ftps.retrbinary("RETR up load.bin", chunks.append)
        assert b"".join(chunks) == data
    finally:
        quit_quietly(ftps)

    c = sftp_client(srv)
    try:
        s = c.open_sftp()
        src = tmp_path / "put.bin"
        src.write_bytes(data[:300000])
        s.put(str(src), "/put.bin")
        # Without prefetch: paramiko's prefetch thread races its own reads and
        # sometimes asks for a range twice, and berth logs every byte it served.
        s.get("/put.bin", str(tmp_path / "got.bin"), prefetch=False)
        s.close()
    finally:
        c.close()
    assert (tmp_path / "got.bin").read_bytes() == data[:300000]

    lines = xferlog_lines(srv)
    got = [(e["service"], e["direction"], e["filename"], int(e["size"]), e["user"], e["host"],
            e["type"], e["mode"], e["status"]) for e in lines]
    assert got == [
        ("ftp", "i", "/up_load.bin", len(data), "alice", "127.0.0.1", "b", "r", "c"),
        ("ftp", "o", "/up_load.bin", len(data), "alice", "127.0.0.1", "b", "r", "c"),
        ("ftps", "o", "/up_load.bin", len(data), "alice", "127.0.0.1", "b", "r", "c"),
        ("sftp", "i", "/put.bin", 300000, "alice", "127.0.0.1", "b", "r", "c"),
        ("sftp", "o", "/put.bin", 300000, "alice", "127.0.0.1", "b", "r", "c"),
    ], got
    assert all(int(e["seconds"]) >= 1 for e in lines)


def test_xferlog_ascii_and_refused_transfers(start_server, host_keys, tmp_path):  # noqa: F811
    """TYPE A is 'a'; a transfer that never had a data connection set up
    (425 before PASV/PORT) is no transfer."""
    srv = start(start_server, host_keys, tmp_path, metrics=False)
    (srv.home() / "t.txt").write_bytes(b"one\ntwo\n")
    ftp = srv.login("alice")
    try:
        code, text = cmd(ftp, "RETR t.txt")
        assert code == 425, text
        ftp.voidcmd("TYPE A")
        assert download(ftp, "t.txt") == b"one\r\ntwo\r\n"
    finally:
        quit_quietly(ftp)
    lines = xferlog_lines(srv)
    assert [(e["type"], e["direction"], e["size"], e["status"]) for e in lines] == [
        ("a", "o", "8", "c")]


def test_xferlog_aborted_ftp_transfer_is_incomplete(start_server, host_keys,  # noqa: F811
                                                    tmp_path):
    srv = start(start_server, host_keys, tmp_path)
    with open(srv.home() / "big.bin", "wb") as f:
        f.truncate(64 * MiB)  # sparse: the socket buffers hold far less
    ftp = srv.login("alice")
    ftp.voidcmd("TYPE I")
    try:
        dc = DataChannel(ftp, "pasv")
        dc.start("RETR big.bin")
        got = 0
        while got < MiB:
            b = dc.sock.recv(65536)
            assert b
            got += len(b)
        resp = ftp.abort()
        assert resp.startswith("426"), resp
        code, text = read_reply(ftp)
        assert code == 226, text
        wait_closed(dc.sock, 15)
        dc.close()
    finally:
        quit_quietly(ftp)
    lines = xferlog_lines(srv)
    assert len(lines) == 1, lines
    e = lines[0]
    assert (e["direction"], e["filename"], e["service"], e["status"]) == (
        "o", "/big.bin", "ftp", "i")
    assert MiB <= int(e["size"]) < 64 * MiB
    samples = parse_prometheus(http_get(srv, "/metrics")[2])
    assert metric(samples, "berth_transfers_total", protocol="ftp", direction="out",
                  result="aborted") == 1


def test_xferlog_sftp_handle_left_open_is_incomplete(start_server, host_keys,  # noqa: F811
                                                     tmp_path):
    srv = start(start_server, host_keys, tmp_path, metrics=False)
    c = sftp_client(srv)
    s = c.open_sftp()
    f = s.open("/half.bin", "wb")
    f.write(b"x" * 5000)
    f.flush()
    c.close()  # gone without CLOSE
    deadline = time.monotonic() + 15
    lines = xferlog_lines(srv)
    while not lines and time.monotonic() < deadline:
        time.sleep(0.05)  # the server notices the vanished client on its own time
        lines = xferlog_lines(srv)
    assert [(e["service"], e["direction"], e["filename"], e["status"]) for e in lines] == [
        ("sftp", "i", "/half.bin", "i")]


# ---------------------------------------------------------------- metrics

def test_metrics_and_healthz(start_server, host_keys, tmp_path):  # noqa: F811
    srv = start(start_server, host_keys, tmp_path)
    status, ctype, body = http_get(srv, "/healthz")
    assert (status, body.strip()) == (200, "ok")
    status, ctype, body = http_get(srv, "/metrics")
    assert status == 200
    assert ctype.startswith("text/plain; version=0.0.4"), ctype
    before = parse_prometheus(body)
    for name in ("berth_sessions_open", "berth_sessions_total", "berth_logins_total",
                 "berth_bytes_total", "berth_transfers_total",
                 "berth_transfer_duration_seconds_count", "berth_bans_active",
                 "berth_passive_ports_in_use", "berth_tls_handshake_failures_total"):
        assert any(k[0] == name for k in before), name
    assert metric(before, "berth_bans_active") == 0
    assert http_get(srv, "/nothing")[0] == 404

    data = b"m" * 200000
    ftp = srv.login("alice")
    ftp.voidcmd("TYPE I")
    with pytest.raises(ftplib.error_perm):
        srv.login("alice", password="not-her-password")
    upload(ftp, "m.bin", data)
    code, text = cmd(ftp, "PASV")  # a passive listener waiting
    assert code == 227, text
    during = parse_prometheus(http_get(srv, "/metrics")[2])
    assert metric(during, "berth_sessions_open", protocol="ftp") == 1
    assert metric(during, "berth_passive_ports_in_use") == 1
    quit_quietly(ftp)

    c = sftp_client(srv)
    try:
        s = c.open_sftp()
        with s.open("/m.bin", "rb") as f:
            assert f.read() == data
        s.close()
    finally:
        c.close()

    after = parse_prometheus(http_get(srv, "/metrics")[2])

    def grew(name, by, **labels):
        assert metric(after, name, **labels) - metric(before, name, **labels) == by, (
            name, labels)

    grew("berth_logins_total", 1, protocol="ftp", result="ok")
    grew("berth_logins_total", 1, protocol="ftp", result="failed")
    grew("berth_logins_total", 1, protocol="sftp", result="ok")
    grew("berth_sessions_total", 2, protocol="ftp")
    grew("berth_sessions_total", 1, protocol="sftp")
    grew("berth_bytes_total", len(data), protocol="ftp", direction="in")
    grew("berth_bytes_total", len(data), protocol="sftp", direction="out")
    grew("berth_transfers_total", 1, protocol="ftp", direction="in", result="ok")
    grew("berth_transfers_total", 1, protocol="sftp", direction="out", result="ok")
    grew("berth_transfer_duration_seconds_count", 2)
    assert metric(after, "berth_transfer_duration_seconds_bucket", le="+Inf") == metric(
        after, "berth_transfer_duration_seconds_count")
    assert metric(after, "berth_passive_ports_in_use") == 0


def test_tls_handshake_failures_are_counted(start_server, host_keys, tmp_path):  # noqa: F811
    srv = start(start_server, host_keys, tmp_path)
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    try:
        assert s.recv(1024).startswith(b"220")
        s.sendall(b"AUTH TLS\r\n")
        assert s.recv(1024).startswith(b"234")
        s.sendall(b"this is not a TLS client hello\r\n" * 4)
        wait_closed(s, 10)
    finally:
        s.close()
    samples = parse_prometheus(http_get(srv, "/metrics")[2])
    assert metric(samples, "berth_tls_handshake_failures_total", protocol="ftp") == 1


def test_sigterm_exits_promptly_with_a_metrics_client_connected(start_server,  # noqa: F811
                                                                 host_keys, tmp_path):
    srv = start(start_server, host_keys, tmp_path)
    # An idle connection to the endpoint must not hold up the exit for long.
    idle = socket.create_connection(("127.0.0.1", srv.metrics_port), timeout=10)
    try:
        begin = time.monotonic()
        srv.stop()
        took = time.monotonic() - begin
    finally:
        idle.close()
    assert srv.proc.returncode == 0
    assert took < 5, took


# ---------------------------------------------------------------- logs

def test_json_log_lines(start_server, host_keys, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("BERTH_LOG_LEVEL", "debug")
    srv = start(start_server, host_keys, tmp_path, log={"format": "json"})
    ftp = srv.login("alice")
    ftp.voidcmd("TYPE I")
    upload(ftp, "j.bin", b"json")
    quit_quietly(ftp)
    with pytest.raises(ftplib.error_perm):
        srv.login("bob", password="wrong-for-bob")
    c = sftp_client(srv)
    c.close()
    deadline = time.monotonic() + 15  # the server sees the client go, then logs
    while "sftp: disconnect" not in srv.stderr_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    srv.stop()

    events = []
    for line in srv.stderr_text().splitlines():
        obj = json.loads(line)  # every line is one JSON object
        assert isinstance(obj, dict), line
        assert {"time", "level", "msg"} <= obj.keys(), line
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", obj["time"]), line
        events.append(obj)
    logins = [e for e in events if e.get("event") == "login"]
    assert {"protocol": "ftp", "user": "alice", "result": "ok", "client": "127.0.0.1"}.items() \
        <= logins[0].items()
    failed = [e for e in logins if e["result"] == "failed"]
    assert failed and failed[0]["user"] == "bob" and failed[0]["reason"] == "login incorrect"
    assert any(e["protocol"] == "sftp" and e["result"] == "ok" for e in logins)
    commands = [e for e in events if e.get("event") == "command"]
    assert {"command": "STOR j.bin", "code": 226}.items() <= next(
        e for e in commands if e["command"].startswith("STOR")).items()
    assert any(e["command"] == "PASS ****" and e["code"] == 230 for e in commands)
    transfers = [e for e in events if e.get("event") == "transfer"]
    assert [(t["protocol"], t["path"], t["direction"], t["bytes"], t["result"])
            for t in transfers] == [("ftp", "/j.bin", "in", 4, "ok")]
    ends = [e for e in events if e.get("event") == "session_end"]
    assert any(e["protocol"] == "sftp" and e["user"] == "alice" and e["duration_s"] >= 0
               for e in ends)
    assert any(e["protocol"] == "ftp" and e["user"] == "alice" for e in ends)
    assert any(e.get("event") == "session_start" for e in events)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_passwords_never_reach_a_log(start_server, host_keys, tmp_path, monkeypatch,  # noqa: F811
                                     fmt):
    monkeypatch.setenv("BERTH_LOG_LEVEL", "debug")
    srv = start(start_server, host_keys, tmp_path, log={"format": fmt})
    right = srv.users["alice"]["password"]
    wrong = ["Wr0ng-ftp-Guess", "Wr0ng-ssh-Guess", "Wr0ng-kbd-Guess"]

    with pytest.raises(ftplib.error_perm):
        srv.login("alice", password=wrong[0])
    ftp = srv.login("alice")  # the right one
    ftp.voidcmd("TYPE I")
    upload(ftp, "p.bin", b"secret-free")
    quit_quietly(ftp)

    with pytest.raises(paramiko.AuthenticationException):
        sftp_client(srv, password=wrong[1]).close()
    sftp_client(srv).close()

    for answer in (wrong[2], right):
        t = ssh_transport(srv)
        try:
            if answer == right:
                t.auth_interactive("alice", lambda title, instr, prompts: [answer] * len(prompts))
                assert t.is_authenticated()
            else:
                with pytest.raises(paramiko.AuthenticationException):
                    t.auth_interactive("alice",
                                       lambda title, instr, prompts: [answer] * len(prompts))
        finally:
            t.close()
    srv.stop()

    logs = srv.stderr_text() + srv.xferlog.read_text()
    assert "PASS ****" in logs  # commands were logged, masked
    assert "logged in as alice" in logs
    for secret in wrong + [right]:
        assert secret not in logs, "password %r in a log" % secret


FORGED = "2026-11-24T07:30:00.000 info ftp: 10.0.0.1 logged in as root"


def ssh_packet(payload):
    """An unencrypted SSH binary packet (RFC 4253 6): padding to 8 bytes, at least 4."""
    pad = 8 - (len(payload) + 5) % 8
    if pad < 4:
        pad += 8
    return (len(payload) + 1 + pad).to_bytes(4, "big") + bytes([pad]) + payload + b"\0" * pad


def ssh_name_list(text):
    data = text.encode()
    return len(data).to_bytes(4, "big") + data


def server_kexinit_read(got):
    """True once `got` holds the version line and one whole binary packet."""
    end = got.find(b"\r\n")
    if end < 0 or len(got) < end + 6:
        return False
    length = int.from_bytes(got[end + 2:end + 6], "big")
    return len(got) >= end + 6 + length


def test_client_bytes_can_not_forge_log_lines(start_server, host_keys, tmp_path,  # noqa: F811
                                              monkeypatch):
    """Issue 17 item 17: libssh copies a client's KEXINIT algorithm lists into
    its error text, which was logged raw; an FTP user name with control
    bytes likewise. Neither may begin a line of the text log."""
    monkeypatch.setenv("BERTH_LOG_LEVEL", "debug")
    srv = start(start_server, host_keys, tmp_path)
    # SSH: a KEXINIT whose key exchange list holds a newline and a forged line.
    s = socket.create_connection(("127.0.0.1", srv.sftp_port), timeout=15)
    try:
        s.sendall(b"SSH-2.0-forger\r\n")
        # The server's version and its whole KEXINIT first: sent before the
        # server is ready for it, ours fails otherwise (a socket error).
        got = b""
        while not server_kexinit_read(got):
            b = s.recv(4096)
            assert b, "the SSH server closed before its KEXINIT: %r" % got
            got += b
        kexinit = bytes([20]) + b"\x11" * 16 + ssh_name_list("evil\n" + FORGED + "\r\n")
        for names in ("ssh-ed25519", "aes128-ctr", "aes128-ctr", "hmac-sha2-256",
                      "hmac-sha2-256", "none", "none", "", ""):
            kexinit += ssh_name_list(names)
        kexinit += b"\0" + b"\0\0\0\0"
        s.sendall(ssh_packet(kexinit))
        wait_closed(s, 15)
    finally:
        s.close()
    # FTP: control bytes in USER (CR, ESC, DEL, NUL is refused by dispatch).
    ftp = ftplib.FTP(timeout=15)
    ftp.connect(srv.host, srv.port)
    try:
        ftp.sock.sendall(b"USER evil\r" + FORGED.encode() + b"\x1b[1A\x7f\r\n")  # ftplib refuses CR
        code, _ = read_reply(ftp)
        assert code == 331
        code, _ = cmd(ftp, "PASS wrong")
        assert code == 530
    finally:
        quit_quietly(ftp)
    deadline = time.monotonic() + 15
    while ("key exchange" not in srv.stderr_text() or "failed login" not in srv.stderr_text()) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    raw = srv.stderr_path.read_bytes()
    assert b"key exchange" in raw and b"failed login" in raw, raw[-3000:]
    for line in raw.split(b"\n"):
        assert not re.search(rb"[\x00-\x08\x0b-\x1f\x7f]", line), "control byte in %r" % line
        assert not line.startswith(FORGED.encode()), "forged log line %r" % line
        assert not re.match(rb"\S+ \w+ ftp: 10\.0\.0\.1 logged in", line), "forged log line %r" % line
    assert b"evil\\x0a" + FORGED.encode() in raw  # the key exchange error, escaped


def test_auth_tls_is_logged_with_its_reply_code(start_server, host_keys, tmp_path,  # noqa: F811
                                                monkeypatch):
    """Issue 17 item 22: at debug level the log showed "AUTH TLS -> 0": the
    handler sends its 234 itself, before the handshake."""
    monkeypatch.setenv("BERTH_LOG_LEVEL", "debug")
    srv = start(start_server, host_keys, tmp_path)
    c = ftplib.FTP_TLS(timeout=15)
    c.connect(srv.host, srv.port)
    try:
        c.auth()
        c.login("alice", srv.users["alice"]["password"])
    finally:
        quit_quietly(c)
    deadline = time.monotonic() + 15
    while "command USER" not in srv.stderr_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    text = srv.stderr_text()
    assert "command AUTH TLS -> 234" in text, text[-3000:]
    assert "-> 0" not in text
