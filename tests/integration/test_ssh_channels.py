"""Session channels on one SSH connection. Issue 17: rclone, which opens a
second session channel on a connection that runs SFTP, got no answer to it
1 run in 20 and hung until the idle timeout ("unexpected packet in response
to channel open"). Every channel open is answered at once. Issue 18: a
connection serves several session channels at once (paramiko's second
open_sftp(), OpenSSH's ControlMaster, rclone's command channel), each its
own SFTP session, up to [sftp] max_channels_per_connection; one more is
refused. Transfers are checked byte for byte. (test_sftp_clients.py runs
rclone's own second channel.)"""

import os
import shutil
import socket
import subprocess
import tempfile
import threading

import pytest

from ftphelpers import SSH_TIMEOUT, ssh_password_client, wait_until
from test_sftp import SSH_OPTS, keygen

import paramiko  # a test dependency (scripts/install-deps.sh --test): its absence fails

# SSH_OPEN_ADMINISTRATIVELY_PROHIBITED (RFC 4254 5.1), libssh's refusal.
PROHIBITED = 1


@pytest.fixture
def srv(start_server):
    return start_server(listen=("127.0.0.1:0",), sftp={"listen": ["127.0.0.1:0"]})


def sftp_on(transport):
    """An SFTP client on a new session channel of `transport`. A channel open
    that gets no answer fails after SSH_TIMEOUT (paramiko's SSHException); a
    refusal raises paramiko.ChannelException."""
    chan = transport.open_session(timeout=SSH_TIMEOUT)
    chan.settimeout(SSH_TIMEOUT)
    chan.invoke_subsystem("sftp")
    return paramiko.SFTPClient(chan)


def roundtrip(sftp, home, name, size):
    data = os.urandom(size)
    with sftp.open(name, "wb") as f:
        f.write(data)
    with sftp.open(name, "rb") as f:
        back = f.read()
    assert back == data
    assert (home / name).read_bytes() == data


def test_session_channels_one_after_another(srv):
    c = ssh_password_client(srv)
    try:
        t = c.get_transport()
        for i in range(20):
            s = sftp_on(t)
            roundtrip(s, srv.home("alice"), "row-%d.bin" % i, 100000 + 4099 * i)
            s.close()
    finally:
        c.close()


