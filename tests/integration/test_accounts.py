"""Accounts and guards (issue #5) with real clients over FTP and SFTP:
permissions, quotas, bandwidth, connection and session limits, the user
database managed with `berth user` while the server runs, anonymous FTP."""

import ftplib
import io
import json
import os
import socket
import subprocess
import threading
import time

import pytest

from ftphelpers import MiB, berth_bin

paramiko = pytest.importorskip("paramiko")

SSH_TIMEOUT = 30


def ftp_login(srv, user="alice", password=None, source=None):
    ftp = ftplib.FTP(timeout=15, source_address=(source, 0) if source else None)
    ftp.connect(srv.host, srv.port)
    ftp.login(user, password if password is not None else srv.users[user]["password"])
    ftp.voidcmd("TYPE I")
    return ftp


def sftp_login(srv, user="alice", password=None):
    c = paramiko.SSHClient()
    c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    c.connect(hostname="127.0.0.1", port=srv.sftp_port, username=user,
              password=password if password is not None else srv.users[user]["password"],
              timeout=SSH_TIMEOUT, banner_timeout=SSH_TIMEOUT, auth_timeout=SSH_TIMEOUT,
              allow_agent=False, look_for_keys=False)
    s = c.open_sftp()
    s.get_channel().settimeout(SSH_TIMEOUT)
    s.ssh_client = c
    return s


def sftp_close(s):
    s.close()
    s.ssh_client.close()


def start(start_server, rules=None, sections=None, **kw):
    return start_server(listen=("127.0.0.1:0",), sftp={"listen": ["127.0.0.1:0"]},
                        user_rules={"alice": rules or {}}, sections=sections, **kw)


def berth_cli(srv, *args, stdin=None):
    return subprocess.run([str(berth_bin()), *args, "--config", str(srv.config_path)],
                          input=stdin, capture_output=True, text=True, timeout=60)


# ---------------------------------------------------------------- permissions

def seed(home):
    (home / "file.txt").write_bytes(b"hello\n")
    (home / "dir").mkdir()
    (home / "dir" / "inner.txt").write_bytes(b"inner\n")


def ftp_ops():
    """permission -> an FTP operation that needs it (FTP has no symlink command)."""
    return {
        "list": lambda f: f.nlst("/dir"),
        "download": lambda f: f.retrbinary("RETR /file.txt", lambda b: None),
        "upload": lambda f: f.storbinary("STOR /new.txt", io.BytesIO(b"x" * 100)),
        "overwrite": lambda f: f.storbinary("STOR /file.txt", io.BytesIO(b"replaced")),
        "delete": lambda f: f.delete("/file.txt"),
        "rename": lambda f: f.rename("/file.txt", "/moved.txt"),
        "mkdir": lambda f: f.mkd("/newdir"),
        "rmdir": lambda f: f.rmd("/emptydir"),
        "chmod": lambda f: f.sendcmd("MFMT 20200101000000 /file.txt"),
    }


def sftp_ops():
    return {
        "list": lambda s: s.listdir("/dir"),
        "download": lambda s: s.open("/file.txt", "rb").read(),
        "upload": lambda s: s.open("/new.txt", "wb").write(b"x" * 100),
        "overwrite": lambda s: s.open("/file.txt", "wb").write(b"replaced"),
        "delete": lambda s: s.remove("/file.txt"),
        "rename": lambda s: s.rename("/file.txt", "/moved.txt"),
        "mkdir": lambda s: s.mkdir("/newdir"),
        "rmdir": lambda s: s.rmdir("/emptydir"),
        "chmod": lambda s: s.chmod("/file.txt", 0o600),
        "symlink": lambda s: s.symlink("file.txt", "/link"),
    }


PERMS = ["list", "download", "upload", "overwrite", "delete", "rename", "mkdir", "rmdir",
         "chmod"]


@pytest.mark.parametrize("perm", PERMS)
def test_ftp_permission_denied_and_allowed(start_server, perm):
    everything_else = [p for p in PERMS + ["symlink"] if p != perm]
    srv = start(start_server, rules={"permissions": everything_else})
    home = srv.home()
    seed(home)
    (home / "emptydir").mkdir()
    before = {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}
    ftp = ftp_login(srv)
    with pytest.raises(ftplib.error_perm) as e:
        ftp_ops()[perm](ftp)
    assert str(e.value).startswith("550"), e.value
    ftp.quit()
    # Nothing changed on disk.
    assert {p: p.read_bytes() for p in home.rglob("*") if p.is_file()} == before
    assert (home / "emptydir").is_dir() and not (home / "newdir").exists()
    assert "no %s permission" % perm in srv.stderr_text()
    # With the permission the same operation works.
    srv2 = start(start_server, rules={"permissions": PERMS + ["symlink"]})
    seed(srv2.home())
    (srv2.home() / "emptydir").mkdir()
    ftp = ftp_login(srv2)
    ftp_ops()[perm](ftp)
    ftp.quit()


