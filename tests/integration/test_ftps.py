"""FTPS protocol contract: startup output and certificates, AUTH/PBSZ/PROT/CCC,
tls = "off" / "required" policies, data-connection TLS session reuse,
implicit-port robustness (plain text, garbage, stalled handshakes), AUTH TLS
command injection, certificate errors, SIGHUP reload, TLS versions."""

import ftplib
import hashlib
import io
import os
import select
import signal
import socket
import ssl
import subprocess
import time
import warnings

import pytest

from ftphelpers import (CTRL_TIMEOUT, DATA_TIMEOUT, BerthServer, PlainFTP, client_context, cmd,
                        colon_fingerprint, connect_data, free_port, quit_quietly, read_raw_reply,
                        read_reply, recv_all, sha256_file, tls_peer_cert, wait_closed,
                        make_cert_pair, worker_slot)

FTPS = {"listen": ["127.0.0.1:0"], "active_data_port": 0}
TLS12, TLS13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3
VERSIONS = {"tls1.2": TLS12, "tls1.3": TLS13}


def der_of_pem_file(path):
    return ssl.PEM_cert_to_DER_cert(path.read_text())




def run_berth(berth, *args, timeout=20):
    return subprocess.run([str(berth), *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def raw_connect(host, port, timeout=CTRL_TIMEOUT):
    return socket.create_connection((host, port), timeout)


def raw_cmd(sock, line):
    sock.sendall(line.encode() + b"\r\n")
    return read_raw_reply(sock)


def explicit_raw(server, context=None):
    """Raw socket after 220 + AUTH TLS + handshake; returns the TLS socket."""
    s = raw_connect(server.host, server.port)
    try:
        assert read_raw_reply(s)[0] == 220
        code, text = raw_cmd(s, "AUTH TLS")
        assert code == 234, text
        return (context or client_context()).wrap_socket(s, server_hostname=server.host)
    except BaseException:
        s.close()
        raise


def retr_bytes(c, path):
    buf = io.BytesIO()
    resp = c.retrbinary("RETR " + path, buf.write)
    assert resp.startswith("226"), resp
    return buf.getvalue()


def assert_serving(server, kinds=("plain", "explicit", "implicit")):
    """The server is alive and a fresh login of each kind can transfer."""
    assert server.alive(), server.stderr_text()[-2000:]
    (server.home() / "alive.txt").write_bytes(b"still serving")
    for kind in kinds:
        c = server.login_kind(kind)
        try:
            assert retr_bytes(c, "alive.txt") == b"still serving"
        finally:
            quit_quietly(c)


def feat_lines(c):
    code, text = cmd(c, "FEAT")
    assert code == 211, text
    return [l.strip().upper() for l in text.splitlines()[1:-1]]


# ------------------------------------------------------------------ startup, certificate

def test_startup_output_and_generated_certificate(start_server):
    srv = start_server(ftps=FTPS)
    lines = srv.stdout_lines
    fp_idx = [i for i, l in enumerate(lines) if "SHA-256 fingerprint" in l]
    ftp_idx = [i for i, l in enumerate(lines) if l.startswith("ftp listening on ")]
    ftps_idx = [i for i, l in enumerate(lines) if l.startswith("ftps listening on ")]
    assert len(fp_idx) == 1 and len(ftp_idx) == 2 and len(ftps_idx) == 1, lines
    assert fp_idx[0] < min(ftp_idx) and max(ftp_idx) < ftps_idx[0] < lines.index("berth ready")
    assert lines[ftps_idx[0]] == "ftps listening on 127.0.0.1:%d" % srv.ftps_port
    assert srv.cert_generated is True, lines[fp_idx[0]]
    cert = srv.state_dir / "tls" / "certificate.pem"
    key = srv.state_dir / "tls" / "private-key.pem"
    assert cert.is_file() and key.is_file()
    der = der_of_pem_file(cert)
    assert srv.fingerprint == colon_fingerprint(der)
    # the same certificate is served on the implicit port and after AUTH TLS
    assert tls_peer_cert(srv.host, srv.ftps_port) == der
    assert tls_peer_cert(srv.host, srv.port, explicit=True) == der
    assert tls_peer_cert(srv.host6, srv.port6, explicit=True) == der


def test_generated_certificate_reused_on_restart(berth, tmp_path):
    first = BerthServer(tmp_path / "srv", ftps=FTPS)
    try:
        first.start()
        fp = first.fingerprint
        cert_pem = (first.state_dir / "tls" / "certificate.pem").read_bytes()
        key_pem = (first.state_dir / "tls" / "private-key.pem").read_bytes()
    finally:
        first.stop()
    second = BerthServer(tmp_path / "srv", ftps=FTPS)
    try:
        second.start()
        assert second.fingerprint == fp, "a new certificate was generated on restart"
        assert (second.state_dir / "tls" / "certificate.pem").read_bytes() == cert_pem
        assert (second.state_dir / "tls" / "private-key.pem").read_bytes() == key_pem
        assert colon_fingerprint(tls_peer_cert(second.host, second.ftps_port)) == fp
    finally:
        second.stop()


def test_configured_certificate_is_used(start_server, tmp_path):
    cert, key = make_cert_pair(tmp_path / "pki", "configured")
    srv = start_server(ftps=FTPS, tls={"certificate": str(cert), "private_key": str(key)})
    der = der_of_pem_file(cert)
    fp_line = [l for l in srv.stdout_lines if "SHA-256 fingerprint" in l]
    assert fp_line == ["tls certificate SHA-256 fingerprint " + colon_fingerprint(der)], fp_line
    assert srv.cert_generated is False
    assert tls_peer_cert(srv.host, srv.ftps_port) == der
    assert tls_peer_cert(srv.host, srv.port, explicit=True) == der
    assert_serving(srv)


def _tls_error_case(tmp_path, case):
    pki = tmp_path / "pki"
    cert, key = make_cert_pair(pki, "a")
    if case == "missing_certificate":
        return {"certificate": str(pki / "no-such-cert.pem"), "private_key": str(key)}, \
            ["tls.certificate"]
    if case == "missing_private_key":
        return {"certificate": str(cert), "private_key": str(pki / "no-such-key.pem")}, \
            ["tls.private_key"]
    if case == "garbage_certificate":
        bad = pki / "garbage.pem"
        bad.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
                       "-----END CERTIFICATE-----\n")
        return {"certificate": str(bad), "private_key": str(key)}, ["tls.certificate"]
    if case == "mismatched_key":
        _, other_key = make_cert_pair(pki, "b")
        return {"certificate": str(cert), "private_key": str(other_key)}, \
            ["tls.certificate", "tls.private_key"]
    raise ValueError(case)


@pytest.mark.parametrize("case", ["missing_certificate", "missing_private_key",
                                  "garbage_certificate", "mismatched_key"])
@pytest.mark.parametrize("how", ["check-config", "serve"])
def test_bad_certificate_config(berth, tmp_path, case, how):
    tls, keys = _tls_error_case(tmp_path, case)
    srv = BerthServer(tmp_path / "srv", ftps=FTPS, tls=tls)  # writes the config only
    if how == "check-config":
        r = run_berth(berth, "check-config", str(srv.config_path))
    else:
        r = run_berth(berth, "serve", "--config", str(srv.config_path))
        assert "berth ready" not in r.stdout
    assert r.returncode == 2, "rc=%s stdout=%r stderr=%r" % (r.returncode, r.stdout, r.stderr)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, "expected one stderr line, got %r" % r.stderr
    assert any(k in lines[0] for k in keys), "%r does not name %s" % (lines[0], " or ".join(keys))


# ------------------------------------------------------------------ explicit FTPS commands

def test_feat_advertises_tls(ftps_server):
    c = ftps_server.connect_kind("plain")
    try:
        feats = feat_lines(c)
        assert any(f.startswith("AUTH ") and "TLS" in f for f in feats), feats
        assert "PBSZ" in feats and "PROT" in feats, feats
    finally:
        quit_quietly(c)


@pytest.mark.parametrize("mech", ["TLS", "SSL", "tls"])
def test_auth_mechanisms(ftps_server, mech):
    c = PlainFTP(timeout=CTRL_TIMEOUT)
    c.connect(ftps_server.host, ftps_server.port)
    try:
        code, text = cmd(c, "AUTH " + mech)
        assert code == 234, text
        s = client_context().wrap_socket(c.sock, server_hostname=ftps_server.host)
        assert s.version() in ("TLSv1.2", "TLSv1.3")
        assert raw_cmd(s, "USER alice")[0] == 331
        assert raw_cmd(s, "PASS " + ftps_server.users["alice"]["password"])[0] == 230
        assert raw_cmd(s, "PBSZ 0")[0] == 200
        assert raw_cmd(s, "PROT P")[0] == 200
        assert raw_cmd(s, "NOOP")[0] == 200
        s.close()
    finally:
        c.close()


def test_pbsz_prot_ccc_sequence(ftps_server):
    c = ftps_server.connect_kind("plain")
    try:
        assert cmd(c, "PBSZ 0")[0] == 503      # before AUTH
        assert cmd(c, "PROT P")[0] == 503
        assert cmd(c, "PROT C")[0] == 503
        assert cmd(c, "CCC")[0] == 533         # control not protected
    finally:
        quit_quietly(c)
    c = ftps_server.connect_kind("explicit")   # AUTH TLS done
    try:
        assert cmd(c, "PROT P")[0] == 503      # before PBSZ
        assert cmd(c, "PBSZ 0")[0] == 200
        assert cmd(c, "PROT S")[0] == 536
        assert cmd(c, "PROT E")[0] == 536
        assert cmd(c, "PROT C")[0] == 200
        assert cmd(c, "PROT P")[0] == 200
        assert cmd(c, "CCC")[0] == 534
        c._prot_p = True
        ftplib.FTP.login(c, "alice", ftps_server.users["alice"]["password"])
        assert cmd(c, "CCC")[0] == 534         # still refused after login
        (ftps_server.home() / "x.txt").write_bytes(b"x" * 5000)
        assert retr_bytes(c, "x.txt") == b"x" * 5000
    finally:
        quit_quietly(c)


def test_prot_c_data_is_clear_under_optional_policy(ftps_server):
    (ftps_server.home() / "clear.txt").write_bytes(b"clear text data")
    c = ftps_server.login_kind("explicit", prot_p=False)
    try:
        c.voidcmd("PBSZ 0")
        c.prot_c()
        for mode in ("pasv", "port"):
            c.set_mode(mode)
            conn = c.transfercmd("RETR clear.txt")
            try:
                assert not isinstance(conn, ssl.SSLSocket)
                conn.settimeout(DATA_TIMEOUT)
                data = b""
                while True:
                    b = conn.recv(65536)
                    if not b:
                        break
                    data += b
            finally:
                conn.close()
            assert data == b"clear text data"
            assert c.voidresp().startswith("226")
    finally:
        quit_quietly(c)


def test_explicit_ftps_over_ipv6(ftps_server, payloads):
    pl = payloads["1MiB"]
    c = ftps_server.login_kind("explicit", ipv6=True)
    try:
        for mode in ("epsv", "eprt"):
            c.set_mode(mode)
            with open(pl.path, "rb") as f:
                assert c.storbinary("STOR six.bin", f).startswith("226")
            assert sha256_file(ftps_server.home() / "six.bin") == pl.sha256
            assert hashlib.sha256(retr_bytes(c, "six.bin")).hexdigest() == pl.sha256
    finally:
        quit_quietly(c)


def test_tls_off_policy(start_server):
    srv = start_server(ftp_tls="off")
    c = srv.connect_kind("plain")
    try:
        feats = feat_lines(c)
        assert not any(f.startswith("AUTH") or f in ("PBSZ", "PROT") for f in feats), feats
        assert cmd(c, "AUTH TLS")[0] == 502
        assert cmd(c, "AUTH SSL")[0] == 502
        c.login("alice", srv.users["alice"]["password"])
        (srv.home() / "p.txt").write_bytes(b"plain only")
        assert retr_bytes(c, "p.txt") == b"plain only"
    finally:
        quit_quietly(c)


# ------------------------------------------------------------------ tls = "required"

@pytest.fixture
def required_server(start_server):
    return start_server(ftp_tls="required", ftps=FTPS)


def test_required_refuses_login_before_auth(required_server):
    srv = required_server
    c = srv.connect_kind("plain")
    try:
        assert cmd(c, "USER alice")[0] == 530
        assert cmd(c, "PASS " + srv.users["alice"]["password"])[0] == 530
        assert cmd(c, "USER alice")[0] == 530
        assert cmd(c, "PWD")[0] == 530  # not logged in
    finally:
        quit_quietly(c)
    c = srv.login_kind("explicit")      # AUTH TLS first: fine
    try:
        assert c.voidcmd("NOOP").startswith("200")
    finally:
        quit_quietly(c)


TRANSFER_VERBS = ["RETR f.txt", "STOR new.txt", "APPE f.txt", "STOU", "LIST", "NLST", "MLSD"]


@pytest.mark.parametrize("pbsz", [False, True], ids=["no-pbsz", "pbsz-no-prot"])
def test_required_transfers_need_prot_p(required_server, pbsz):
    srv = required_server
    (srv.home() / "f.txt").write_bytes(b"original")
    c = srv.login_kind("explicit", prot_p=False)
    try:
        if pbsz:
            assert cmd(c, "PBSZ 0")[0] == 200
        for verb in TRANSFER_VERBS:
            code, text = cmd(c, "PASV")
            assert code == 227, text
            code, text = cmd(c, verb)
            if code in (125, 150):  # transfer started: read its outcome, report
                code, text = read_reply(c)
                pytest.fail("%s without PROT P started a transfer (final %s)" % (verb, text))
            assert code == 521, "%s without PROT P -> %s" % (verb, text)
        assert sorted(os.listdir(srv.home())) == ["f.txt"]
        assert (srv.home() / "f.txt").read_bytes() == b"original"
        if not pbsz:
            assert cmd(c, "PBSZ 0")[0] == 200
        assert cmd(c, "PROT C")[0] == 534
        # still refused: PROT C did not take effect
        cmd(c, "PASV")
        assert cmd(c, "RETR f.txt")[0] == 521
        c.prot_p()
        assert retr_bytes(c, "f.txt") == b"original"
        assert c.storbinary("STOR new.txt", io.BytesIO(b"protected")).startswith("226")
        assert (srv.home() / "new.txt").read_bytes() == b"protected"
        assert sorted(c.nlst()) == ["f.txt", "new.txt"]
    finally:
        quit_quietly(c)


def test_required_implicit_needs_no_prot(required_server):
    srv = required_server
    (srv.home() / "f.txt").write_bytes(b"implicit is private")
    c = srv.login_kind("implicit")
    try:
        for mode in ("epsv", "eprt"):
            c.set_mode(mode)
            assert retr_bytes(c, "f.txt") == b"implicit is private"
    finally:
        quit_quietly(c)


def test_required_refuses_prot_c_on_implicit(required_server):
    """tls = "required" means no clear data connections, on the implicit
    port as well: PROT C -> 534 and transfers stay protected."""
    srv = required_server
    (srv.home() / "f.txt").write_bytes(b"implicit is private")
    c = srv.login_kind("implicit")
    try:
        assert cmd(c, "PBSZ 0")[0] == 200
        code, text = cmd(c, "PROT C")
        assert code == 534, "PROT C on the implicit port with tls = required -> %r" % text
        assert retr_bytes(c, "f.txt") == b"implicit is private"
    finally:
        quit_quietly(c)


# ------------------------------------------------------------------ session reuse

def _refused_transfer(c, verb, data_session):
    """Start `verb` with a data connection that resumes `data_session` (None:
    a fresh TLS session). Returns (final reply, data read)."""
    conn, _ = ftplib.FTP.ntransfercmd(c, verb)
    conn.settimeout(DATA_TIMEOUT)
    got = b""
    try:
        try:
            tls = c.context.wrap_socket(conn, server_hostname=c.host, session=data_session)
        except (ssl.SSLError, OSError):
            tls = None
        if tls is not None:
            conn = tls
            try:
                if verb.startswith("STOR"):
                    tls.sendall(b"must not be stored")
                    tls.unwrap()
                else:
                    while True:
                        b = tls.recv(65536)
                        if not b:
                            break
                        got += b
            except (ssl.SSLError, OSError):
                pass
    finally:
        conn.close()
    return c.getmultiline(), got


@pytest.mark.parametrize("verb", ["RETR f.bin", "STOR stored.bin", "LIST"])
@pytest.mark.parametrize("mode", ["pasv", "port"])
@pytest.mark.parametrize("tls", sorted(VERSIONS))
@pytest.mark.parametrize("kind", ["explicit", "implicit"])
def test_data_without_session_reuse_refused(ftps_server, kind, tls, mode, verb):
    (ftps_server.home() / "f.bin").write_bytes(b"secret" * 1000)
    c = ftps_server.login_kind(kind, context=client_context(max_version=VERSIONS[tls]),
                               reuse_session=False)
    try:
        c.set_mode(mode)
        resp, got = _refused_transfer(c, verb, None)
        assert resp.startswith("522"), "%s without session reuse -> %s" % (verb, resp)
        assert got == b"", "data was sent on a refused data connection"
        assert not (ftps_server.home() / "stored.bin").exists()
        assert c.voidcmd("NOOP").startswith("200")
        c.reuse_session = True  # the same session resuming properly works
        assert retr_bytes(c, "f.bin") == b"secret" * 1000
    finally:
        quit_quietly(c)


def test_stock_ftplib_ftp_tls_refused(ftps_server):
    (ftps_server.home() / "f.txt").write_bytes(b"stock")
    c = ftplib.FTP_TLS(context=client_context(), timeout=CTRL_TIMEOUT)
    try:
        c.connect(ftps_server.host, ftps_server.port)
        c.login("alice", ftps_server.users["alice"]["password"])
        c.prot_p()
        with pytest.raises(ftplib.error_perm, match="^522"):
            c.retrbinary("RETR f.txt", lambda b: pytest.fail("got data %r" % b))
        assert c.voidcmd("NOOP").startswith("200")
    finally:
        quit_quietly(c)


@pytest.mark.parametrize("mode", ["pasv", "port"])
@pytest.mark.parametrize("tls", sorted(VERSIONS))
@pytest.mark.parametrize("kind", ["explicit", "implicit"])
def test_data_resuming_other_sessions_session_refused(ftps_server, kind, tls, mode):
    (ftps_server.home() / "f.bin").write_bytes(b"mine" * 1000)
    ctx = client_context(max_version=VERSIONS[tls])  # shared: sessions are per context
    c = ftps_server.login_kind(kind, context=ctx)
    other = ftps_server.login_kind(kind, context=ctx)
    try:
        c.set_mode(mode)
        for verb in ("RETR f.bin", "STOR stored.bin"):
            resp, got = _refused_transfer(c, verb, other.sock.session)
            assert resp.startswith("522"), "%s resuming another's session -> %s" % (verb, resp)
            assert got == b""
            assert not (ftps_server.home() / "stored.bin").exists()
        assert retr_bytes(c, "f.bin") == b"mine" * 1000  # its own session still works
    finally:
        quit_quietly(c)
        quit_quietly(other)


@pytest.mark.parametrize("tls", sorted(VERSIONS))
def test_refused_foreign_resumption_does_not_break_victim(ftps_server, tls):
    """A refused attempt to resume login B's session from login A's data
    connection must not invalidate B's session for B's own transfers."""
    (ftps_server.home() / "f.bin").write_bytes(b"victim" * 1000)
    ctx = client_context(max_version=VERSIONS[tls])
    a = ftps_server.login_kind("explicit", context=ctx)
    b = ftps_server.login_kind("explicit", context=ctx)
    try:
        assert retr_bytes(b, "f.bin") == b"victim" * 1000
        resp, _ = _refused_transfer(a, "RETR f.bin", b.sock.session)
        assert resp.startswith("522"), resp
        try:
            got = retr_bytes(b, "f.bin")
        except ftplib.error_perm as e:
            pytest.fail("B's own transfer after A's refused attempt: %s" % e)
        assert got == b"victim" * 1000
    finally:
        quit_quietly(a)
        quit_quietly(b)


def test_session_reuse_not_required(start_server):
    srv = start_server(ftps=FTPS, tls={"require_session_reuse": False})
    (srv.home() / "f.txt").write_bytes(b"no reuse needed")
    c = ftplib.FTP_TLS(context=client_context(), timeout=CTRL_TIMEOUT)  # stock, passive
    try:
        c.connect(srv.host, srv.port)
        c.login("alice", srv.users["alice"]["password"])
        c.prot_p()
        assert retr_bytes(c, "f.txt") == b"no reuse needed"
        assert c.storbinary("STOR up.txt", io.BytesIO(b"uploaded")).startswith("226")
        assert (srv.home() / "up.txt").read_bytes() == b"uploaded"
    finally:
        quit_quietly(c)
    for kind in ("explicit", "implicit"):
        for tls in (TLS12, TLS13):
            c = srv.login_kind(kind, context=client_context(max_version=tls), reuse_session=False)
            try:
                for mode in ("epsv", "port"):
                    c.set_mode(mode)
                    assert retr_bytes(c, "f.txt") == b"no reuse needed"
            finally:
                quit_quietly(c)


# ------------------------------------------------------------------ implicit FTPS robustness

def test_implicit_tls_from_first_byte(ftps_server):
    s = client_context().wrap_socket(raw_connect(ftps_server.host, ftps_server.ftps_port),
                                     server_hostname=ftps_server.host)
    try:
        code, text = read_raw_reply(s)
        assert code == 220, text
        assert raw_cmd(s, "USER alice")[0] == 331
        assert raw_cmd(s, "PASS " + ftps_server.users["alice"]["password"])[0] == 230
        assert raw_cmd(s, "AUTH TLS")[0] in (503, 504, 534)  # already TLS: no second AUTH
    finally:
        s.close()


@pytest.mark.parametrize("payload", ["plaintext", "random", "http"])
def test_implicit_port_garbage_client_closed(ftps_server, payload):
    data = {"plaintext": b"USER alice\r\nPASS x\r\n",
            "random": os.urandom(600),
            "http": b"GET / HTTP/1.0\r\n\r\n"}[payload]
    s = raw_connect(ftps_server.host, ftps_server.ftps_port)
    try:
        s.sendall(data)
        closed, got, _ = wait_closed(s, 10)
        assert closed, "implicit port kept a %s client open" % payload
        assert b"220" not in got and b"331" not in got and b"230" not in got, got
    finally:
        s.close()
    assert_serving(ftps_server)


def test_implicit_port_plain_ftp_client_gets_no_greeting(ftps_server):
    s = raw_connect(ftps_server.host, ftps_server.ftps_port)
    try:
        s.settimeout(1.5)
        try:
            first = s.recv(100)
        except socket.timeout:
            first = None
        assert not first or not first.startswith(b"220"), "plain-text greeting on implicit port"
    finally:
        s.close()


@pytest.mark.parametrize("stall", ["implicit-silent", "implicit-partial-hello",
                                   "explicit-after-auth"])
def test_stalled_handshake_times_out(start_server, stall):
    srv = start_server(ftps=FTPS, tls={"handshake_timeout": 2})
    if stall.startswith("implicit"):
        s = raw_connect(srv.host, srv.ftps_port)
        if stall == "implicit-partial-hello":
            s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    else:
        s = raw_connect(srv.host, srv.port)
        assert read_raw_reply(s)[0] == 220
        s.sendall(b"AUTH TLS\r\n")
        assert read_raw_reply(s)[0] == 234
    t0 = time.monotonic()
    try:
        # others are served while this handshake is pending
        assert_serving(srv)
        closed, _, _ = wait_closed(s, 15)
        elapsed = time.monotonic() - t0
    finally:
        s.close()
    assert closed, "stalled handshake not closed"
    assert 1.0 <= elapsed <= 8, "closed after %.1fs with handshake_timeout = 2" % elapsed
    assert_serving(srv)


def test_many_stalled_handshakes_do_not_block_others(start_server):
    srv = start_server(ftps=FTPS, tls={"handshake_timeout": 30})
    stalled = [raw_connect(srv.host, srv.ftps_port) for _ in range(20)]
    try:
        t0 = time.monotonic()
        assert_serving(srv)
        assert time.monotonic() - t0 < 10
    finally:
        for s in stalled:
            s.close()


def test_failed_data_handshake_does_not_kill_session(ftps_server):
    """A data connection that sends garbage instead of a ClientHello fails
    the transfer (4xx/5xx), and the control session goes on."""
    (ftps_server.home() / "f.txt").write_bytes(b"after garbage")
    for kind in ("explicit", "implicit"):
        c = ftps_server.login_kind(kind)
        try:
            c.set_mode("pasv")
            conn, _ = ftplib.FTP.ntransfercmd(c, "RETR f.txt")
            try:
                conn.sendall(b"this is not TLS\r\n" * 20)
                wait_closed(conn, 10)
            finally:
                conn.close()
            code = int(c.getmultiline()[:3])
            assert 400 <= code < 600, code
            assert c.voidcmd("NOOP").startswith("200")
            assert retr_bytes(c, "f.txt") == b"after garbage"
        finally:
            quit_quietly(c)


# ------------------------------------------------------------------ early data handshake
# curl connects the data connection and sends its ClientHello right after
# EPSV, then sends TYPE, SIZE and RETR, and reads no reply until that
# handshake ends. The server answers the handshake while it reads those
# commands, before any transfer command.

def _begin_data_handshake(c, address=None):
    """Connects to `address` (by default: a new EPSV's) and sends a ClientHello
    that resumes the control connection's session; returns the non-blocking
    TLS socket."""
    raw = connect_data(*(address or c.makepasv()))
    tls = c.context.wrap_socket(raw, server_hostname=c.host, session=c.sock.session,
                                do_handshake_on_connect=False)
    tls.setblocking(False)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return tls


def _handshake_by_commands(c, tls, commands=("TYPE I", "NOOP", "NOOP", "NOOP", "NOOP")):
    """Sends `commands` one by one (each answered 200) until the data
    connection's handshake is complete; True if it completed."""
    for command in commands:
        assert c.voidcmd(command).startswith("200")
        for _ in range(2):
            try:
                tls.do_handshake()
                return True
            except ssl.SSLWantReadError:
                select.select([tls], [], [], 1)
    return False


def _retr_early(c, data, name):
    """RETR `name` over `data`, whose handshake the commands before RETR must
    complete; returns the bytes read (the transfer ends with 226)."""
    try:
        assert _handshake_by_commands(c, data), "ClientHello not answered before RETR"
        assert c.sendcmd("RETR " + name).startswith("150")
        data.setblocking(True)
        data.settimeout(DATA_TIMEOUT)
        got = recv_all(data)
    finally:
        data.close()
    assert c.voidresp().startswith("226")
    return got


@pytest.mark.parametrize("tls", sorted(VERSIONS))
@pytest.mark.parametrize("kind", ["explicit", "implicit"])
def test_data_handshake_answered_before_transfer_command(ftps_server, kind, tls):
    payload = os.urandom(300000)
    (ftps_server.home() / "f.bin").write_bytes(payload)
    c = ftps_server.login_kind(kind, context=client_context(max_version=VERSIONS[tls]))
    try:
        c.set_mode("epsv")
        assert _retr_early(c, _begin_data_handshake(c), "f.bin") == payload
        assert retr_bytes(c, "f.bin") == payload  # and the next transfer as usual
    finally:
        quit_quietly(c)


def test_early_data_connection_from_stranger_refused(ftps_server):
    secret = os.urandom(200000)
    (ftps_server.home() / "secret.bin").write_bytes(secret)
    c = ftps_server.login_kind("explicit")
    try:
        c.set_mode("epsv")
        host, port = c.makepasv()
        try:
            attacker = connect_data(host, port, source="127.0.0.3", timeout=5)
        except OSError:
            attacker = None  # refused outright: fine
        assert _retr_early(c, _begin_data_handshake(c, (host, port)), "secret.bin") == secret
        if attacker is not None:
            closed, stolen, _ = wait_closed(attacker, 5)
            attacker.close()
            assert stolen == b"", "attacker received %d bytes" % len(stolen)
            assert closed, "attacker connection left open"
        assert "refused passive data connection from 127.0.0.3" in ftps_server.stderr_text()
    finally:
        quit_quietly(c)


def test_early_garbage_on_data_connection_fails_only_that_transfer(ftps_server):
    (ftps_server.home() / "f.txt").write_bytes(b"after garbage")
    c = ftps_server.login_kind("explicit")
    try:
        c.set_mode("epsv")
        host, port = c.makepasv()
        conn = connect_data(host, port)
        try:
            conn.sendall(b"this is not TLS\r\n" * 20)
            assert c.voidcmd("NOOP").startswith("200")  # the server reads the garbage here
            code, text = cmd(c, "RETR f.txt")
            if code == 150:
                code, text = read_reply(c)
            assert 400 <= code < 600, text
        finally:
            conn.close()
        assert c.voidcmd("NOOP").startswith("200")
        assert retr_bytes(c, "f.txt") == b"after garbage"
    finally:
        quit_quietly(c)


def test_prot_c_after_data_handshake_began_refuses_transfer(ftps_server):
    """The client began TLS on the data connection under PROT P, then asked for
    PROT C: that connection can carry neither, so the transfer is refused and
    nothing leaves in clear text."""
    (ftps_server.home() / "f.txt").write_bytes(b"never in clear")
    c = ftps_server.login_kind("explicit")
    try:
        c.set_mode("epsv")
        data = _begin_data_handshake(c)
        try:
            assert _handshake_by_commands(c, data)
            assert c.voidcmd("PROT C").startswith("200")
            code, text = cmd(c, "RETR f.txt")
            if code == 150:
                code, text = read_reply(c)
            assert code == 425, text
            closed, got, _ = wait_closed(data, 5)
            assert closed and b"never in clear" not in got
        finally:
            data.close()
        c.prot_p()
        assert retr_bytes(c, "f.txt") == b"never in clear"
    finally:
        quit_quietly(c)


# ------------------------------------------------------------------ AUTH TLS injection

@pytest.mark.parametrize("injected", ["USER alice\r\n", "USER alice\r\nPASS {pw}\r\n",
                                      "PBSZ 0\r\nPROT C\r\n"])
def test_auth_tls_pipelined_commands_discarded(ftps_server, injected):
    srv = ftps_server
    pw = srv.users["alice"]["password"]
    s = raw_connect(srv.host, srv.port)
    try:
        assert read_raw_reply(s)[0] == 220
        s.sendall(b"AUTH TLS\r\n" + injected.format(pw=pw).encode())  # one packet
        code, text = read_raw_reply(s)
        assert code == 234, text
        t = client_context().wrap_socket(s, server_hostname=srv.host)
        code, text = raw_cmd(t, "NOOP")
        assert code == 200, "first reply after TLS is not for NOOP: %r" % text
        code, text = raw_cmd(t, "PWD")
        assert code == 530, "injected login was executed: PWD -> %r" % text
        code, text = raw_cmd(t, "PASS " + pw)
        assert code != 230, "injected USER was executed: PASS -> %r" % text
        code, text = raw_cmd(t, "PROT P")
        assert code == 503, "injected PBSZ was executed: PROT P -> %r" % text
        assert raw_cmd(t, "USER alice")[0] == 331
        assert raw_cmd(t, "PASS " + pw)[0] == 230
        t.close()
    finally:
        s.close()
    assert_serving(srv, kinds=("explicit",))


# ------------------------------------------------------------------ SIGHUP reload

def test_sighup_reloads_certificate(start_server, tmp_path):
    pki = tmp_path / "pki"
    cert_a, key_a = make_cert_pair(pki, "A")
    cert_b, key_b = make_cert_pair(pki, "B")
    live_cert, live_key = pki / "live-cert.pem", pki / "live-key.pem"
    live_cert.write_bytes(cert_a.read_bytes())
    live_key.write_bytes(key_a.read_bytes())
    srv = start_server(ftps=FTPS, tls={"certificate": str(live_cert),
                                       "private_key": str(live_key)})
    der_a, der_b = der_of_pem_file(cert_a), der_of_pem_file(cert_b)
    assert srv.fingerprint == colon_fingerprint(der_a)
    (srv.home() / "f.txt").write_bytes(b"before and after")
    old = {k: srv.login_kind(k) for k in ("explicit", "implicit")}
    try:
        for c in old.values():
            assert c.sock.getpeercert(binary_form=True) == der_a
        # replace key first: a reload between the two writes must not break anything
        live_key.write_bytes(key_b.read_bytes())
        live_cert.write_bytes(cert_b.read_bytes())
        os.kill(srv.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while True:
            seen = tls_peer_cert(srv.host, srv.ftps_port)
            if seen == der_b or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert hashlib.sha256(seen).hexdigest() == hashlib.sha256(der_b).hexdigest(), \
            "implicit port still serves the old certificate after SIGHUP"
        assert tls_peer_cert(srv.host, srv.port, explicit=True) == der_b
        assert srv.alive()
        # sessions opened before the reload keep working, data included
        for kind, c in old.items():
            assert c.voidcmd("NOOP").startswith("200"), kind
            for mode in ("pasv", "port"):
                c.set_mode(mode)
                assert retr_bytes(c, "f.txt") == b"before and after", kind
            assert c.storbinary("STOR up-%s.txt" % kind, io.BytesIO(b"up")).startswith("226")
        # and new sessions work with the new certificate
        for kind in ("explicit", "implicit"):
            c = srv.login_kind(kind)
            try:
                assert c.sock.getpeercert(binary_form=True) == der_b
                assert retr_bytes(c, "f.txt") == b"before and after"
            finally:
                quit_quietly(c)
    finally:
        for c in old.values():
            quit_quietly(c)


def test_sighup_with_broken_certificate_keeps_old_one(start_server, tmp_path):
    cert, key = make_cert_pair(tmp_path / "pki", "keep")
    srv = start_server(ftps=FTPS, tls={"certificate": str(cert), "private_key": str(key)})
    der = der_of_pem_file(cert)
    cert.write_text("broken\n")
    os.kill(srv.proc.pid, signal.SIGHUP)
    time.sleep(0.5)
    assert srv.alive(), srv.stderr_text()[-2000:]
    assert tls_peer_cert(srv.host, srv.ftps_port) == der
    assert_serving(srv)


# ------------------------------------------------------------------ TLS versions

def _old_tls_context(version):
    with warnings.catch_warnings():  # TLSVersion.TLSv1/TLSv1_1 are deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        v = getattr(ssl.TLSVersion, version)
        ctx = client_context(min_version=v, max_version=v)
    try:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client offer TLS 1.0/1.1 at all
    except ssl.SSLError:
        pass
    return ctx


def _handshake_fails(server, kind, ctx):
    try:
        c = server.connect_kind(kind, context=ctx)
    except (ssl.SSLError, ConnectionError, EOFError, OSError) as e:
        return True, repr(e)
    quit_quietly(c)
    return False, "handshake succeeded with %s" % c.sock.version()


@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
@pytest.mark.parametrize("kind", ["explicit", "implicit"])
def test_tls_1_0_and_1_1_refused(ftps_server, kind, version):
    # (if the local OpenSSL refuses to offer these versions itself, the
    # handshake fails client-side; TLS 1.2/1.3 acceptance is tested below)
    failed, detail = _handshake_fails(ftps_server, kind, _old_tls_context(version))
    assert failed, detail
    assert_serving(ftps_server)


@pytest.mark.parametrize("kind", ["explicit", "implicit"])
def test_tls_1_2_and_1_3_accepted(ftps_server, kind):
    (ftps_server.home() / "v.txt").write_bytes(b"versions")
    for ver, name in ((TLS12, "TLSv1.2"), (TLS13, "TLSv1.3")):
        c = ftps_server.login_kind(kind, context=client_context(min_version=ver, max_version=ver))
        try:
            assert c.sock.version() == name
            assert retr_bytes(c, "v.txt") == b"versions"
        finally:
            quit_quietly(c)


@pytest.mark.parametrize("kind", ["explicit", "implicit"])
def test_min_version_1_3(start_server, kind):
    srv = start_server(ftps=FTPS, tls={"min_version": "1.3"})
    failed, detail = _handshake_fails(srv, kind, client_context(max_version=TLS12))
    assert failed, "min_version = 1.3 accepted a TLS 1.2-only client: " + detail
    (srv.home() / "v.txt").write_bytes(b"1.3 only")
    c = srv.login_kind(kind, context=client_context(min_version=TLS13))
    try:
        assert c.sock.version() == "TLSv1.3"
        assert retr_bytes(c, "v.txt") == b"1.3 only"
    finally:
        quit_quietly(c)


# ------------------------------------------------------------------ implicit active data port

def test_ftps_active_data_port(start_server):
    lo = 30000 + worker_slot() * 100 + 60
    port = free_port("127.0.0.1", lo, lo + 39)
    srv = start_server(ftps={"listen": ["127.0.0.1:0"], "active_data_port": port})
    (srv.home() / "a.txt").write_bytes(b"from 989-ish")
    c = srv.login_kind("implicit")
    try:
        for mode in ("port", "eprt"):
            c.set_mode(mode)
            peers = []
            conn = None
            lst = c.makeport()
            try:
                resp = c.sendcmd("RETR a.txt")
                assert resp.startswith("150") or resp.startswith("125"), resp
                raw, addr = lst.accept()
                peers.append(addr)
                raw.settimeout(DATA_TIMEOUT)
                conn = c.context.wrap_socket(raw, server_hostname=c.host, session=c.sock.session)
                data = b""
                while True:
                    b = conn.recv(65536)
                    if not b:
                        break
                    data += b
                assert data == b"from 989-ish"
            finally:
                lst.close()
                if conn is not None:
                    conn.close()
            assert c.voidresp().startswith("226")
            assert peers[0] == ("127.0.0.1", port), "implicit active data came from %r" % (peers,)
    finally:
        quit_quietly(c)


# ------------------------------------------------------------------ truncated uploads (close_notify)

def xferlog_statuses(path, name):
    """The completion status (c/i) of each xferlog line for file `name`."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    return [l.split()[-1] for l in lines if l.split()[8:9] == ["/" + name]]


def server_with_xferlog(start_server, tmp_path, **kw):
    srv = start_server(ftps=FTPS, sections={"log": {"transfer_log": str(tmp_path / "xferlog")}},
                       **kw)
    srv.xferlog = tmp_path / "xferlog"
    return srv


def stor_ending(c, name, data, close_notify):
    """STOR `name` over a protected data connection that sends `data` and then
    ends with TLS close_notify, or is cut: the TCP connection closes (FIN)
    and TLS never says it ended. Returns the final reply."""
    conn = c.transfercmd("STOR " + name)
    try:
        conn.sendall(data)
        if close_notify:
            conn.unwrap()
        else:
            conn.shutdown(socket.SHUT_RDWR)  # ssl.SSLSocket: drops TLS, then shuts the socket
    finally:
        conn.close()
    try:
        return c.voidresp()
    except ftplib.Error as e:
        return str(e)


@pytest.mark.parametrize("tls", sorted(VERSIONS))
@pytest.mark.parametrize("kind", ["explicit", "implicit"])
def test_upload_cut_without_close_notify_is_incomplete(start_server, tmp_path, kind, tls):
    """Issue 17 item 4: a protected upload whose data connection ends with a
    TCP FIN but no TLS close_notify may have been cut short (a killed client,
    a forged FIN): 426, the old file stays, the xferlog says incomplete. A
    client that sends close_notify still gets 226."""
    srv = server_with_xferlog(start_server, tmp_path)
    old = os.urandom(200000)
    (srv.home() / "f.bin").write_bytes(old)
    c = srv.login_kind(kind, context=client_context(max_version=VERSIONS[tls]))
    try:
        resp = stor_ending(c, "f.bin", b"x" * 100000, close_notify=False)
        assert resp.startswith("426"), resp
        assert (srv.home() / "f.bin").read_bytes() == old
        assert c.voidcmd("NOOP").startswith("200")  # the session goes on
        resp = stor_ending(c, "f.bin", b"y" * 100000, close_notify=True)
        assert resp.startswith("226"), resp
        assert (srv.home() / "f.bin").read_bytes() == b"y" * 100000
    finally:
        quit_quietly(c)
    assert xferlog_statuses(srv.xferlog, "f.bin") == ["i", "c"]
    assert "without TLS close_notify" in srv.stderr_text()


def test_upload_cut_accepted_when_close_notify_not_required(start_server, tmp_path):
    """[tls] require_close_notify = false: a FIN ends a protected upload as
    it did before (for clients that never send close_notify)."""
    srv = server_with_xferlog(start_server, tmp_path, tls={"require_close_notify": False})
    (srv.home() / "f.bin").write_bytes(b"old" * 1000)
    c = srv.login_kind("explicit")
    try:
        resp = stor_ending(c, "f.bin", b"cut" * 1000, close_notify=False)
        assert resp.startswith("226"), resp
        assert (srv.home() / "f.bin").read_bytes() == b"cut" * 1000
    finally:
        quit_quietly(c)
    assert xferlog_statuses(srv.xferlog, "f.bin") == ["c"]


def test_lftp_killed_mid_upload_keeps_old_file(start_server, tmp_path):
    """Issue 17 item 4, as found: lftp killed by SIGKILL in the middle of a
    protected upload over an existing file. Its kernel closes the data
    connection with a FIN and no close_notify: the upload is incomplete and
    the old file stays (it was replaced by the truncated bytes 3 of 3 times)."""
    srv = server_with_xferlog(start_server, tmp_path)
    old = os.urandom(100000)
    (srv.home() / "big.bin").write_bytes(old)
    local = tmp_path / "local.bin"
    local.write_bytes(os.urandom(64 * 1024 * 1024))
    home = tmp_path / "client-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(HOME=str(home), LC_ALL="C.UTF-8")
    script = ("set net:max-retries 1; set net:persist-retries 0; set ftp:ssl-force yes; "
              "set ftp:ssl-protect-data yes; set ssl:verify-certificate no; "
              "set net:limit-rate 2000000; open -u alice,%s ftp://127.0.0.1:%d; put %s -o /big.bin"
              % (srv.users["alice"]["password"], srv.port, local))
    proc = subprocess.Popen(["lftp", "-c", script], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Bytes reached the server: the staged upload (any other file) grows.
        def staged_bytes():
            return sum(p.stat().st_size for p in srv.home().iterdir() if p.name != "big.bin")
        deadline = time.monotonic() + 30
        while staged_bytes() < 1000000 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert staged_bytes() >= 1000000, "the upload never started"
        assert proc.poll() is None, "lftp finished before it was killed"
    finally:
        proc.kill()
        proc.wait(timeout=10)
    deadline = time.monotonic() + 20
    while not xferlog_statuses(srv.xferlog, "big.bin") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert xferlog_statuses(srv.xferlog, "big.bin") == ["i"]
    assert (srv.home() / "big.bin").read_bytes() == old
    assert sorted(p.name for p in srv.home().iterdir()) == ["big.bin"]


# ------------------------------------------------------------------ TLS session cache flooding

def handshake_and_leave(srv, tls):
    """One stranger: a full TLS handshake on the implicit port, the greeting
    read (so the server finished the handshake and cached its sessions), no
    login."""
    raw = raw_connect(srv.host, srv.ftps_port)
    try:
        s = client_context(max_version=tls).wrap_socket(raw, server_hostname=srv.host)
        try:
            assert read_raw_reply(s)[0] == 220
        finally:
            s.close()
    finally:
        raw.close()


@pytest.mark.parametrize("tls", sorted(VERSIONS))
def test_session_cache_flood_does_not_break_logged_in_client(start_server, tls):
    """Issue 17 item 8: strangers' handshakes fill the shared TLS session cache
    and evict its oldest sessions; a logged-in client's data connections must
    still resume its control connection's session (its next PROT P listing
    got 522 after 24,000 handshakes). The cache is made small here."""
    srv = start_server(ftps=FTPS, tls={"session_cache_size": 8})
    (srv.home() / "f.txt").write_bytes(b"still mine")
    c = srv.login_kind("explicit", context=client_context(max_version=VERSIONS[tls]))
    try:
        assert c.nlst() == ["f.txt"]
        for _ in range(40):  # 5x the cache
            handshake_and_leave(srv, VERSIONS[tls])
        assert c.nlst() == ["f.txt"]
        assert retr_bytes(c, "f.txt") == b"still mine"
    finally:
        quit_quietly(c)


def test_tls_handshakes_per_address_are_bounded(start_server):
    """Issue 17 item 8: full TLS handshakes of control connections are bounded
    per address and minute ([limits] max_tls_handshakes_per_ip): past it,
    AUTH TLS and the implicit port get 421 without a handshake; other
    addresses are not affected."""
    srv = start_server(ftps=FTPS, sections={"limits": {"max_tls_handshakes_per_ip": 3}})
    for _ in range(3):
        handshake_and_leave(srv, TLS13)
    s = raw_connect(srv.host, srv.ftps_port)  # implicit: refused in clear text, as a ban
    try:
        code, text = read_raw_reply(s)
        assert code == 421 and "TLS handshakes" in text, text
    finally:
        s.close()
    s = raw_connect(srv.host, srv.port)
    try:
        assert read_raw_reply(s)[0] == 220
        code, text = raw_cmd(s, "AUTH TLS")
        assert code == 421 and "TLS handshakes" in text, text
    finally:
        s.close()
    c = ExplicitFTPSFrom("127.0.0.2", context=client_context(), timeout=CTRL_TIMEOUT)
    try:
        c.connect(srv.host, srv.port)
        c.auth()
        c.login("alice", srv.users["alice"]["password"])
    finally:
        quit_quietly(c)
    assert "too many handshakes" in srv.stderr_text()


class ExplicitFTPSFrom(ftplib.FTP_TLS):
    """FTP_TLS whose connections come from a chosen loopback address."""

    def __init__(self, source, **kw):
        super().__init__(**kw)
        self.source_address = (source, 0)