@pytest.mark.parametrize("ignored", [4000, 6000, 10000, 16000])
def test_channel_open_behind_a_burst_is_answered(srv, ignored):
    """The race rclone lost, made certain: with an SFTP channel running and
    idle, the client sends `ignored` bytes of SSH_MSG_IGNORE and then a
    channel open, corked into one burst. libssh read the open in the
    driver's last read of the burst, and the request waited in its queue
    for the next ssh_message_get(), after the next packet that never came:
    no answer until the idle timeout. It is answered at once now (and,
    since issue 18, accepted: the new channel serves SFTP beside the first)."""
    sock = socket.create_connection(("127.0.0.1", srv.sftp_port), timeout=SSH_TIMEOUT)
    t = paramiko.Transport(sock)
    try:
        t.connect(username="alice", password=srv.users["alice"]["password"])
        s = paramiko.SFTPClient.from_transport(t)
        s.get_channel().settimeout(SSH_TIMEOUT)
        assert s.listdir(".") == []
        # Linux sends what a corked socket holds after 200 ms: one burst.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        for _ in range(ignored // 1000):
            t.send_ignore(1000)
        chan = t.open_session(timeout=SSH_TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
        chan.settimeout(SSH_TIMEOUT)
        chan.invoke_subsystem("sftp")
        second = paramiko.SFTPClient(chan)
        roundtrip(s, srv.home("alice"), "after.bin", 200000)
        roundtrip(second, srv.home("alice"), "second.bin", 200001)
        second.close()
    finally:
        t.close()


def open_many(t, n):
    """n SFTP clients on session channels of transport t, opened at once."""
    return [sftp_on(t) for _ in range(n)]


def test_channels_opened_beside_a_running_one_are_answered(srv):
    """While one channel transfers, 20 more opens are each answered at once:
    accepted up to the limit of 10 channels (9 beside the busy one), the
    rest refused; every accepted channel transfers byte for byte, and the
    busy one's transfers stay byte-exact."""
    c = ssh_password_client(srv)
    try:
        t = c.get_transport()
        s = sftp_on(t)
        errors = []

        def transfer():
            try:
                for i in range(10):
                    roundtrip(s, srv.home("alice"), "busy-%d.bin" % i, 300000 + i)
            except Exception as e:  # reported below
                errors.append(e)

        th = threading.Thread(target=transfer)
        th.start()
        accepted, refusals = [], []
        for _ in range(20):
            try:
                accepted.append(sftp_on(t))
            except paramiko.ChannelException as e:
                refusals.append(e.code)
        th.join(SSH_TIMEOUT * 4)
        assert not th.is_alive() and not errors, errors
        assert len(accepted) == 9 and refusals == [PROHIBITED] * 11
        for i, a in enumerate(accepted):
            roundtrip(a, srv.home("alice"), "beside-%d.bin" % i, 70000 + i)
            a.close()
        s.close()
        s = sftp_on(t)
        roundtrip(s, srv.home("alice"), "next.bin", 123457)
        s.close()
    finally:
        c.close()


def test_channels_opened_at_once_are_each_answered(srv):
    """Eight threads open a session channel on one connection at once, 5
    times over: each open is accepted, and every channel transfers byte for
    byte while the others do."""
    c = ssh_password_client(srv)
    try:
        t = c.get_transport()
        for rnd in range(5):
            results = {}

            def one(k):
                try:
                    s = sftp_on(t)
                except Exception as e:  # refused, no answer, anything else: a failure
                    results[k] = ("error", repr(e))
                    return
                try:
                    roundtrip(s, srv.home("alice"), "once-%d-%d.bin" % (rnd, k), 65536 + k)
                    results[k] = ("accepted", None)
                except Exception as e:
                    results[k] = ("error", repr(e))
                finally:
                    s.close()

            threads = [threading.Thread(target=one, args=(k,)) for k in range(8)]
            for th in threads:
                th.start()
            for th in threads:
                th.join(SSH_TIMEOUT * 4)
            assert not any(th.is_alive() for th in threads)
            assert results == {k: ("accepted", None) for k in range(8)}, results
    finally:
        c.close()


def test_two_sftp_channels_transfer_at_once(srv):
    """paramiko's second open_sftp() on one Transport: both channels upload
    and download different files at the same time, byte for byte."""
    c = ssh_password_client(srv)
    try:
        first = c.open_sftp()
        second = c.open_sftp()
        for s in (first, second):
            s.get_channel().settimeout(SSH_TIMEOUT)
        home = srv.home("alice")
        payloads = {"one.bin": os.urandom(3 * 1024 * 1024 + 7),
                    "two.bin": os.urandom(2 * 1024 * 1024 + 11)}
        errors = []
        start = threading.Barrier(2)

        def work(s, name):
            try:
                start.wait(SSH_TIMEOUT)
                for _ in range(3):
                    with s.open(name, "wb") as f:
                        f.write(payloads[name])
                    with s.open(name, "rb") as f:
                        assert f.read() == payloads[name]
            except Exception as e:  # reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=work, args=(first, "one.bin")),
                   threading.Thread(target=work, args=(second, "two.bin"))]
        for th in threads:
            th.start()
        for th in threads:
            th.join(SSH_TIMEOUT * 4)
        assert not any(th.is_alive() for th in threads) and not errors, errors
        for name, data in payloads.items():
            assert (home / name).read_bytes() == data
        # both still serve after the other ends
        first.close()
        assert sorted(second.listdir(".")) == ["one.bin", "two.bin"]
        second.close()
    finally:
        c.close()


@pytest.fixture
def limited(start_server):
    return start_server(listen=("127.0.0.1:0",),
                        sftp={"listen": ["127.0.0.1:0"], "max_channels_per_connection": 3})


