"""Hostile FTP and FTPS clients against the real server: slowloris on the
control connection, thousands of connections opened and dropped at once, a
downloader that never reads, and disconnects in the middle of uploads,
downloads and TLS handshakes.  After each attack the server must hold no
descriptor more than when it was idle, keep complete files intact, leave no
upload temporaries behind and go on serving others byte-exact."""

import contextlib
import fcntl
import io
import os
import resource
import secrets
import select
import socket
import ssl
import struct
import termios
import threading
import time

import pytest

from ftphelpers import (CTRL_TIMEOUT, MiB, client_context, cmd, fd_count, fd_targets,
                        parse_pasv, quit_quietly, read_raw_reply, read_reply, rss_kib,
                        settled_fd_count, wait_until)

FTPS = {"listen": ["127.0.0.1:0"], "active_data_port": 0}
UPLOAD_PREFIX = ".berth-upload-"
# Long enough that a descriptor coming back proves the server noticed the
# client leave, not that a timer fired.
NEVER = 600


# ------------------------------------------------------------------ process probes



def accepted_by(pid, sock):
    """Whether process `pid` has accepted the IPv4 connection of client
    socket `sock` (holds the descriptor of its end, not just a queued one)."""
    here, there = sock.getsockname()[1], sock.getpeername()[1]
    inodes = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if int(local.split(":")[1], 16) == there and int(remote.split(":")[1], 16) == here:
                inodes.add("socket:[%s]" % fields[9])
    return bool(inodes.intersection(fd_targets(pid)))


def unread_bytes(sock):
    """Bytes waiting in `sock`'s receive queue."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0" * 4))[0]





def assert_fds_return(srv, want, deadline=60):
    """berth's descriptors come back to `want` within `deadline` seconds."""
    pid = srv.proc.pid
    ok = wait_until(lambda: fd_count(pid) == want, deadline)
    assert ok, "berth holds %d descriptors, %d expected:\n%s" % (
        fd_count(pid), want, "\n".join(fd_targets(pid)))


def upload_temporaries(srv, user="alice"):
    return sorted(p.name for p in srv.home(user).rglob(UPLOAD_PREFIX + "*"))


# ------------------------------------------------------------------ client helpers

def rst_close(sock):
    """Close with SO_LINGER 0: the peer gets a RST, not a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def rst_close_control(c):
    """Reset the control connection of ftplib client `c` (its reply file
    holds the socket open: close both)."""
    try:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    c.file.close()
    c.sock.close()


def client_hello(host="127.0.0.1"):
    """The bytes of a real TLS ClientHello (never sent by the ssl module itself)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_context().wrap_bio(incoming, outgoing, server_hostname=host)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    assert hello[:1] == b"\x16" and len(hello) > 100, hello[:16]
    return hello


def assert_serves(srv, kind="plain", size=300_000):
    """A fresh login of `kind` uploads and downloads a file byte-exact."""
    assert srv.alive(), srv.stderr_text()[-2000:]
    payload = os.urandom(size)
    name = "fresh-%s.bin" % secrets.token_hex(4)
    c = srv.login_kind(kind)
    try:
        assert c.storbinary("STOR " + name, io.BytesIO(payload)).startswith("226")
        got = bytearray()
        assert c.retrbinary("RETR " + name, got.extend).startswith("226")
        assert bytes(got) == payload, "download of %s differs (%d bytes)" % (name, len(got))
    finally:
        quit_quietly(c)
    assert (srv.home() / name).read_bytes() == payload
    (srv.home() / name).unlink()


def idle_baseline(srv, kinds=("plain",)):
    """Descriptor count of the idle server after each kind has logged in and
    transferred once (whatever is made on first use exists by then)."""
    for kind in kinds:
        assert_serves(srv, kind, size=1000)
    return settled_fd_count(srv.proc.pid)


def open_pasv(c, rcvbuf=None):
    """PASV on client `c`; returns a connected data socket (clear text),
    optionally with a small receive buffer set before connecting."""
    code, text = cmd(c, "PASV")
    assert code == 227, text
    _, port = parse_pasv(text)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(CTRL_TIMEOUT)
    s.connect((c.sock.getpeername()[0], port))
    return s


def start_transfer(c, command, rcvbuf=None):
    """PASV + `command` on client `c`; returns the data socket after the 150,
    its TLS handshake done when data is protected (resuming the control
    connection's session)."""
    s = open_pasv(c, rcvbuf)
    try:
        code, text = cmd(c, command)
        assert code == 150, "%s -> %s" % (command, text)
        if c.kind != "plain":
            s = c.context.wrap_socket(s, server_hostname=c.host, session=c.sock.session)
    except BaseException:
        s.close()
        raise
    return s


