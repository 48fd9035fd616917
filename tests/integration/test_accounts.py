"""Accounts and guards (issue #5) with real clients over FTP and SFTP:
permissions, quotas, bandwidth, connection and session limits, the user
database managed with `berth user` while the server runs, anonymous FTP."""

import ftplib
import io
import json
import os
import socket
import struct
import subprocess
import threading
import time

import pytest

from ftphelpers import MiB, berth_bin, ftp_login, sftp_close, sftp_login, stor_refused

import paramiko  # a test dependency (scripts/install-deps.sh --test): its absence fails


def start(start_server, rules=None, sections=None, **kw):
    kw.setdefault("sftp", {"listen": ["127.0.0.1:0"]})
    return start_server(listen=("127.0.0.1:0",), user_rules={"alice": rules or {}},
                        sections=sections, **kw)


def berth_cli(srv, *args, stdin=None):
    return subprocess.run([str(berth_bin()), *args, "--config", str(srv.config_path)],
                          input=stdin, capture_output=True, text=True, timeout=60)


# ---------------------------------------------------------------- permissions

def seed(home):
    (home / "file.txt").write_bytes(b"hello\n")
    (home / "dir").mkdir(exist_ok=True)  # an S3 home outlives its server
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
def test_ftp_permission_denied_and_allowed(start_server, perm, home_kind):
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
    (srv2.home() / "emptydir").mkdir(exist_ok=True)
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


def test_ftp_quota_exceeded_mid_upload(start_server, home_kind):
    srv = start(start_server, rules={"quota_bytes": 1 * MiB})
    home = srv.home()
    ftp = ftp_login(srv)
    ftp.storbinary("STOR small.bin", io.BytesIO(os.urandom(300 * 1024)))
    reply = stor_refused(ftp, "big.bin", os.urandom(2 * MiB))
    assert reply.startswith("552"), reply
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
    # A new file is at its name from the OPEN (SFTP clients look at what they
    # write): refused, it stays partial, within the quota, until removed.
    used, files = disk_usage(home)
    assert used <= 1 * MiB and files == 1
    s.remove("/big.bin")
    assert disk_usage(home) == (0, 0)
    with s.open("/more.bin", "wb") as f:
        f.write(os.urandom(768 * 1024))
    with pytest.raises(OSError):
        with s.open("/over.bin", "wb") as f:
            f.write(os.urandom(512 * 1024))
    used, files = disk_usage(home)
    assert used <= 1 * MiB and files == 2
    # A refused replacement is discarded at CLOSE (atomic upload mode), as over
    # FTP: the complete file stays.
    with pytest.raises(OSError):
        with s.open("/more.bin", "wb") as f:
            f.write(os.urandom(2 * MiB))
    assert (home / "more.bin").stat().st_size == 768 * 1024
    for name in s.listdir("/"):
        s.remove("/" + name)
    assert disk_usage(home) == (0, 0)
    with s.open("/ok.bin", "wb") as f:
        f.write(os.urandom(512 * 1024))
    sftp_close(s)
    assert (home / "ok.bin").stat().st_size == 512 * 1024


