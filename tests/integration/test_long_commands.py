"""Commands that hash or copy a range of a file (FTP HASH, SFTP check-file)
can each cost seconds of CPU. Issue 17: one HASH of a 10 GiB sparse file held
every session of its event loop for 15 s. With one event loop, another
session is answered while a long hash is still running, and a range over the
bound gets a clear refusal."""

import hashlib
import os
import select
import struct

import pytest

from ftphelpers import SSH_TIMEOUT, ftp_login, quit_quietly, sftp_login, wait_until

GiB = 1 << 30
MAX_HASH = 4 * GiB  # vfs::kMaxHashBytes
LONG_HASH = 2 * GiB  # SHA-512 of it: seconds of CPU
DEADLINE = 120


def cpu_ticks(pid):
    """The server's user + system CPU time, in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wait_busy(pid, since, ticks=30):
    """Waits until the server has spent `ticks` more CPU ticks than `since`:
    the hash sent has started (nothing else runs)."""
    assert wait_until(lambda: cpu_ticks(pid) >= since + ticks, DEADLINE), "the hash never started"


def readable(sock):
    return bool(select.select([sock], [], [], 0)[0])


@pytest.fixture
def one_loop(start_server):
    """berth with one event-loop thread, FTP and SFTP on it, and a sparse
    6 GiB file in alice's home."""
    srv = start_server(listen=("127.0.0.1:0",), server={"threads": 1},
                       sftp={"listen": ["127.0.0.1:0"]})
    with open(srv.home("alice") / "sparse.bin", "wb") as f:
        f.truncate(6 * GiB)
    (srv.home("alice") / "small.bin").write_bytes(os.urandom(1 << 20))
    return srv


def test_ftp_hash_leaves_the_loop_to_others(one_loop):
    srv = one_loop
    a, b = ftp_login(srv), ftp_login(srv)
    try:
        assert a.sendcmd("OPTS HASH SHA-512").startswith("200")
        # a range within the bound and its digest
        assert a.sendcmd("RANG 0 1048575").startswith("350")
        reply = a.sendcmd("HASH small.bin")
        digest = hashlib.sha512((srv.home("alice") / "small.bin").read_bytes()).hexdigest()
        assert reply == "213 SHA-512 0-1048575 %s small.bin" % digest

        assert a.sendcmd("RANG 0 %d" % (LONG_HASH - 1)).startswith("350")
        before = cpu_ticks(srv.proc.pid)
        a.putcmd("HASH sparse.bin")
        wait_busy(srv.proc.pid, before)
        # the other session is answered while the hash runs
        assert b.sendcmd("NOOP").startswith("200")
        assert b.sendcmd("PWD").startswith("257")
        assert not readable(a.sock), "HASH answered before the other session's NOOP"
        a.sock.settimeout(DEADLINE)
        reply = a.getresp()
        assert reply.startswith("213 SHA-512 0-%d " % (LONG_HASH - 1)), reply

        # over the bound: a clear refusal, at once
        assert a.sendcmd("RANG 1 0").startswith("350")
        with pytest.raises(Exception) as e:
            a.sendcmd("HASH sparse.bin")
        assert str(e.value).startswith("501 Range over 4 GiB"), str(e.value)
        assert a.sendcmd("NOOP").startswith("200")
    finally:
        quit_quietly(a)
        quit_quietly(b)


CMD_EXTENDED, CMD_EXTENDED_REPLY = 200, 201
import paramiko  # a test dependency (scripts/install-deps.sh --test): its absence fails
long = pytest.importorskip("paramiko.py3compat").long


def test_sftp_check_file_leaves_the_loop_to_others(one_loop):
    srv = one_loop
    a, b = sftp_login(srv), sftp_login(srv)
    try:
        a.get_channel().settimeout(DEADLINE)
        with a.open("small.bin", "rb") as f:
            digest = f.check("sha512", 0, 0, 0)
        assert digest == hashlib.sha512((srv.home("alice") / "small.bin").read_bytes()).digest()

        f = a.open("sparse.bin", "rb")
        before = cpu_ticks(srv.proc.pid)
        # SFTPFile.check's request, sent without waiting for its reply
        # (paramiko encodes its `long`s as uint64, ints as uint32)
        num = a._async_request(type(None), CMD_EXTENDED, "check-file", f.handle, "sha512",
                               long(0), long(LONG_HASH), 0)
        wait_busy(srv.proc.pid, before)
        # the other session is answered while the hash runs
        assert b.stat("small.bin").st_size == 1 << 20
        assert b.listdir(".")
        assert not a.get_channel().recv_ready(), \
            "check-file answered before the other session's requests"
        t, msg = a._read_response(num)
        assert t == CMD_EXTENDED_REPLY
        assert msg.get_text() == "check-file" and msg.get_text() == "sha512"
        assert len(msg.get_remainder()) == 64

        # over the bound: a clear refusal, at once
        with pytest.raises(IOError, match="Range over 4 GiB"):
            f.check("sha512", 0, 0, 0)
        f.close()
        assert a.stat("small.bin").st_size == 1 << 20
    finally:
        a.ssh_client.close()
        b.ssh_client.close()