def dribble(sock, pattern, interval=1.0, limit=25.0):
    """Send `pattern` cycled, one byte every `interval` s, until the server
    closes the connection or `limit` s passed.  Returns (closed, seconds,
    bytes sent, bytes received)."""
    t0 = time.monotonic()
    got = b""
    sent = 0
    next_send = t0
    while time.monotonic() - t0 < limit:
        r, _, _ = select.select([sock], [], [], max(0.0, next_send - time.monotonic()))
        if r:
            try:
                b = sock.recv(4096)
            except OSError:
                return True, time.monotonic() - t0, sent, got
            if not b:
                return True, time.monotonic() - t0, sent, got
            got += b
            continue
        try:
            sock.send(pattern[sent % len(pattern):][:1])
        except OSError:
            return True, time.monotonic() - t0, sent, got
        sent += 1
        next_send += interval
    return False, time.monotonic() - t0, sent, got


def reply_codes(data):
    return [line[:3] for line in data.decode("utf-8", "replace").splitlines() if line[3:4] == " "]


# ------------------------------------------------------------------ 1. slowloris

def test_slowloris_control_connections_are_cut_off(start_server):
    """Clients that dribble one byte a second are cut off by the login
    timeout (counted from connect: neither half a line nor whole commands
    reset it) or, logged in, by the idle timeout (half a command does not
    reset it), while another client logs in and transfers."""
    srv = start_server(login_timeout=3, idle_timeout=3)
    results = {}

    def attack(name, sock, pattern, interval):
        results[name] = dribble(sock, pattern, interval)

    socks = {}
    for name in ("half-line", "whole-lines"):
        s = socket.create_connection((srv.host, srv.port), CTRL_TIMEOUT)
        assert read_raw_reply(s)[0] == 220
        socks[name] = s
    logged_in = srv.login_kind("plain")
    socks["logged-in"] = logged_in.sock
    # whole lines come faster: a NOOP every 1.5 s, answered, before the login timeout
    patterns = {"half-line": (b"USER alice", 1.0), "whole-lines": (b"NOOP\r\n", 0.25),
                "logged-in": (b"NOOP", 1.0)}
    threads = [threading.Thread(target=attack, args=(n, socks[n]) + patterns[n])
               for n in socks]
    for t in threads:
        t.start()
    try:
        # Meanwhile normal clients are served, one after another, all along.
        served = 0
        while any(t.is_alive() for t in threads):
            assert_serves(srv, size=100_000)
            served += 1
        assert served >= 2
    finally:
        for t in threads:
            t.join()
        for s in socks.values():
            s.close()
    for name, (closed, seconds, sent, got) in results.items():
        assert closed, "%s dribbler still connected after %.0fs (%d bytes sent): the " \
            "timeout is reset by its bytes" % (name, seconds, sent)
        assert seconds >= 1.0, "%s dribbler cut off after only %.2fs" % (name, seconds)
        codes = reply_codes(got)
        assert codes and codes[-1] == "421", "%s: no 421 before the close: %r" % (name, got)
        assert set(codes) <= {"200", "421"}, "%s got %r" % (name, got)
    # whole NOOP lines were answered, but did not extend the login timeout
    assert "200" in reply_codes(results["whole-lines"][3])
    assert srv.alive()


def test_client_that_never_reads_replies_is_cut_off(start_server):
    """A logged-in client pipelines commands with long replies and never
    reads them: once berth can not write, the idle timeout still ends the
    session (a reply that can not be sent is no activity)."""
    srv = start_server(idle_timeout=3)
    many = srv.home() / "many"
    many.mkdir()
    for i in range(1000):
        (many / ("%04d-" % i + "x" * 120)).touch()  # STAT many: ~190 KB of reply
    baseline = idle_baseline(srv)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(CTRL_TIMEOUT)
    s.connect((srv.host, srv.port))
    try:
        assert read_raw_reply(s)[0] == 220
        s.sendall(b"USER alice\r\n")
        assert read_raw_reply(s)[0] == 331
        s.sendall(b"PASS " + srv.users["alice"]["password"].encode() + b"\r\n")
        assert read_raw_reply(s)[0] == 230
        # as many commands as the connection takes, never reading a reply
        s.setblocking(False)
        sent = 0
        try:
            while sent < 64 * MiB:
                sent += s.send(b"STAT many\r\n" * 100)
        except BlockingIOError:
            pass
        assert sent < 64 * MiB, "berth read 64 MiB of commands without its replies leaving"
        assert_serves(srv)
        assert_fds_return(srv, baseline)
    finally:
        s.close()
    assert_serves(srv)