def test_quota_files(start_server, home_kind):
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
        except (ftplib.Error, OSError, EOFError) as e:
            # 552, or the data connection reset under a client still sending
            results[name] = "refused: %r" % e

    threads = [threading.Thread(target=upload, args=(n,)) for n in ("one", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == ["one", "two"]
    assert list(results.values()).count("ok") <= 1, results
    assert "refused: quota exceeded" in srv.stderr_text()
    assert disk_usage(srv.home())[0] <= 1 * MiB


def test_quota_counts_what_the_home_held_at_start(start_server):
    srv = start(start_server, rules={"quota_bytes": 1 * MiB})
    (srv.home() / "old.bin").write_bytes(b"x" * (900 * 1024))
    ftp = ftp_login(srv)
    reply = stor_refused(ftp, "new.bin", os.urandom(200 * 1024))
    assert reply.startswith("552"), reply
    ftp.quit()


def quota_refusal(e):
    return "quota" in str(e).lower()


def test_quota_counts_directories_and_links_over_sftp(start_server):
    """Regression (issue 17, item 14): directories and symlinks counted
    nothing, so 300 of each took 3.4 MiB of disk under a 1 MiB quota. Each
    counts one file and 4 KiB."""
    srv = start(start_server, rules={"quota_bytes": 1 * MiB})
    s = sftp_login(srv)
    made = 0
    with pytest.raises(OSError) as e:
        for i in range(300):
            s.mkdir("/d%03d" % i)
            made += 1
    assert quota_refusal(e.value), e.value
    assert made == 1 * MiB // 4096, made
    for i in range(10):
        s.rmdir("/d%03d" % i)
    links = 0
    with pytest.raises(OSError) as e:
        for i in range(300):
            s.symlink("d100", "/l%03d" % i)
            links += 1
    assert quota_refusal(e.value), e.value
    assert links == 10, links
    s.remove("/l000")
    s.mkdir("/again")  # a removed link gave its place back
    sftp_close(s)
    assert len(list(srv.home().iterdir())) == made
    # Counted the same way from the disk at the next start of the user's quota.
    srv2 = start(start_server, rules={"quota_bytes": 1 * MiB})
    for i in range(made):
        (srv2.home() / ("d%03d" % i)).mkdir()
    s = sftp_login(srv2)
    with pytest.raises(OSError) as e:
        s.symlink("d000", "/one-more")
    assert quota_refusal(e.value), e.value
    sftp_close(s)


def test_racing_truncations_give_the_space_back_once(start_server):
    """Regression (issue 17, item 14): two sessions truncating one file at
    once were both given its bytes back, so the quota lost track of what the
    disk held (1.43 MB stored under a 1 MiB quota). paramiko clients in
    threads truncate one file at the same moment, round after round; then the
    home is filled to the quota: the disk must hold no more than the quota."""
    srv = start(start_server, rules={"quota_bytes": 1 * MiB},
                server={"threads": 4})
    home = srv.home()
    keep = os.urandom(400 * 1024)
    body = os.urandom(400 * 1024)
    writer = sftp_login(srv)
    with writer.open("/keep.bin", "wb") as f:
        f.write(keep)
    cutters = [sftp_login(srv) for _ in range(3)]
    for _ in range(25):
        with writer.open("/victim.bin", "wb") as f:
            f.write(body)
        start_line = threading.Barrier(len(cutters))
        errors = []

        def cut(s):
            try:
                start_line.wait(10)
                s.truncate("/victim.bin", 0)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=cut, args=(s,)) for s in cutters]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors, errors
        assert (home / "victim.bin").stat().st_size == 0
    # Fill what the quota says is left.
    chunk = os.urandom(64 * 1024)
    n = 0
    with pytest.raises(OSError) as e:
        while n < 64:
            with writer.open("/fill%02d.bin" % n, "wb") as f:
                f.write(chunk)
            n += 1
    assert quota_refusal(e.value), e.value
    for s in cutters + [writer]:
        sftp_close(s)
    used, _ = disk_usage(home)
    assert used <= 1 * MiB, "%d bytes stored under a 1 MiB quota" % used
    assert (home / "keep.bin").read_bytes() == keep


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


def low_nofile(n):
    def apply():
        import resource
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    return apply


def test_one_user_can_not_take_every_descriptor(start_server):
    """Regression (issue 17, item 7): one user's SFTP sessions opened handles
    until the process had no descriptor left; accept() failed and other
    users' logins timed out. With 256 descriptors, alice opens files over two
    sessions until she is refused; bob still logs in over SFTP and FTP and
    moves files byte for byte."""
    srv = start(start_server, preexec_fn=low_nofile(256))
    (srv.home() / "file.bin").write_bytes(b"f" * 1000)
    first, second = sftp_login(srv), sftp_login(srv)
    held = [first.open("/file.bin", "rb") for _ in range(10)]
    with pytest.raises(OSError) as refused:
        for _ in range(400):
            held.append(second.open("/file.bin", "rb"))

    data = os.urandom(300 * 1024)
    s = sftp_login(srv, user="bob")
    with s.open("/up.bin", "wb") as f:
        f.write(data)
    with s.open("/up.bin", "rb") as f:
        assert f.read() == data
    sftp_close(s)
    b = ftp_login(srv, user="bob")
    b.storbinary("STOR ftp.bin", io.BytesIO(data))
    got = io.BytesIO()
    b.retrbinary("RETR ftp.bin", got.write)
    assert got.getvalue() == data
    b.quit()
    assert (srv.home("bob") / "ftp.bin").read_bytes() == data

    # Alice was refused with a clear message at her share, far below the
    # descriptors; listings too, and over FTP RETR and STOR get 450.
    assert "too many open files" in str(refused.value).lower(), refused.value
    assert len(held) < 200, len(held)
    with pytest.raises(OSError) as e:
        first.listdir("/")
    assert "too many open files" in str(e.value).lower(), e.value
    ftp = ftp_login(srv)
    with pytest.raises(ftplib.error_temp) as e:
        ftp.retrbinary("RETR file.bin", lambda b: None)
    assert str(e.value).startswith("450"), e.value
    with pytest.raises(ftplib.error_temp) as e:
        ftp.storbinary("STOR new.bin", io.BytesIO(b"n" * 100))
    assert str(e.value).startswith("450"), e.value

    # A closed handle gives alice her place back.
    held.pop().close()
    ftp.retrbinary("RETR file.bin", lambda b: None)
    ftp.quit()
    for f in held:
        f.close()
    sftp_close(first)
    sftp_close(second)
    assert srv.alive()


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