def test_channel_limit(limited):
    """With max_channels_per_connection = 3, a fourth channel is refused
    with a channel-open failure while the three keep working; once one is
    closed, a new one is accepted."""
    c = ssh_password_client(limited)
    try:
        t = c.get_transport()
        three = open_many(t, 3)
        with pytest.raises(paramiko.ChannelException) as e:
            t.open_session(timeout=SSH_TIMEOUT)
        assert e.value.code == PROHIBITED
        for i, s in enumerate(three):
            roundtrip(s, limited.home("alice"), "limit-%d.bin" % i, 100000 + i)
        three[0].close()
        again = sftp_on(t)
        roundtrip(again, limited.home("alice"), "again.bin", 54321)
        for s in three[1:] + [again]:
            s.close()
    finally:
        c.close()


def test_openssh_control_master_runs_two_sftp_at_once(start_server, tmp_path):
    """OpenSSH's connection sharing: a master connection (ssh -M -S sock -o
    ControlPersist) and two sftp runs over it, the first still open while
    the second transfers, both byte for byte. The server sees one
    connection."""
    key, pub = keygen(tmp_path / "key")
    srv = start_server(listen=("127.0.0.1:0",), sftp={"listen": ["127.0.0.1:0"]},
                       authorized_keys={"alice": [pub]})
    home = srv.home("alice")
    # a short folder: a unix socket's path holds at most 107 bytes
    sock_dir = tempfile.mkdtemp(prefix="berth-cm-")
    sock = os.path.join(sock_dir, "s")
    port = str(srv.sftp_port)
    base = ["-i", str(key)] + SSH_OPTS + ["-o", "ControlPath=" + sock]
    master = subprocess.run(["ssh", "-M", "-o", "ControlPersist=120", "-f", "-N", "-p", port] +
                            base + ["alice@127.0.0.1"], capture_output=True, text=True,
                            timeout=SSH_TIMEOUT, stdin=subprocess.DEVNULL)
    assert master.returncode == 0, master.stderr
    sftp = ["sftp", "-o", "ControlMaster=no", "-P", port] + base + ["alice@127.0.0.1"]
    down = os.urandom(2 * 1024 * 1024 + 3)
    (home / "down.bin").write_bytes(down)
    up1, up2 = os.urandom(1024 * 1024 + 1), os.urandom(1500000)
    (tmp_path / "up1.bin").write_bytes(up1)
    (tmp_path / "up2.bin").write_bytes(up2)
    first = None
    try:
        # The first run opens its channel and waits for commands on stdin.
        first = subprocess.Popen(sftp[:1] + ["-b", "-"] + sftp[1:], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 cwd=str(tmp_path))
        first.stdin.write(b"mkdir first-ready\n")
        first.stdin.flush()
        assert wait_until(lambda: (home / "first-ready").is_dir(), SSH_TIMEOUT)
        batch = tmp_path / "second.txt"
        batch.write_text("put up2.bin\nget down.bin down2.bin\n")
        second = subprocess.run(sftp[:1] + ["-b", str(batch)] + sftp[1:], capture_output=True,
                                text=True, timeout=SSH_TIMEOUT * 2, stdin=subprocess.DEVNULL,
                                cwd=str(tmp_path))
        assert second.returncode == 0, second.stderr
        out, err = first.communicate(b"put up1.bin\nget down.bin down1.bin\n",
                                     timeout=SSH_TIMEOUT * 2)
        assert first.returncode == 0, err
    finally:
        if first is not None and first.poll() is None:
            first.kill()
            first.wait()
        subprocess.run(["ssh", "-O", "exit"] + base + ["-p", port, "alice@127.0.0.1"],
                       capture_output=True, timeout=SSH_TIMEOUT, stdin=subprocess.DEVNULL)
        shutil.rmtree(sock_dir, ignore_errors=True)
    assert (home / "up1.bin").read_bytes() == up1
    assert (home / "up2.bin").read_bytes() == up2
    assert (tmp_path / "down1.bin").read_bytes() == down
    assert (tmp_path / "down2.bin").read_bytes() == down
    connects = [line for line in srv.stderr_text().splitlines() if "sftp: connect from" in line]
    assert len(connects) == 1, connects


