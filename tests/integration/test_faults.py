"""Fault injection: a disk that fills during an upload, `kill -9` of the server
during an upload, and of `berth user add` while it writes the user database.

The disk-full tests mount a small tmpfs as the user's home (root, or a user
that may mount, is needed; CI runs as root). Both upload modes are tested:
"atomic" (the default: a temporary name renamed over the target when the
upload ends cleanly) never damages the file that was there; "direct" writes
in place, and what it leaves can be resumed.
"""

import io
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import time

import pytest

from conftest import check_clean_exit
from ftphelpers import (MiB, BerthServer, berth_bin, ftp_login, sftp_close, sftp_login,
                        stor_refused)

KiB = 1024
UPLOAD_PREFIX = ".berth-upload-"


# ---------------------------------------------------------------- helpers

def mount_tmpfs(path, size):
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d,mode=0755" % size, "tmpfs",
                        str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("can not mount a tmpfs here (%s): the disk-full tests need root"
                    % r.stderr.strip())


def umount(path):
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


class Servers:
    """Starts berth on a fixed work folder (a restart sees the same homes and
    state); stops what it started and checks each exit."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.started = []
        self.mounts = []

    def start(self, mode, rules=None, **kw):
        srv = BerthServer(self.workdir, listen=("127.0.0.1:0",),
                          server={"upload_mode": mode}, sftp={"listen": ["127.0.0.1:0"]},
                          user_rules={"alice": rules or {}}, **kw)
        self.started.append(srv)
        return srv.start()

    def close(self):
        for srv in self.started:
            died_early = srv.proc is not None and srv.proc.poll() is not None
            srv.stop()
            check_clean_exit(srv, died_early)
        for m in self.mounts:
            umount(m)


@pytest.fixture
def servers(tmp_path):
    s = Servers(tmp_path / "srv")
    yield s
    s.close()


def temp_files(home):
    return [p for p in home.rglob(UPLOAD_PREFIX + "*")]


def retr(ftp, name):
    out = io.BytesIO()
    ftp.retrbinary("RETR " + name, out.write)
    return out.getvalue()


def full_home(servers, mode, size):
    """A started server whose alice has a tmpfs home of `size` bytes."""
    srv = servers.start(mode)
    home = srv.home()
    mount_tmpfs(home, size)
    servers.mounts.append(home)
    return srv, home


# ---------------------------------------------------------------- disk full

def test_disk_full_ftp_atomic_keeps_the_old_file(servers):
    srv, home = full_home(servers, "atomic", 2 * MiB)
    old = os.urandom(700 * KiB)
    (home / "report.bin").write_bytes(old)
    ftp = ftp_login(srv)
    reply = stor_refused(ftp, "report.bin", os.urandom(3 * MiB))
    assert reply.startswith("452"), reply
    # The complete file is untouched, no temporary file is left, the space is free again.
    assert (home / "report.bin").read_bytes() == old
    assert temp_files(home) == []
    # The session and the server keep serving: a fitting upload works, in this
    # session and in another one.
    small = os.urandom(512 * KiB)
    ftp.storbinary("STOR report.bin", io.BytesIO(small))
    assert retr(ftp, "report.bin") == small
    other = ftp_login(srv)
    other.storbinary("STOR more.bin", io.BytesIO(b"x" * 1000))
    other.quit()
    ftp.quit()
    assert (home / "more.bin").read_bytes() == b"x" * 1000


def test_disk_full_ftp_direct_keeps_what_was_written_for_a_resume(servers):
    srv, home = full_home(servers, "direct", 2 * MiB)
    (home / "filler.bin").write_bytes(os.urandom(1 * MiB))
    (home / "report.bin").write_bytes(os.urandom(300 * KiB))
    new = os.urandom(2 * MiB)
    ftp = ftp_login(srv)
    reply = stor_refused(ftp, "report.bin", new)
    assert reply.startswith("452"), reply
    # In place: the old content is gone, the new one is there up to where the disk filled.
    partial = (home / "report.bin").read_bytes()
    assert 0 < len(partial) < len(new)
    assert new.startswith(partial)
    assert temp_files(home) == []
    # Make room and resume from what arrived: the file ends byte-exact.
    ftp.delete("filler.bin")
    have = ftp.size("report.bin")
    assert have == len(partial)
    ftp.storbinary("STOR report.bin", io.BytesIO(new[have:]), rest=have)
    assert (home / "report.bin").read_bytes() == new
    ftp.quit()


@pytest.mark.parametrize("mode", ["atomic", "direct"])
def test_disk_full_sftp(servers, mode):
    srv, home = full_home(servers, mode, 2 * MiB)
    old = os.urandom(700 * KiB)
    (home / "report.bin").write_bytes(old)
    new = os.urandom(3 * MiB)
    s = sftp_login(srv)
    with pytest.raises(OSError) as e:
        with s.open("/report.bin", "wb") as f:
            f.write(new)
    assert "no space" in str(e.value).lower(), e.value
    if mode == "atomic":
        # The failed upload is discarded at CLOSE: the complete file is whole.
        assert (home / "report.bin").read_bytes() == old
    else:
        partial = (home / "report.bin").read_bytes()
        assert 0 < len(partial) < len(new) and new.startswith(partial)
        s.remove("/report.bin")  # it holds the disk; the user resumes or deletes it
    assert temp_files(home) == []
    # Still serving, in this session.
    with s.open("/small.bin", "wb") as f:
        f.write(b"y" * 4096)
    with s.open("/small.bin", "rb") as f:
        assert f.read() == b"y" * 4096
    sftp_close(s)


# ---------------------------------------------------------------- kill -9

def wait_for(predicate, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = predicate()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def written_so_far(home, name, mode):
    """Bytes of the upload in progress that reached the disk."""
    if mode == "atomic":
        temps = temp_files(home)
        return temps[0].stat().st_size if temps else 0
    p = home / name
    return p.stat().st_size if p.exists() else 0


class SlowSender:
    """Sends `data` over a socket in the background (the server reads it at
    the user's upload rate)."""

    def __init__(self, send):
        import threading
        self.thread = threading.Thread(target=self._run, args=(send,), daemon=True)
        self.thread.start()

    def _run(self, send):
        try:
            send()
        except Exception:
            pass  # the server is killed under it

    def join(self):
        self.thread.join(timeout=30)


@pytest.mark.parametrize("protocol", ["ftp", "sftp"])
@pytest.mark.parametrize("mode", ["atomic", "direct"])
def test_kill_9_during_an_upload(servers, mode, protocol):
    # 512 KiB/s: a 4 MiB upload is still running when the server is killed.
    srv = servers.start(mode, rules={"upload_rate": 512})
    home = srv.home()
    old = os.urandom(1 * MiB)
    (home / "data.bin").write_bytes(old)
    new = os.urandom(4 * MiB)

    if protocol == "ftp":
        ftp = ftp_login(srv)
        conn = ftp.transfercmd("STOR data.bin")
        sender = SlowSender(lambda: conn.sendall(new))
    else:
        s = sftp_login(srv)

        def put():
            with s.open("/data.bin", "wb") as f:
                f.set_pipelined(True)
                f.write(new)
        sender = SlowSender(put)

    if mode == "direct":
        # The old file is truncated at the open; wait for new bytes to arrive.
        wait_for(lambda: (home / "data.bin").read_bytes()[:1] == new[:1] and
                 written_so_far(home, "data.bin", mode) >= 256 * KiB, what="upload to start")
    else:
        wait_for(lambda: written_so_far(home, "data.bin", mode) >= 256 * KiB,
                 what="upload to start")
    os.kill(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait(timeout=10)
    srv.expect_exit = True
    sender.join()

    on_disk = (home / "data.bin").read_bytes()
    if mode == "atomic":
        assert on_disk == old, "a complete file was damaged by an interrupted upload"
    else:
        assert 0 < len(on_disk) < len(new) and new.startswith(on_disk)

    # After a restart: nothing of the interrupted upload is visible, and the
    # upload can be finished (direct: resumed where it stopped).
    srv2 = servers.start(mode)
    ftp = ftp_login(srv2)
    names = ftp.nlst()
    assert names == ["data.bin"], names
    if mode == "atomic":
        assert retr(ftp, "data.bin") == old
        ftp.storbinary("STOR data.bin", io.BytesIO(new))
    else:
        have = ftp.size("data.bin")
        ftp.storbinary("STOR data.bin", io.BytesIO(new[have:]), rest=have)
    assert retr(ftp, "data.bin") == new
    ftp.quit()


# ---------------------------------------------------------------- state database

def test_user_database_survives_kill_9_during_user_add(tmp_path):
    state = tmp_path / "state"
    config = tmp_path / "berth.toml"
    config.write_text('[server]\nstate_dir = "%s"\n[ftp]\nlisten = ["127.0.0.1:0"]\n'
                      '[users]\nhash_memory_kib = 8192\nhash_iterations = 1\n' % state)
    home = tmp_path / "home"
    home.mkdir()

    def user_add(name):
        return subprocess.Popen(
            [str(berth_bin()), "user", "add", name, "--home", str(home), "--password-stdin",
             "--config", str(config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    rng = random.Random(7)
    added, killed = [], 0
    for i in range(40):
        name = "u%02d" % i
        p = user_add(name)
        p.stdin.write(b"secret-%d\n" % i)
        p.stdin.flush()
        p.stdin.close()
        # Kill at a random moment: before, during or after the write.
        time.sleep(rng.uniform(0, 0.06))
        if i % 4 != 3:
            p.send_signal(signal.SIGKILL)
        rc = p.wait(timeout=30)
        p.stdout.close()
        p.stderr.close()
        if rc == 0:
            added.append(name)
        else:
            assert rc == -signal.SIGKILL, rc
            killed += 1
    assert killed > 0 and added, (killed, added)

    db = state / "users.db"
    conn = sqlite3.connect(str(db))
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    # Every user whose `add` reported success is there; the CLI keeps working.
    r = subprocess.run([str(berth_bin()), "user", "list", "--config", str(config)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    listed = set(r.stdout.split())
    for name in added:
        assert name in listed, (name, r.stdout)
    r = subprocess.run([str(berth_bin()), "user", "add", "after", "--home", str(home),
                        "--password-stdin", "--config", str(config)],
                       input="pw\n", capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    shutil.rmtree(state, ignore_errors=True)