# ------------------------------------------------------------------ 2. connection floods

def _raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        ceiling = want if hard == resource.RLIM_INFINITY else min(hard, want)
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < want:
        pytest.skip("RLIMIT_NOFILE hard limit %d is too low for this test" % hard)


def _open_many(host, port, count, batch=250):
    socks = []
    try:
        for start in range(0, count, batch):
            for _ in range(min(batch, count - start)):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.settimeout(60)
                s.connect((host, port))
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def test_5000_connections_dropped_at_once(start_server):
    """5,000 connections to the FTP port, all open at the same time, then
    dropped: a third reset, a third closed after the greeting, a third
    closed in the middle of a command line.  berth gives every descriptor
    back and a fresh client transfers byte-exact."""
    count = 5000
    _raise_nofile(count + 1000)
    srv = start_server(login_timeout=NEVER, idle_timeout=NEVER)
    pid = srv.proc.pid
    baseline = idle_baseline(srv)
    socks = _open_many(srv.host, srv.port, count)
    try:
        # all of them open on the server's side at once
        ok = wait_until(lambda: fd_count(pid) >= baseline + count, 60)
        assert ok, "only %d of %d connections accepted" % (fd_count(pid) - baseline, count)
        for i, s in enumerate(socks):
            how = i % 3
            if how == 1:
                code, text = read_raw_reply(s)
                assert code == 220, text
            elif how == 2:
                s.sendall(b"USER ali")
                if i % 2:
                    rst_close(s)
                    continue
            else:
                rst_close(s)
                continue
            s.close()
    finally:
        for s in socks:
            s.close()
    assert_fds_return(srv, baseline)
    assert_serves(srv)