# ---------------------------------------------------------------- defender

def ssh_from(srv, source, user="alice", password="wrong"):
    """One paramiko login attempt from `source` (a loopback address)."""
    sock = socket.create_connection(("127.0.0.1", srv.sftp_port), timeout=15,
                                    source_address=(source, 0))
    c = paramiko.SSHClient()
    c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        c.connect(hostname="127.0.0.1", port=srv.sftp_port, username=user, password=password,
                  sock=sock, timeout=15, banner_timeout=15, auth_timeout=15,
                  allow_agent=False, look_for_keys=False)
        c.close()
        return "ok"
    except paramiko.AuthenticationException:
        return "denied"
    except (paramiko.SSHException, EOFError, OSError):
        return "closed"
    finally:
        c.close()
        sock.close()


def test_defender_bans_one_address_across_protocols(start_server):
    srv = start(start_server, sections={"defender": {"max_failures": 5}},
                extra_ftp={"failed_login_delay_ms": "0"})
    bad = "127.0.0.2"
    # Three wrong passwords over FTP end that connection ...
    ftp = ftplib.FTP(timeout=15, source_address=(bad, 0))
    ftp.connect(srv.host, srv.port)
    for _ in range(3):
        with pytest.raises(ftplib.error_perm):
            ftp.login("alice", "wrong")
    ftp.close()
    # ... two more over SFTP make five, from one address.
    assert ssh_from(srv, bad) == "denied"
    assert ssh_from(srv, bad) in ("denied", "closed")
    # The sixth attempt is refused, even with the right password, on every protocol.
    with pytest.raises(ftplib.error_temp) as e:
        ftp_login(srv, source=bad)
    assert str(e.value).startswith("421") and "banned" in str(e.value)
    assert ssh_from(srv, bad, password=srv.users["alice"]["password"]) == "closed"
    # Another address still logs in.
    ftp_login(srv, source="127.0.0.3").quit()
    assert "defender: banned 127.0.0.2" in srv.stderr_text()
    # The ban is visible to `berth ban list`, and `berth ban del` lifts it at once.
    r = berth_cli(srv, "ban", "list", "--json")
    assert r.returncode == 0, r.stderr
    bans = json.loads(r.stdout)
    assert [b["address"] for b in bans] == [bad]
    assert berth_cli(srv, "ban", "del", bad).returncode == 0
    ftp_login(srv, source=bad).quit()


def test_defender_allow_list_is_never_banned(start_server):
    srv = start(start_server, sections={"defender": {"max_failures": 2,
                                                     "allow": ["127.0.0.2/32"]}},
                extra_ftp={"failed_login_delay_ms": "0"})
    for _ in range(4):
        ftp = ftplib.FTP(timeout=15, source_address=("127.0.0.2", 0))
        ftp.connect(srv.host, srv.port)
        with pytest.raises(ftplib.error_perm):
            ftp.login("alice", "wrong")
        ftp.close()
    ftp_login(srv, source="127.0.0.2").quit()


# ---------------------------------------------------------------- PROXY protocol

def proxy_v2(src, dst="127.0.0.1", sport=40000, dport=21):
    addr = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return (b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", len(addr))
            + addr)


def proxy_v1(src, dst="127.0.0.1", sport=40000, dport=22):
    return ("PROXY TCP4 %s %s %d %d\r\n" % (src, dst, sport, dport)).encode()