@pytest.mark.parametrize("perm", PERMS + ["symlink"])
def test_sftp_permission_denied_and_allowed(start_server, perm):
    everything_else = [p for p in PERMS + ["symlink"] if p != perm]
    srv = start(start_server, rules={"permissions": everything_else})
    home = srv.home()
    seed(home)
    (home / "emptydir").mkdir()
    before = {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}
    s = sftp_login(srv)
    with pytest.raises(PermissionError):
        sftp_ops()[perm](s)
    sftp_close(s)
    assert {p: p.read_bytes() for p in home.rglob("*") if p.is_file()} == before
    assert (home / "emptydir").is_dir() and not (home / "newdir").exists()
    assert not (home / "link").exists() and not (home / "link").is_symlink()
    srv2 = start(start_server, rules={"permissions": "all"})
    seed(srv2.home())
    (srv2.home() / "emptydir").mkdir()
    s = sftp_login(srv2)
    sftp_ops()[perm](s)
    sftp_close(s)


def test_read_only_user_over_both_protocols(start_server):
    srv = start(start_server, rules={"permissions": ["list", "download"]})
    seed(srv.home())
    ftp = ftp_login(srv)
    data = []
    ftp.retrbinary("RETR /file.txt", data.append)
    assert b"".join(data) == b"hello\n"
    with pytest.raises(ftplib.error_perm):
        ftp.storbinary("STOR /x", io.BytesIO(b"x"))
    ftp.quit()
    s = sftp_login(srv)
    assert s.open("/file.txt").read() == b"hello\n"
    with pytest.raises(PermissionError):
        s.open("/x", "wb")
    sftp_close(s)


# ---------------------------------------------------------------- quota

