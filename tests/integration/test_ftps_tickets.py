"""TLS session tickets with the data-connection reuse rule: TLS 1.2 clients
that resume only by ticket (rclone, Go's crypto/tls) transfer over FTPS; a
data connection resuming another control connection's ticket is refused
(522); a control connection that resumed an earlier one's ticket may use
that session for its own data connections."""

import io
import os
import shutil
import ssl
import subprocess

import pytest

from ftphelpers import (CTRL_TIMEOUT, DATA_TIMEOUT, ExplicitFTPS, client_context, quit_quietly)

import ftplib

TLS12, TLS13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3
RCLONE = shutil.which("rclone")
FTPS = {"listen": ["127.0.0.1:0"], "active_data_port": 0}


def tls12_context():
    ctx = client_context(max_version=TLS12)
    assert not ctx.options & ssl.OP_NO_TICKET  # tickets asked for
    return ctx


def retr(c, name):
    buf = io.BytesIO()
    assert c.retrbinary("RETR " + name, buf.write).startswith("226")
    return buf.getvalue()


def data_refused(c, verb, session):
    """`verb` over a data connection resuming `session`: the final reply."""
    conn, _ = ftplib.FTP.ntransfercmd(c, verb)
    conn.settimeout(DATA_TIMEOUT)
    try:
        tls = c.context.wrap_socket(conn, server_hostname=c.host, session=session)
        conn = tls
        assert tls.session_reused, "the foreign ticket was not even accepted by TLS"
        try:
            if verb.startswith("STOR"):
                tls.sendall(b"must not be stored")
                tls.unwrap()
            else:
                assert tls.recv(65536) == b""
        except (ssl.SSLError, OSError):
            pass
    finally:
        conn.close()
    return c.getmultiline()


@pytest.mark.parametrize("kind", ["explicit", "implicit"])
def test_tls12_ticket_resumption(ftps_server, kind):
    payload = os.urandom(300000)
    (ftps_server.home() / "t.bin").write_bytes(payload)
    c = ftps_server.login_kind(kind, context=tls12_context())
    try:
        assert c.sock.version() == "TLSv1.2"
        assert c.sock.session.has_ticket, "no TLS 1.2 session ticket issued"
        assert retr(c, "t.bin") == payload
        assert c.storbinary("STOR u.bin", io.BytesIO(payload)).startswith("226")
        assert (ftps_server.home() / "u.bin").read_bytes() == payload
    finally:
        quit_quietly(c)


@pytest.mark.parametrize("version", [TLS12, TLS13], ids=["tls1.2", "tls1.3"])
def test_ticket_of_another_control_connection_refused(ftps_server, version):
    (ftps_server.home() / "f.bin").write_bytes(b"mine" * 1000)
    ctx = client_context(max_version=version)
    a = ftps_server.login_kind("explicit", context=ctx)
    b = ftps_server.login_kind("explicit", context=ctx)
    try:
        assert b.sock.session.has_ticket
        for verb in ("RETR f.bin", "STOR stolen.bin"):
            resp = data_refused(a, verb, b.sock.session)
            assert resp.startswith("522"), "%s with B's ticket on A's data -> %s" % (verb, resp)
        assert not (ftps_server.home() / "stolen.bin").exists()
        assert retr(a, "f.bin") == b"mine" * 1000  # each its own still works
        assert retr(b, "f.bin") == b"mine" * 1000
    finally:
        quit_quietly(a)
        quit_quietly(b)


class ResumingFTPS(ExplicitFTPS):
    """Explicit FTPS whose control connection resumes `control_session`."""

    control_session = None

    def auth(self):
        resp = self.voidcmd("AUTH TLS")
        self.sock = self.context.wrap_socket(self.sock, server_hostname=self.host,
                                             session=self.control_session)
        self.file = self.sock.makefile(mode="r", encoding=self.encoding)
        return resp