def ftp_through_proxy(srv, header, source="127.0.0.1"):
    """ftplib session on a socket that sent `header` first."""
    sock = socket.create_connection((srv.host, srv.port), timeout=15, source_address=(source, 0))
    sock.sendall(header)
    ftp = ftplib.FTP(timeout=15)
    ftp.sock = sock
    ftp.af = sock.family
    ftp.host = srv.host
    ftp.file = sock.makefile("r", encoding=ftp.encoding)
    ftp.welcome = ftp.getresp()
    return ftp


def proxied(start_server, **kw):
    return start(start_server, extra_ftp={"proxy_protocol": "true",
                                          "proxy_from": '["127.0.0.1/32"]',
                                          "failed_login_delay_ms": "0"},
                 sftp={"listen": ["127.0.0.1:0"], "proxy_protocol": True,
                       "proxy_from": ["127.0.0.1/32"]}, **kw)


def test_proxy_v2_header_gives_the_client_address(start_server):
    srv = proxied(start_server, sections={"defender": {"max_failures": 3}})
    ftp = ftp_through_proxy(srv, proxy_v2("203.0.113.9"))
    assert ftp.welcome.startswith("220")
    ftp.login("alice", srv.users["alice"]["password"])
    # A passive data connection through the balancer carries a header too.
    host, port = ftplib.parse227(ftp.sendcmd("PASV"))
    data = socket.create_connection((host, port), timeout=15)
    data.sendall(proxy_v2("203.0.113.9", sport=40001, dport=port))
    ftp.sendcmd("STOR hello.txt")
    data.sendall(b"via the balancer\n")
    data.close()
    assert ftp.voidresp().startswith("226")
    ftp.quit()
    assert (srv.home() / "hello.txt").read_bytes() == b"via the balancer\n"
    err = srv.stderr_text()
    assert "ftp: connect from 203.0.113.9" in err
    assert "203.0.113.9 logged in as alice" in err
    # Failed logins count against the header's address, not the balancer's.
    for _ in range(3):
        ftp = ftp_through_proxy(srv, proxy_v2("198.51.100.7"))
        with pytest.raises(ftplib.error_perm):
            ftp.login("alice", "wrong")
        ftp.close()
    with pytest.raises(ftplib.error_temp) as e:
        ftp_through_proxy(srv, proxy_v2("198.51.100.7"))
    assert str(e.value).startswith("421")
    assert "defender: banned 198.51.100.7" in srv.stderr_text()
    bans = json.loads(berth_cli(srv, "ban", "list", "--json").stdout)
    assert [b["address"] for b in bans] == ["198.51.100.7"]
    # The balancer itself and other clients behind it are not banned.
    ftp = ftp_through_proxy(srv, proxy_v2("203.0.113.9"))
    ftp.login("alice", srv.users["alice"]["password"])
    ftp.quit()


def test_proxy_v1_over_sftp(start_server):
    srv = proxied(start_server)
    sock = socket.create_connection(("127.0.0.1", srv.sftp_port), timeout=15)
    sock.sendall(proxy_v1("198.51.100.4"))
    c = paramiko.SSHClient()
    c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    c.connect(hostname="127.0.0.1", port=srv.sftp_port, username="alice",
              password=srv.users["alice"]["password"], sock=sock, timeout=15,
              banner_timeout=15, auth_timeout=15, allow_agent=False, look_for_keys=False)
    s = c.open_sftp()
    s.listdir("/")
    s.close()
    c.close()
    assert "sftp: 198.51.100.4 logged in as alice" in srv.stderr_text()


def closed_without_a_word(sock):
    """True when the server closes `sock` without sending anything (a reset
    counts: it closed with our bytes unread)."""
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True
    finally:
        sock.close()


def test_proxy_header_from_a_stranger_is_refused(start_server):
    srv = proxied(start_server)
    # 127.0.0.2 is not in proxy_from: its header is not believed, the
    # connection is closed without a greeting.
    sock = socket.create_connection((srv.host, srv.port), timeout=15,
                                    source_address=("127.0.0.2", 0))
    sock.sendall(proxy_v2("203.0.113.9"))
    assert closed_without_a_word(sock)
    # Without a header, a permitted peer is refused too (the header is required).
    sock = socket.create_connection((srv.host, srv.port), timeout=15)
    sock.sendall(b"USER alice\r\n")
    assert closed_without_a_word(sock)
    assert "not in proxy_from" in srv.stderr_text()
    assert srv.alive()