def disk_usage(home):
    files = [p for p in home.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def test_ftp_quota_exceeded_mid_upload(start_server):
    srv = start(start_server, rules={"quota_bytes": 1 * MiB})
    home = srv.home()
    ftp = ftp_login(srv)
    ftp.storbinary("STOR small.bin", io.BytesIO(os.urandom(300 * 1024)))
    with pytest.raises(ftplib.Error) as e:
        ftp.storbinary("STOR big.bin", io.BytesIO(os.urandom(2 * MiB)))
    assert str(e.value).startswith("552"), e.value
    # The refused upload is discarded (atomic upload mode); usage on disk
    # stays within the quota and small.bin is intact.
    used, _ = disk_usage(home)
    assert used <= 1 * MiB
    assert (home / "small.bin").stat().st_size == 300 * 1024
    # What is left of the quota can still be used.
    ftp.storbinary("STOR more.bin", io.BytesIO(os.urandom(500 * 1024)))
    # Deleting gives the space back.
    ftp.delete("more.bin")
    ftp.storbinary("STOR again.bin", io.BytesIO(os.urandom(600 * 1024)))
    ftp.quit()
    assert disk_usage(home)[0] <= 1 * MiB


def test_sftp_quota_exceeded_mid_upload(start_server):
    srv = start(start_server, rules={"quota_bytes": 1 * MiB})
    home = srv.home()
    s = sftp_login(srv)
    with pytest.raises(OSError) as e:
        with s.open("/big.bin", "wb") as f:
            f.write(os.urandom(2 * MiB))
    assert "quota" in str(e.value).lower(), e.value
    # SFTP keeps what was written before the refusal (CLOSE ends the upload,
    # as with sftp-server on a full disk); it counts against the quota.
    assert disk_usage(home)[0] <= 1 * MiB
    with pytest.raises(OSError):
        with s.open("/more.bin", "wb") as f:
            f.write(os.urandom(512 * 1024))
    for name in s.listdir("/"):
        s.remove("/" + name)
    assert disk_usage(home) == (0, 0)
    with s.open("/ok.bin", "wb") as f:
        f.write(os.urandom(512 * 1024))
    sftp_close(s)
    assert (home / "ok.bin").stat().st_size == 512 * 1024


def test_quota_files(start_server):
    srv = start(start_server, rules={"quota_files": 2})
    ftp = ftp_login(srv)
    ftp.storbinary("STOR a", io.BytesIO(b"a"))
    ftp.storbinary("STOR b", io.BytesIO(b"b"))
    with pytest.raises(ftplib.Error) as e:
        ftp.storbinary("STOR c", io.BytesIO(b"c"))
    assert str(e.value).startswith("552"), e.value
    ftp.storbinary("STOR a", io.BytesIO(b"replaced"))  # replacing adds no file
    ftp.quit()
    assert sorted(p.name for p in srv.home().iterdir()) == ["a", "b"]


def test_two_sessions_race_for_the_quota(start_server):
    srv = start(start_server, rules={"quota_bytes": 1 * MiB})
    results = {}

    def upload(name):
        try:
            ftp = ftp_login(srv)
            ftp.storbinary("STOR %s" % name, io.BytesIO(os.urandom(700 * 1024)),
                           blocksize=16 * 1024)
            ftp.quit()
            results[name] = "ok"
        except ftplib.Error as e:
            results[name] = str(e)

    threads = [threading.Thread(target=upload, args=(n,)) for n in ("one", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == ["one", "two"]
    assert list(results.values()).count("ok") <= 1, results
    assert any(v.startswith("552") for v in results.values()), results
    assert disk_usage(srv.home())[0] <= 1 * MiB


def test_quota_counts_what_the_home_held_at_start(start_server):
    srv = start(start_server, rules={"quota_bytes": 1 * MiB})
    (srv.home() / "old.bin").write_bytes(b"x" * (900 * 1024))
    ftp = ftp_login(srv)
    with pytest.raises(ftplib.Error) as e:
        ftp.storbinary("STOR new.bin", io.BytesIO(os.urandom(200 * 1024)))
    assert str(e.value).startswith("552")
    ftp.quit()


# ---------------------------------------------------------------- bandwidth

def test_download_rate_limit_holds(start_server):
    """5 MiB at 1 MiB/s take at least 4 s (the first burst is free); only the
    lower bound is asserted: a slow machine can only be slower."""
    srv = start(start_server, rules={"download_rate": 1024})
    (srv.home() / "five.bin").write_bytes(os.urandom(5 * MiB))
    ftp = ftp_login(srv)
    got = bytearray()
    t0 = time.monotonic()
    ftp.retrbinary("RETR five.bin", got.extend)
    elapsed = time.monotonic() - t0
    ftp.quit()
    assert bytes(got) == (srv.home() / "five.bin").read_bytes()
    assert elapsed >= 4.0, elapsed


def test_upload_rate_limit_holds_over_sftp(start_server):
    srv = start(start_server, rules={"upload_rate": 1024})
    data = os.urandom(5 * MiB)
    s = sftp_login(srv)
    t0 = time.monotonic()
    with s.open("/up.bin", "wb") as f:
        f.set_pipelined(True)
        f.write(data)
    elapsed = time.monotonic() - t0
    sftp_close(s)
    assert (srv.home() / "up.bin").read_bytes() == data
    assert elapsed >= 4.0, elapsed


def test_global_download_cap(start_server):
    srv = start(start_server, sections={"bandwidth": {"download_rate": 1024}})
    (srv.home() / "five.bin").write_bytes(os.urandom(5 * MiB))
    s = sftp_login(srv)
    t0 = time.monotonic()
    got = s.open("/five.bin").read()
    elapsed = time.monotonic() - t0
    sftp_close(s)
    assert got == (srv.home() / "five.bin").read_bytes()
    assert elapsed >= 4.0, elapsed


# ---------------------------------------------------------------- limits

def test_max_connections_per_ip(start_server):
    srv = start(start_server, sections={"limits": {"max_connections_per_ip": 2}})
    a = ftp_login(srv)
    b = ftp_login(srv)
    c = ftplib.FTP(timeout=15)
    with pytest.raises(ftplib.error_temp) as e:
        c.connect(srv.host, srv.port)
    assert str(e.value).startswith("421") and "Too many connections" in str(e.value)
    # Another address is not affected.
    d = ftp_login(srv, source="127.0.0.2")
    d.quit()
    # SSH: one line with the reason, then the connection is closed.
    with socket.create_connection(("127.0.0.1", srv.sftp_port), timeout=15) as sock:
        text = sock.makefile("rb").read()
    assert b"Too many connections" in text and not text.startswith(b"SSH-")
    a.quit()
    e2 = ftp_login(srv)  # a place came back
    e2.quit()
    b.quit()
    assert srv.alive()


def test_max_sessions_per_user(start_server):
    srv = start(start_server, rules={"max_sessions": 1})
    first = ftp_login(srv)
    with pytest.raises(ftplib.error_temp) as e:
        ftp_login(srv)
    assert str(e.value).startswith("421") and "Too many sessions" in str(e.value)
    with pytest.raises(Exception):
        sftp_login(srv).listdir("/")
    # Another user is not limited by alice's sessions.
    ftp_login(srv, user="bob").quit()
    first.quit()
    time.sleep(0.2)  # the server notices the first session's end
    s = sftp_login(srv)
    s.listdir("/")
    sftp_close(s)


def test_allow_from(start_server):
    srv = start(start_server, rules={"allow_from": ["127.0.0.2/32"]})
    with pytest.raises(ftplib.error_perm):
        ftp_login(srv)
    ftp_login(srv, source="127.0.0.2").quit()
    assert "may not log in from this address" in srv.stderr_text()


def test_disabled_config_user(start_server):
    srv = start(start_server, rules={"disabled": True})
    with pytest.raises(ftplib.error_perm):
        ftp_login(srv)
    with pytest.raises(paramiko.AuthenticationException):
        sftp_login(srv)


# ---------------------------------------------------------------- user database

def test_users_added_with_the_cli_log_in_without_restart(start_server, tmp_path):
    srv = start(start_server)
    home = tmp_path / "carol-home"
    home.mkdir()
    r = berth_cli(srv, "user", "add", "carol", "--home", str(home), "--password-stdin",
                  "--permissions", "list,download,upload", stdin="Carol-pw-1\n")
    assert r.returncode == 0, r.stderr
    ftp = ftp_login(srv, user="carol", password="Carol-pw-1")
    ftp.storbinary("STOR c.txt", io.BytesIO(b"carol"))
    with pytest.raises(ftplib.error_perm):
        ftp.delete("c.txt")
    ftp.quit()
    assert (home / "c.txt").read_bytes() == b"carol"
    s = sftp_login(srv, user="carol", password="Carol-pw-1")
    assert s.open("/c.txt").read() == b"carol"
    sftp_close(s)
    # A new password applies at the next login; the old one (cached) does not.
    r = berth_cli(srv, "user", "passwd", "carol", "--password-stdin", stdin="Carol-pw-2\n")
    assert r.returncode == 0, r.stderr
    with pytest.raises(ftplib.error_perm):
        ftp_login(srv, user="carol", password="Carol-pw-1")
    ftp_login(srv, user="carol", password="Carol-pw-2").quit()
    # Disabled, then deleted: refused.
    assert berth_cli(srv, "user", "set", "carol", "--disabled").returncode == 0
    with pytest.raises(ftplib.error_perm):
        ftp_login(srv, user="carol", password="Carol-pw-2")
    assert berth_cli(srv, "user", "set", "carol", "--enabled").returncode == 0
    ftp_login(srv, user="carol", password="Carol-pw-2").quit()
    assert berth_cli(srv, "user", "del", "carol").returncode == 0
    with pytest.raises(ftplib.error_perm):
        ftp_login(srv, user="carol", password="Carol-pw-2")


def test_imported_crypt_hash_logs_in(start_server, tmp_path):
    crypt = pytest.importorskip("crypt")
    srv = start(start_server)
    home = tmp_path / "dave"
    home.mkdir()
    h = crypt.crypt("Dave-pw", crypt.mksalt(crypt.METHOD_SHA512))
    r = berth_cli(srv, "user", "add", "dave", "--home", str(home), "--password-hash", h)
    assert r.returncode == 0, r.stderr
    ftp_login(srv, user="dave", password="Dave-pw").quit()
    with pytest.raises(ftplib.error_perm):
        ftp_login(srv, user="dave", password="dave-pw")


def test_config_user_is_read_only_for_the_cli(start_server):
    srv = start(start_server)
    r = berth_cli(srv, "user", "set", "alice", "--disabled")
    assert r.returncode != 0
    assert "read-only" in r.stderr
    ftp_login(srv).quit()


# ---------------------------------------------------------------- anonymous

def test_anonymous_ftp_is_read_only(start_server, tmp_path):
    pub = tmp_path / "pub"
    pub.mkdir()
    (pub / "readme.txt").write_bytes(b"public\n")
    srv = start(start_server, sections={"ftp.anonymous": {"enabled": True, "home": str(pub)}})
    ftp = ftp_login(srv, user="anonymous", password="guest@example.org")
    got = []
    ftp.retrbinary("RETR readme.txt", got.append)
    assert b"".join(got) == b"public\n"
    with pytest.raises(ftplib.error_perm):
        ftp.storbinary("STOR up.txt", io.BytesIO(b"x"))
    with pytest.raises(ftplib.error_perm):
        ftp.delete("readme.txt")
    ftp.quit()
    assert sorted(p.name for p in pub.iterdir()) == ["readme.txt"]
    # Not over SFTP.
    with pytest.raises(paramiko.AuthenticationException):
        sftp_login(srv, user="anonymous", password="guest@example.org")


def test_anonymous_is_off_by_default(start_server):
    srv = start(start_server)
    with pytest.raises(ftplib.error_perm):
        ftp_login(srv, user="anonymous", password="guest@example.org")