@pytest.mark.parametrize("version", [TLS12, TLS13], ids=["tls1.2", "tls1.3"])
def test_new_control_connection_resuming_a_ticket(ftps_server, version):
    """Go clients keep one ticket per server for all their connections: a
    second control connection resumes the first one's ticket, and its data
    connections then present that ticket too."""
    (ftps_server.home() / "f.bin").write_bytes(b"again" * 3000)
    ctx = client_context(max_version=version)
    first = ftps_server.login_kind("explicit", context=ctx)
    try:
        ticket = first.sock.session
        quit_quietly(first)
        c = ResumingFTPS(context=ctx, timeout=CTRL_TIMEOUT)
        c.control_session = ticket
        try:
            c.connect(ftps_server.host, ftps_server.port)
            c.auth()
            assert c.sock.session_reused
            c.login("alice", ftps_server.users["alice"]["password"])
            c.prot_p()
            c.voidcmd("TYPE I")
            conn, _ = ftplib.FTP.ntransfercmd(c, "RETR f.bin")
            tls = ctx.wrap_socket(conn, server_hostname=c.host, session=ticket)
            got = b""
            while True:
                b = tls.recv(65536)
                if not b:
                    break
                got += b
            tls.close()
            assert c.voidresp().startswith("226")
            assert got == b"again" * 3000
        finally:
            quit_quietly(c)
    finally:
        quit_quietly(first)


@pytest.fixture
def rclone_ftps(ftps_server, tmp_path):
    """rclone(*args) against remote "berth:" over explicit FTPS, TLS 1.2 only."""
    assert RCLONE, "rclone is not installed"
    home = tmp_path / "rclone-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if "proxy" not in k.lower() and not k.startswith("RCLONE_")}
    env["HOME"] = str(home)
    conf = tmp_path / "rclone.conf"
    conf.touch()
    obscured = subprocess.run([RCLONE, "--config", str(conf), "obscure",
                               ftps_server.users["alice"]["password"]],
                              capture_output=True, text=True, timeout=30, env=env,
                              stdin=subprocess.DEVNULL).stdout.strip()
    env.update({"RCLONE_CONFIG_BERTH_TYPE": "ftp", "RCLONE_CONFIG_BERTH_HOST": "127.0.0.1",
                "RCLONE_CONFIG_BERTH_PORT": str(ftps_server.port),
                "RCLONE_CONFIG_BERTH_USER": "alice", "RCLONE_CONFIG_BERTH_PASS": obscured,
                "RCLONE_CONFIG_BERTH_EXPLICIT_TLS": "true",
                "RCLONE_CONFIG_BERTH_NO_CHECK_CERTIFICATE": "true",
                "RCLONE_CONFIG_BERTH_DISABLE_TLS13": "true"})

    def _rclone(*args):
        r = subprocess.run([RCLONE, "--config", str(conf), "--contimeout", "10s", "--timeout",
                            "30s", "--retries", "1", "--low-level-retries", "1", "-v"]
                           + list(args), capture_output=True, text=True, timeout=120, env=env,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 0, "rclone %r failed: %s" % (args, r.stderr[-3000:])
        return r

    return _rclone


def test_rclone_tls12_copy_up_and_down(ftps_server, tmp_path, rclone_ftps):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    files = {"a.bin": os.urandom(200000), "sub/b.txt": b"rclone over TLS 1.2\n",
             "sub/c.bin": os.urandom(1 << 20)}
    for rel, data in files.items():
        (src / rel).write_bytes(data)
    rclone_ftps("copy", str(src), "berth:up")
    for rel, data in files.items():
        assert (ftps_server.home() / "up" / rel).read_bytes() == data, rel
    back = tmp_path / "back"
    rclone_ftps("copy", "berth:up", str(back))
    for rel, data in files.items():
        assert (back / rel).read_bytes() == data, rel
    assert "refused data connection" not in ftps_server.stderr_text()