def test_500_implicit_ftps_connections_dropped_mid_handshake(start_server):
    """500 connections to the implicit FTPS port dropped before the TLS
    handshake, after half a ClientHello, or after a whole ClientHello with
    the server's answer read; by FIN or by RST."""
    count = 500
    _raise_nofile(count + 1000)
    srv = start_server(ftps=FTPS, login_timeout=NEVER, idle_timeout=NEVER,
                       tls={"handshake_timeout": NEVER})
    pid = srv.proc.pid
    baseline = idle_baseline(srv, kinds=("plain", "implicit"))
    hello = client_hello()
    socks = _open_many(srv.host, srv.ftps_port, count)
    try:
        ok = wait_until(lambda: fd_count(pid) >= baseline + count, 60)
        assert ok, "only %d of %d connections accepted" % (fd_count(pid) - baseline, count)
        for i, s in enumerate(socks):
            stage = i % 3
            if stage == 1:
                s.sendall(hello[:len(hello) // 2])
            elif stage == 2:
                s.sendall(hello)
                first = s.recv(5)
                assert first[:1] == b"\x16", "no TLS handshake record: %r" % first
        for i, s in enumerate(socks):
            if i % 2:
                rst_close(s)
            else:
                s.close()
    finally:
        for s in socks:
            s.close()
    assert_fds_return(srv, baseline)
    assert_serves(srv, "implicit")
    assert_serves(srv, "plain")


# ------------------------------------------------------------------ 3. backpressure

@contextlib.contextmanager
def stalled_download(srv, kind="plain"):
    """A logged-in client of `kind` whose RETR of a 256 MiB file goes to a data
    socket with a 4 KiB receive buffer that is never read.  Yields (client,
    data socket, descriptor count with the session, VmRSS before it); on the
    way out checks that berth is back to its idle descriptors and serving."""
    pid = srv.proc.pid
    with open(srv.home() / "big.bin", "wb") as f:
        f.truncate(256 * MiB)
    baseline = idle_baseline(srv, kinds=tuple(dict.fromkeys(("plain", kind))))
    rss_before = rss_kib(pid)
    c = srv.login_kind(kind)
    with_session = settled_fd_count(pid)  # a logged-in session: its control connection and home
    data = None
    try:
        data = start_transfer(c, "RETR big.bin", rcvbuf=4096)
        yield c, data, with_session, rss_before
    finally:
        if data is not None:
            data.close()
        quit_quietly(c)
    assert_fds_return(srv, baseline)
    assert_serves(srv, kind)


@pytest.mark.parametrize("kind", ["plain", "explicit"])
def test_never_reading_downloader(start_server, kind):
    """A RETR of 256 MiB to a data socket with a small receive buffer that is
    never read: berth's memory stays flat (it waits for the socket, it does
    not buffer the file), others are served, and the stall ends the
    transfer with 426 after data_timeout, closing everything it opened."""
    srv = start_server(ftps=FTPS, data_timeout=3, idle_timeout=NEVER)
    pid = srv.proc.pid
    with stalled_download(srv, kind) as (c, data, with_session, rss_before):
        peak = rss_before
        end = time.monotonic() + 2.5
        while time.monotonic() < end:
            peak = max(peak, rss_kib(pid))
            time.sleep(0.1)
        assert_serves(srv, kind)
        peak = max(peak, rss_kib(pid))
        assert peak - rss_before < 32 * 1024, \
            "berth grew by %d KiB while a client did not read" % (peak - rss_before)
        c.sock.settimeout(60)
        code, text = read_reply(c)
        assert code == 426, text
        # the data connection and the file are closed; the session stays
        assert_fds_return(srv, with_session)
        assert cmd(c, "NOOP")[0] == 200


def test_never_reading_downloader_aborted(start_server):
    """The same stalled download ended by ABOR instead of the stall timer."""
    srv = start_server(idle_timeout=NEVER, data_timeout=NEVER)
    with stalled_download(srv) as (c, data, with_session, _):
        # data has arrived; with 256 MiB to go berth soon waits on the full socket
        assert wait_until(lambda: unread_bytes(data) > 0, 30)
        c.sock.sendall(b"ABOR\r\n")
        c.sock.settimeout(30)
        code, text = read_reply(c)
        assert code == 426, text
        code, text = read_reply(c)
        assert code == 226, text
        assert_fds_return(srv, with_session)
        assert cmd(c, "NOOP")[0] == 200


# ------------------------------------------------------------------ 4. disconnects mid-transfer

CUTS = ["data", "control", "both"]


def _cut(c, data, cut):
    if cut in ("data", "both"):
        rst_close(data)
    if cut in ("control", "both"):
        rst_close_control(c)


def _after_cut(srv, c, cut):
    """A cut data connection fails the transfer and the session goes on."""
    if cut != "data":
        return
    c.sock.settimeout(30)
    code, text = read_reply(c)
    assert 400 <= code < 500, "transfer on a reset data connection ended with %r" % text
    assert cmd(c, "NOOP")[0] == 200


@pytest.mark.parametrize("kind", ["plain", "explicit"])
def test_disconnects_mid_upload_keep_the_old_file(start_server, kind):
    """A STOR replacing a complete file is cut by resetting the data
    connection, the control connection or both: the old file is unchanged,
    the temporary is removed, every descriptor is given back."""
    srv = start_server(ftps=FTPS, idle_timeout=NEVER, data_timeout=NEVER)
    target = srv.home() / "target.bin"
    original = os.urandom(MiB)
    target.write_bytes(original)
    baseline = idle_baseline(srv, kinds=("plain", kind))
    for cut in CUTS:
        c = srv.login_kind(kind)
        data = None
        try:
            data = start_transfer(c, "STOR target.bin")
            data.sendall(os.urandom(512 * 1024))
            # mid-upload: berth has written part of it to its temporary
            assert wait_until(lambda: any(
                (srv.home() / n).stat().st_size > 0 for n in upload_temporaries(srv)), 30), \
                "no upload temporary with data"
            # "control": the data connection stays open until the temporary is
            # gone, so berth must notice the control connection alone
            _cut(c, data, cut)
            _after_cut(srv, c, cut)
            assert wait_until(lambda: not upload_temporaries(srv), 30), \
                "%s cut left %s" % (cut, upload_temporaries(srv))
        finally:
            if data is not None:
                data.close()
            quit_quietly(c)
        assert target.read_bytes() == original, "%s cut changed the old file" % cut
        assert_fds_return(srv, baseline)
    assert_serves(srv, kind)
    assert target.read_bytes() == original


@pytest.mark.parametrize("kind", ["plain", "explicit"])
def test_disconnects_mid_download(start_server, kind):
    """A RETR cut by resetting the data connection, the control connection
    or both: the session (if its control connection lives) goes on, the file
    is untouched, every descriptor is given back."""
    srv = start_server(ftps=FTPS, idle_timeout=NEVER, data_timeout=NEVER)
    big = srv.home() / "big.bin"
    with open(big, "wb") as f:
        f.truncate(64 * MiB)
    baseline = idle_baseline(srv, kinds=("plain", kind))
    for cut in CUTS:
        c = srv.login_kind(kind)
        data = None
        try:
            data = start_transfer(c, "RETR big.bin")
            got = 0
            while got < MiB:
                b = data.recv(65536)
                assert b, "download ended early"
                got += len(b)
            _cut(c, data, cut)
            if cut == "control":
                # the client keeps the data connection open and stops reading:
                # berth must notice the control connection alone
                assert_fds_return(srv, baseline)
            _after_cut(srv, c, cut)
        finally:
            if data is not None:
                data.close()
            quit_quietly(c)
        assert_fds_return(srv, baseline)
    assert big.stat().st_size == 64 * MiB
    assert_serves(srv, kind)


# ------------------------------------------------------------------ 4. disconnects mid-handshake

HOW = ["fin", "rst"]


def _close(sock, how):
    if how == "rst":
        rst_close(sock)
    else:
        sock.close()


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("port", ["explicit", "implicit"])
def test_control_handshake_cut(start_server, port, how):
    """Half a ClientHello, then the client leaves (after AUTH TLS, or on the
    implicit port): berth notices without waiting for handshake_timeout."""
    srv = start_server(ftps=FTPS, login_timeout=NEVER, idle_timeout=NEVER,
                       tls={"handshake_timeout": NEVER})
    baseline = idle_baseline(srv, kinds=("plain", "explicit", "implicit"))
    hello = client_hello()
    socks = []
    for _ in range(20):
        if port == "explicit":
            s = socket.create_connection((srv.host, srv.port), CTRL_TIMEOUT)
            assert read_raw_reply(s)[0] == 220
            s.sendall(b"AUTH TLS\r\n")
            assert read_raw_reply(s)[0] == 234
        else:
            s = socket.create_connection((srv.host, srv.ftps_port), CTRL_TIMEOUT)
        s.sendall(hello[:len(hello) // 2])
        socks.append(s)
    # all 20 are waiting for the rest of their handshake
    assert wait_until(lambda: fd_count(srv.proc.pid) >= baseline + 20, 30)
    for s in socks:
        _close(s, how)
    assert_fds_return(srv, baseline)
    for kind in ("plain", "explicit", "implicit"):
        assert_serves(srv, kind)


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("kind", ["explicit", "implicit"])
def test_data_handshake_cut(start_server, kind, how):
    """Under PROT P the data connection's TLS handshake is cut after half a
    ClientHello, or after a whole one and the server's first answer (RETR,
    then STOR over a complete file): 425, the session goes on, the old file
    is unchanged, no temporary is left, every descriptor is given back."""
    srv = start_server(ftps=FTPS, idle_timeout=NEVER, data_timeout=NEVER,
                       tls={"handshake_timeout": NEVER})
    pid = srv.proc.pid
    target = srv.home() / "target.bin"
    original = os.urandom(100_000)
    target.write_bytes(original)
    baseline = idle_baseline(srv, kinds=("plain", kind))
    hello = client_hello()
    c = srv.login_kind(kind)
    with_session = settled_fd_count(pid)
    try:
        for stage in ("half-hello", "server-hello"):
            for command in ("RETR target.bin", "STOR target.bin"):
                data = open_pasv(c)
                try:
                    code, text = cmd(c, command)
                    assert code == 150, text
                    if stage == "half-hello":
                        data.sendall(hello[:len(hello) // 2])
                        # mid-handshake: berth has accepted the connection (a reset
                        # still in the listen queue is another case: a stranger)
                        assert wait_until(lambda: accepted_by(pid, data), 30)
                    else:
                        data.sendall(hello)
                        first = data.recv(5)
                        assert first[:1] == b"\x16", "no TLS handshake record: %r" % first
                    _close(data, how)
                finally:
                    data.close()
                c.sock.settimeout(30)
                code, text = read_reply(c)
                assert code == 425, "%s, data handshake cut after %s -> %r" % (
                    command, stage, text)
                assert cmd(c, "NOOP")[0] == 200
                assert wait_until(lambda: not upload_temporaries(srv), 30), \
                    upload_temporaries(srv)
                assert_fds_return(srv, with_session)
        got = bytearray()
        assert c.retrbinary("RETR target.bin", got.extend).startswith("226")
        assert bytes(got) == original
    finally:
        quit_quietly(c)
    assert target.read_bytes() == original
    assert_fds_return(srv, baseline)
    assert_serves(srv, kind)
