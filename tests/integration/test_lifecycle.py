"""The server's life cycle (issue #6): dropping root after binding, SIGHUP
reload of the configuration, users, certificate and host keys, and the
graceful stop on SIGTERM/SIGINT."""

import base64
import ftplib
import hashlib
import io
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from ftphelpers import (CTRL_TIMEOUT, MiB, BerthServer, DataChannel, berth_bin, client_context,
                        colon_fingerprint, free_port, quit_quietly, read_reply, sha256_file,
                        tls_peer_cert, make_cert_pair)

FTPS = {"listen": ["127.0.0.1:0"], "active_data_port": 0}
SFTP = {"listen": ["127.0.0.1:0"]}


# ------------------------------------------------------------------ helpers

def require_root():
    if os.geteuid() != 0:
        pytest.skip("dropping privileges needs the tests to run as root")


def nobody():
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("this machine has no user nobody")


@pytest.fixture
def open_dir():
    """A folder every user may traverse (pytest's temp folders are root's
    alone), removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix="berth-lifecycle-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def proc_status(pid, task=None):
    path = "/proc/%d/status" % pid if task is None else "/proc/%d/task/%s/status" % (pid, task)
    out = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.split()
    return out




def assert_every_thread_dropped(pid, user, caps, bounding):
    """Regression (issue 17, item 19): capabilities, the bounding set and
    no_new_privs are per thread; the worker pools and the metrics threads,
    made before the drop, kept the full bounding set and NoNewPrivs 0."""
    tasks = os.listdir("/proc/%d/task" % pid)
    assert len(tasks) > 2, tasks  # the pools' threads are there to be checked
    for task in tasks:
        t = proc_status(pid, task)
        name = "thread %s (%s)" % (task, t["Name"])
        assert set(t["Uid"]) == {str(user.pw_uid)}, name
        assert set(t["Gid"]) == {str(user.pw_gid)}, name
        assert int(t["CapEff"][0], 16) == caps, name
        assert int(t["CapPrm"][0], 16) == caps, name
        assert int(t["CapInh"][0], 16) == 0, name
        assert int(t.get("CapAmb", ["0"])[0], 16) == 0, name
        assert t["CapBnd"] == bounding, name
        assert t["NoNewPrivs"] == ["1"], name


RELOAD_DONE = ("SIGHUP: reloaded", "SIGHUP: keeping the running configuration")


def reloads_seen(srv):
    err = srv.stderr_text()
    return sum(err.count(marker) for marker in RELOAD_DONE)


def reload(srv, timeout=20):
    """SIGHUP, then wait until the server logged the outcome."""
    before = reloads_seen(srv)
    os.kill(srv.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while reloads_seen(srv) <= before:
        assert srv.alive(), "berth died on SIGHUP:\n" + srv.stderr_text()[-2000:]
        assert time.monotonic() < deadline, "no reload logged:\n" + srv.stderr_text()[-2000:]
        time.sleep(0.05)


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def expect_refused(host, port):
    with pytest.raises(OSError):
        socket.create_connection((host, port), timeout=3).close()


def sftp_connect(srv, user="alice", password=None):
    paramiko = pytest.importorskip("paramiko")
    c = paramiko.SSHClient()
    c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    c.connect(hostname="127.0.0.1", port=srv.sftp_port, username=user,
              password=password or srv.users[user]["password"], timeout=CTRL_TIMEOUT,
              banner_timeout=CTRL_TIMEOUT, auth_timeout=CTRL_TIMEOUT, allow_agent=False,
              look_for_keys=False)
    return c


def ssh_fingerprint(key):
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


# ------------------------------------------------------------------ privileges

@pytest.mark.parametrize("active_data_port,caps", [(20, 1 << 10), (0, 0)],
                         ids=["active-port-20", "any-port"])
def test_drops_root_to_the_configured_user(open_dir, active_data_port, caps):
    require_root()
    nb = nobody()
    srv = BerthServer(open_dir / "srv", listen=("127.0.0.1:0",), sftp=SFTP,
                      active_data_port=active_data_port, server={"user": "nobody"},
                      sections={"metrics": {"listen": "127.0.0.1:0"}})
    for u in srv.users.values():
        os.chown(u["home"], nb.pw_uid, nb.pw_gid)
    srv.start()
    try:
        # After "berth ready" the process is nobody, for good, in every thread.
        st = proc_status(srv.proc.pid)
        assert set(st["Uid"]) == {str(nb.pw_uid)}, st["Uid"]
        assert set(st["Gid"]) == {str(nb.pw_gid)}, st["Gid"]
        assert "0" not in st.get("Groups", [])
        assert int(st["CapEff"][0], 16) == caps
        assert int(st["CapPrm"][0], 16) == caps
        assert int(st["CapInh"][0], 16) == 0
        assert st["NoNewPrivs"] == ["1"]
        bounding = st["CapBnd"]
        assert int(bounding[0], 16) & ~caps == 0
        assert_every_thread_dropped(srv.proc.pid, nb, caps, bounding)
        assert "serving as user nobody" in srv.stderr_text()
        assert "serving as root" not in srv.stderr_text()
        # The state folder and what was generated in it were handed over.
        for p in [srv.state_dir, srv.state_dir / "users.db", srv.state_dir / "tls",
                  srv.state_dir / "ssh" / "ssh_host_ed25519_key"]:
            assert p.lstat().st_uid == nb.pw_uid, p

        home = srv.home("alice")
        ftp = srv.login()
        ftp.voidcmd("TYPE I")
        assert ftp.storbinary("STOR passive.bin", io.BytesIO(b"p" * 1000)).startswith("226")
        # Active data: from port 20 only while CAP_NET_BIND_SERVICE is kept.
        dc = DataChannel(ftp, "port")
        try:
            dc.start("STOR active.bin")
            dc.sock.sendall(b"a" * 1000)
            dc.sock.close()
            if active_data_port:
                assert dc.peer[1] == 20
        finally:
            dc.close()
        assert read_reply(ftp)[0] == 226
        quit_quietly(ftp)
        # SFTP after the drop: host keys come from memory.
        c = sftp_connect(srv)
        try:
            s = c.open_sftp()
            with s.open("sftp.bin", "wb") as f:
                f.write(b"s" * 1000)
            s.close()
        finally:
            c.close()
        for name in ("passive.bin", "active.bin", "sftp.bin"):
            st = (home / name).stat()
            assert (st.st_uid, st.st_gid) == (nb.pw_uid, nb.pw_gid), name
            assert st.st_size == 1000
        # A reload still works (the configuration is readable by nobody here).
        reload(srv)
        assert "SIGHUP: reloaded" in srv.stderr_text()
        # The threads that logins, transfers and the reload used, too.
        assert_every_thread_dropped(srv.proc.pid, nb, caps, bounding)
    finally:
        srv.stop()
    err = srv.stderr_text()
    assert srv.proc.returncode == 0, err[-2000:]
    for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
        assert marker not in err, err[-4000:]


def test_root_without_user_warns_once(start_server):
    require_root()
    srv = start_server()
    assert srv.stderr_text().count("serving as root: set [server] user") == 1
    assert set(proc_status(srv.proc.pid)["Uid"]) == {"0"}


def test_not_root_with_another_user_is_a_config_error(open_dir):
    srv = BerthServer(open_dir / "srv", listen=("127.0.0.1:0",), server={"user": "root"})
    os.chmod(srv.workdir, 0o755)
    preexec = None
    if os.geteuid() == 0:
        nb = nobody()

        def preexec():
            os.setgroups([])
            os.setgid(nb.pw_gid)
            os.setuid(nb.pw_uid)
    r = subprocess.run([str(berth_bin()), "serve", "--config", str(srv.config_path)],
                       capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL,
                       preexec_fn=preexec, cwd=str(srv.workdir))
    assert r.returncode == 2, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("berth: %s: server.user: " % srv.config_path), lines[0]
    assert "not as root" in lines[0]
    assert "berth ready" not in r.stdout
    assert not srv.state_dir.exists()


@pytest.mark.parametrize("server,key,reason", [
    ({"user": "berth-no-such-user"}, "server.user", 'unknown user "berth-no-such-user"'),
    ({"user": "root", "group": "berth-no-such-group"}, "server.group",
     'unknown group "berth-no-such-group"'),
])
def test_unknown_user_or_group_is_one_line(berth, tmp_path, server, key, reason):
    srv = BerthServer(tmp_path / "srv", listen=("127.0.0.1:0",), server=server)
    for args in (["check-config", str(srv.config_path)],
                 ["serve", "--config", str(srv.config_path)]):
        r = subprocess.run([str(berth), *args], capture_output=True, text=True, timeout=20,
                           stdin=subprocess.DEVNULL)
        assert r.returncode == 2, r
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, r.stderr
        assert ": %s: %s" % (key, reason) in lines[0]


# ------------------------------------------------------------------ SIGHUP

def test_reload_users_and_certificate_while_a_transfer_runs(start_server, tmp_path, payloads):
    pki = tmp_path / "pki"
    cert_a, key_a = make_cert_pair(pki, "A")
    cert_b, key_b = make_cert_pair(pki, "B")
    live_cert, live_key = pki / "live-cert.pem", pki / "live-key.pem"
    live_cert.write_bytes(cert_a.read_bytes())
    live_key.write_bytes(key_a.read_bytes())
    srv = start_server(listen=("127.0.0.1:0",), ftps=FTPS,
                       tls={"certificate": str(live_cert), "private_key": str(live_key)})
    der_a = ssl.PEM_cert_to_DER_cert(cert_a.read_text())
    der_b = ssl.PEM_cert_to_DER_cert(cert_b.read_text())
    assert srv.fingerprint == colon_fingerprint(der_a)
    big = payloads["100MiB"]
    big.copy_to(srv.home() / "big.bin")

    # A download over implicit FTPS that reads 4 MiB, then waits.
    old = srv.login_kind("implicit")
    conn = old.transfercmd("RETR big.bin")
    got = hashlib.sha256()
    received = 0
    while received < 4 * MiB:
        b = conn.recv(1 << 20)
        assert b
        got.update(b)
        received += len(b)

    # The configuration changes under it: alice's password, a new user, the certificate.
    carol_home = srv.home_root / "carol"
    carol_home.mkdir()
    text = srv.config_path.read_text()
    assert 'password = "s3cret-Alice"' in text
    text = text.replace('password = "s3cret-Alice"', 'password = "Alice-2nd"')
    text += '\n[[user]]\nname = "carol"\npassword = "carol-pw"\nhome = "%s"\n' % carol_home
    srv.config_path.write_text(text)
    live_key.write_bytes(key_b.read_bytes())
    live_cert.write_bytes(cert_b.read_bytes())
    reload(srv)
    assert "SIGHUP: reloaded" in srv.stderr_text(), srv.stderr_text()[-2000:]

    # New logins see the change; the running session is untouched.
    with pytest.raises(ftplib.error_perm, match="530"):
        srv.login("alice")
    quit_quietly(srv.login("alice", password="Alice-2nd"))
    quit_quietly(srv.login("carol", password="carol-pw"))
    quit_quietly(srv.login("bob"))
    assert tls_peer_cert("127.0.0.1", srv.ftps_port) == der_b
    assert tls_peer_cert(srv.host, srv.port, explicit=True) == der_b
    assert old.sock.getpeercert(binary_form=True) == der_a

    while True:
        b = conn.recv(1 << 20)
        if not b:
            break
        got.update(b)
        received += len(b)
    conn.close()
    assert old.voidresp().startswith("226")
    assert received == big.size
    assert got.hexdigest() == big.sha256
    # The old session still works with what it started with.
    assert old.voidcmd("NOOP").startswith("200")
    quit_quietly(old)


def test_reload_with_a_broken_config_keeps_the_running_one(start_server, berth):
    srv = start_server(listen=("127.0.0.1:0",))
    good = srv.config_path.read_text()
    srv.config_path.write_text(good + "\n[limits]\nmax_conections = 3\n")
    check = subprocess.run([str(berth), "check-config", str(srv.config_path)],
                           capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert check.returncode == 2
    line = check.stderr.strip()
    assert line.startswith("berth: ") and "\n" not in line
    reload(srv)
    err = srv.stderr_text()
    assert err.count(line[len("berth: "):]) == 1, err[-2000:]
    assert err.count("SIGHUP: keeping the running configuration") == 1
    assert "SIGHUP: reloaded" not in err
    # Still serving with the old configuration.
    quit_quietly(srv.login("alice"))
    # A fixed configuration is taken by the next SIGHUP.
    srv.config_path.write_text(good.replace('password = "s3cret-Alice"', 'password = "fixed"'))
    reload(srv)
    assert "SIGHUP: reloaded" in srv.stderr_text()
    quit_quietly(srv.login("alice", password="fixed"))


def test_reload_rebinds_a_changed_listen_address(start_server):
    srv = start_server(listen=("127.0.0.1:0",))
    idle = srv.login("bob")
    port = free_port("127.0.0.2")
    text = srv.config_path.read_text()
    assert 'listen = ["127.0.0.1:0"]' in text
    srv.config_path.write_text(text.replace('listen = ["127.0.0.1:0"]',
                                            'listen = ["127.0.0.2:%d"]' % port))
    reload(srv)
    wait_for(lambda: "ftp listening on 127.0.0.2:%d" % port in srv.stdout_lines, 5,
             "no new listener announced: %r" % srv.stdout_lines)
    f = ftplib.FTP(timeout=CTRL_TIMEOUT)
    f.connect("127.0.0.2", port)
    f.login("alice", srv.users["alice"]["password"])
    quit_quietly(f)
    expect_refused("127.0.0.1", srv.port)
    # A session accepted by the old listener goes on.
    assert idle.voidcmd("NOOP").startswith("200")

    # An address that can not be bound: one error line, the old listener stays.
    srv.config_path.write_text(text.replace('listen = ["127.0.0.1:0"]',
                                            'listen = ["192.0.2.1:2121"]'))
    reload(srv)
    err = srv.stderr_text()
    assert err.count("can not listen on 192.0.2.1:2121") == 1, err[-2000:]
    f = ftplib.FTP(timeout=CTRL_TIMEOUT)
    f.connect("127.0.0.2", port)
    f.login("alice", srv.users["alice"]["password"])
    quit_quietly(f)
    quit_quietly(idle)


def test_reload_keeps_connection_counts(start_server):
    srv = start_server(listen=("127.0.0.1:0",),
                       sections={"limits": {"max_connections_per_ip": 2}})
    held = [srv.connect(), srv.connect()]
    reload(srv)
    assert "SIGHUP: reloaded" in srv.stderr_text()
    with pytest.raises(ftplib.error_temp, match="421"):
        srv.connect()
    quit_quietly(held.pop())
    time.sleep(0.3)
    held.append(srv.connect())
    for h in held:
        quit_quietly(h)


def test_reload_takes_new_host_keys(start_server):
    pytest.importorskip("paramiko")
    srv = start_server(listen=("127.0.0.1:0",), sftp=SFTP)
    old_keys = {fp for _, fp in srv.ssh_host_keys}
    assert len(old_keys) == 3
    before = sftp_connect(srv)
    assert ssh_fingerprint(before.get_transport().get_remote_server_key()) in old_keys
    for f in (srv.state_dir / "ssh").iterdir():
        f.unlink()
    lines_before = len(srv.stdout_lines)
    reload(srv)
    new_keys = {line.split()[-1] for line in srv.stdout_lines[lines_before:]
                if line.startswith("ssh host key ")}
    assert len(new_keys) == 3 and not new_keys & old_keys, srv.stdout_lines
    after = sftp_connect(srv)
    try:
        assert ssh_fingerprint(after.get_transport().get_remote_server_key()) in new_keys
        # The session from before the reload still works.
        assert before.open_sftp().listdir(".") is not None
    finally:
        after.close()
        before.close()


# ------------------------------------------------------------------ SIGTERM

def test_sigterm_lets_a_running_upload_finish(start_server, payloads):
    srv = start_server(listen=("127.0.0.1:0",), shutdown_timeout=60)
    big = payloads["100MiB"]
    idle = srv.login("bob")
    up = srv.login("alice")
    up.voidcmd("TYPE I")
    conn = up.transfercmd("STOR big.bin")
    sent = [0]
    started = threading.Event()

    def send():
        # About 25 MiB/s: the upload is still running when SIGTERM comes.
        with open(big.path, "rb") as f:
            while True:
                b = f.read(MiB)
                if not b:
                    break
                conn.sendall(b)
                sent[0] += len(b)
                if sent[0] >= 8 * MiB:
                    started.set()
                time.sleep(0.04)
        conn.close()

    t = threading.Thread(target=send)
    t.start()
    assert started.wait(30)
    t0 = time.monotonic()
    os.kill(srv.proc.pid, signal.SIGTERM)
    # The idle session is told at once; nobody new gets in.
    with pytest.raises(ftplib.error_temp, match="421 Server shutting down"):
        idle.getresp()
    assert time.monotonic() - t0 < 5
    idle.close()
    expect_refused("127.0.0.1", srv.port)
    assert sent[0] < big.size, "the upload ended before SIGTERM: make it slower"
    t.join(60)
    assert up.voidresp().startswith("226")
    with pytest.raises(ftplib.error_temp, match="421"):
        up.getresp()
    up.close()
    assert srv.proc.wait(timeout=30) == 0
    assert sha256_file(srv.home() / "big.bin") == big.sha256


def upload_flowing(srv, min_bytes=1):
    """Waits until the upload in progress has written bytes into the home (its
    temporary file): the transfer is running, not still being set up."""
    home = srv.home()

    def written():
        return sum(p.stat().st_size for p in home.glob(".berth-upload-*")) >= min_bytes
    wait_for(written, 30, "the upload to write its first bytes")


def test_sigterm_stops_a_stalled_transfer_after_shutdown_timeout(start_server):
    srv = start_server(listen=("127.0.0.1:0",), shutdown_timeout=2)
    c = srv.login()
    c.voidcmd("TYPE I")
    conn = c.transfercmd("STOR stalled.bin")
    conn.sendall(b"x" * 65536)  # then nothing: stalled
    upload_flowing(srv)
    t0 = time.monotonic()
    os.kill(srv.proc.pid, signal.SIGTERM)
    assert srv.proc.wait(timeout=20) == 0
    assert time.monotonic() - t0 < 20
    assert "shutdown_timeout reached" in srv.stderr_text()
    conn.close()
    c.close()


def test_second_signal_stops_at_once(start_server):
    srv = start_server(listen=("127.0.0.1:0",), shutdown_timeout=600)
    c = srv.login()
    c.voidcmd("TYPE I")
    conn = c.transfercmd("STOR stalled.bin")
    conn.sendall(b"x" * 65536)
    upload_flowing(srv)
    os.kill(srv.proc.pid, signal.SIGTERM)
    time.sleep(0.5)
    assert srv.alive()
    os.kill(srv.proc.pid, signal.SIGINT)
    assert srv.proc.wait(timeout=10) == 0
    conn.close()
    c.close()


def test_sigterm_waits_for_open_sftp_files_only(start_server):
    pytest.importorskip("paramiko")
    srv = start_server(listen=("127.0.0.1:0",), sftp=SFTP, shutdown_timeout=60)
    idle = sftp_connect(srv, "bob")
    idle_sftp = idle.open_sftp()
    idle_sftp.listdir(".")
    busy = sftp_connect(srv)
    s = busy.open_sftp()
    f = s.open("upload.bin", "wb")
    f.write(b"a" * MiB)
    f.flush()
    os.kill(srv.proc.pid, signal.SIGTERM)
    # The idle session is closed; the one with an open file goes on.
    wait_for(lambda: idle_sftp.get_channel().closed or not idle.get_transport().is_active(), 10,
             "the idle SFTP session was not closed")
    time.sleep(0.5)
    assert srv.alive()
    f.write(b"b" * MiB)
    f.close()
    assert srv.proc.wait(timeout=20) == 0
    busy.close()
    idle.close()
    data = (srv.home() / "upload.bin").read_bytes()
    assert data == b"a" * MiB + b"b" * MiB


def test_sigint_without_sessions_stops_at_once(start_server):
    srv = start_server(listen=("127.0.0.1:0",))
    t0 = time.monotonic()
    os.kill(srv.proc.pid, signal.SIGINT)
    assert srv.proc.wait(timeout=10) == 0
    assert time.monotonic() - t0 < 5