@pytest.mark.parametrize("value", ["0", "1001", '"ten"', "-1"])
def test_bad_channel_limit_is_one_line(berth, tmp_path, value):
    """A bad [sftp] max_channels_per_connection: one line naming the file,
    line and key, exit status 2, and no server."""
    from test_config import _base, _render, run
    cfg = tmp_path / "bad.toml"
    text = _render(_base(tmp_path),
                   '\n[sftp]\nlisten = ["127.0.0.1:0"]\nmax_channels_per_connection = %s\n' % value)
    cfg.write_text(text)
    lineno = text.splitlines().index("max_channels_per_connection = %s" % value) + 1
    for args in (["check-config", str(cfg)], ["serve", "--config", str(cfg)]):
        r = run(berth, *args)
        assert r.returncode == 2, r.stderr
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        assert len(lines) == 1, r.stderr
        assert cfg.name in lines[0] and "sftp.max_channels_per_connection" in lines[0], lines
        assert ":%d" % lineno in lines[0] or " %d" % lineno in lines[0], lines
    good = tmp_path / "good.toml"
    good.write_text(text.replace("max_channels_per_connection = %s" % value,
                                 "max_channels_per_connection = 1000"))
    r = run(berth, "check-config", str(good))
    assert r.returncode == 0, r.stderr


# paramiko's prefetch thread fails when its channel is closed under it: expected.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_channels_closed_mid_request_are_freed(limited):
    """A client that closes its channel in the middle of a download or an
    upload, 30 times over on one connection: each channel's state goes with
    it (closed channels still ending count against twice the limit, so
    leftovers would refuse the opens that follow), and the connection then
    serves its full 3 channels."""
    home = limited.home("alice")
    (home / "big.bin").write_bytes(os.urandom(8 * 1024 * 1024))
    c = ssh_password_client(limited)
    try:
        t = c.get_transport()
        for i in range(30):
            s = sftp_on(t)
            if i % 2:
                f = s.open("big.bin", "rb")
                f.prefetch()  # many READs in flight
            else:
                f = s.open("up-%d.bin" % i, "wb")
                f.set_pipelined(True)
                f.write(os.urandom(1024 * 1024))
            s.get_channel().close()  # no CLOSE of the handle, no waiting
        three = open_many(t, 3)
        for k, s in enumerate(three):
            roundtrip(s, home, "after-%d.bin" % k, 200000 + k)
            s.close()
    finally:
        c.close()


def test_transfers_through_many_key_reexchanges(start_server, tmp_path):
    """OpenSSH re-exchanges keys every 256 KiB here, so the server's channel
    writes are refused again and again while a key exchange runs (libssh takes
    no channel data then): the transfers must go on each time, byte for byte,
    and the server must wait for the client's key exchange, not poll."""
    key, pub = keygen(tmp_path / "key")
    srv = start_server(listen=("127.0.0.1:0",), sftp={"listen": ["127.0.0.1:0"]},
                       authorized_keys={"alice": [pub]})
    data = os.urandom(24 * 1024 * 1024 + 5)
    (tmp_path / "up.bin").write_bytes(data)
    (srv.home("alice") / "down.bin").write_bytes(data[::-1])
    batch = tmp_path / "batch.txt"
    batch.write_text("put up.bin\nget down.bin\n")
    r = subprocess.run(["sftp", "-b", str(batch), "-i", str(key),
                        "-o", "RekeyLimit=256K"] + SSH_OPTS +
                       ["-P", str(srv.sftp_port), "alice@127.0.0.1"],
                       capture_output=True, text=True, timeout=SSH_TIMEOUT * 8,
                       stdin=subprocess.DEVNULL, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert (srv.home("alice") / "up.bin").read_bytes() == data
    assert (tmp_path / "down.bin").read_bytes() == data[::-1]
