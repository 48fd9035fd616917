"""Session channels on one SSH connection. Issue 17: rclone, which opens a
second session channel on a connection that runs SFTP, got no answer to it
1 run in 20 and hung until the idle timeout ("unexpected packet in response
to channel open"). Every channel open is answered at once: one session
channel at a time is accepted for the sftp subsystem, others are refused;
after a channel closes the client may open the next on the same connection.
Transfers are checked byte for byte. (test_sftp_clients.py runs rclone's
own second channel.)"""

import os
import socket
import threading

import pytest

from ftphelpers import SSH_TIMEOUT, ssh_password_client

paramiko = pytest.importorskip("paramiko")

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
    no answer until the idle timeout. It is refused at once now."""
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
        with pytest.raises(paramiko.ChannelException) as e:
            t.open_session(timeout=SSH_TIMEOUT)
        assert e.value.code == PROHIBITED
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
        roundtrip(s, srv.home("alice"), "after.bin", 200000)
    finally:
        t.close()


def test_channels_opened_beside_a_running_one_are_answered(srv):
    """While one channel transfers, each of 20 more opens is refused at once,
    and the transfers stay byte-exact; once the busy channel is closed the
    next open is accepted."""
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
        refusals = []
        for _ in range(20):
            with pytest.raises(paramiko.ChannelException) as e:
                t.open_session(timeout=SSH_TIMEOUT)
            refusals.append(e.value.code)
        th.join(SSH_TIMEOUT * 4)
        assert not th.is_alive() and not errors, errors
        assert refusals == [PROHIBITED] * 20
        s.close()
        s = sftp_on(t)
        roundtrip(s, srv.home("alice"), "next.bin", 123457)
        s.close()
    finally:
        c.close()


def test_channels_opened_at_once_are_each_answered(srv):
    """Eight threads open a session channel on one connection at once, 5
    times over: each open is answered (accepted, or refused while another
    runs), and every accepted one transfers byte for byte."""
    c = ssh_password_client(srv)
    try:
        t = c.get_transport()
        for rnd in range(5):
            results = {}

            def one(k):
                try:
                    s = sftp_on(t)
                except paramiko.ChannelException as e:
                    results[k] = ("refused", e.code)
                    return
                except paramiko.SSHException as e:
                    # paramiko keeps one refusal per transport: of two refused
                    # at once, one thread gets it and the other this message
                    if str(e) != "Unable to open channel.":
                        raise
                    results[k] = ("refused", PROHIBITED)
                    return
                except Exception as e:  # no answer, or anything else: a failure
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
            assert sorted(results) == list(range(8))
            assert all(r == ("refused", PROHIBITED) or r == ("accepted", None)
                       for r in results.values()), results
            assert any(r[0] == "accepted" for r in results.values()), results
    finally:
        c.close()
