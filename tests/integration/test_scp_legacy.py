"""Legacy scp (`scp -O`: OpenSSH's original protocol, as old OpenSSH, WinSCP's
SCP mode and scripts speak it): the client runs "scp -t" (upload) or "scp -f"
(download) on the server by an exec request; berth parses that command itself
(never a shell) and serves it on the user's filesystem: the same jail,
permissions, quota, upload mode and transfer log as SFTP.  Every transfer is
checked byte for byte."""

import os
import shlex
import signal
import stat
import subprocess

import pytest

import paramiko  # a test dependency (scripts/install-deps.sh --test): its absence fails

from ftphelpers import MiB, sha256_file, wait_until
from test_observability import xferlog_lines
from test_sftp import SSH_OPTS, SSH_TIMEOUT
from test_sftp_clients import (SCP, client_keys, describe, env, host_keys,  # noqa: F401
                               make_tree, outside_files, remote, run, sample_tree,
                               tree_hashes)


def scp_o(srv, key, *args, extra=()):
    if SCP is None:
        pytest.fail("OpenSSH scp is not installed (scripts/install-deps.sh --test)")
    return [SCP, "-O", *extra, "-i", str(key)] + SSH_OPTS + ["-P", str(srv.sftp_port),
                                                             *map(str, args)]


def scp(srv, env, key, *args, check=True, extra=("-q",)):  # noqa: F811
    r = run(scp_o(srv, key, *args, extra=extra), env)
    if check:
        assert r.returncode == 0, "scp -O failed " + describe(r)
    return r


def backslashed(path):
    """`path` as a shell word with a backslash before each special character."""
    return "".join(c if c.isalnum() or c in "/._-" else "\\" + c for c in path)


@pytest.fixture
def make_srv(start_server, client_keys, host_keys, tmp_path):  # noqa: F811
    """berth with an [sftp] listener and a transfer log; alice has a key and
    `rules` ({"quota_bytes": ...})."""
    def _make(**rules):
        srv = start_server(listen=("127.0.0.1:0",),
                           sftp={"listen": ["127.0.0.1:0"], "host_keys": host_keys},
                           authorized_keys={"alice": [client_keys[1]]},
                           user_rules={"alice": rules},
                           sections={"log": {"transfer_log": str(tmp_path / "xferlog")}})
        srv.xferlog = tmp_path / "xferlog"
        return srv
    return _make


@pytest.fixture
def srv(make_srv):
    return make_srv()


def test_upload_download_byte_exact_and_logged(srv, tmp_path, env, client_keys):  # noqa: F811
    key = client_keys[0]
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(5 * MiB + 12345))
    scp(srv, env, key, src, remote("up.bin"))
    assert sha256_file(srv.home() / "up.bin") == sha256_file(src)
    back = tmp_path / "back.bin"
    scp(srv, env, key, remote("up.bin"), back)
    assert sha256_file(back) == sha256_file(src)
    # The home-relative and absolute forms name the same file; so does "~/".
    scp(srv, env, key, src, remote("~/tilde.bin"))
    assert sha256_file(srv.home() / "tilde.bin") == sha256_file(src)
    # An empty file, both ways.
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    scp(srv, env, key, empty, remote("/e"))
    assert (srv.home() / "e").read_bytes() == b""
    scp(srv, env, key, remote("/e"), tmp_path / "e2")
    assert (tmp_path / "e2").read_bytes() == b""
    size = str(src.stat().st_size)

    def logged():
        lines = xferlog_lines(srv)
        return [(x["direction"], x["filename"], x["size"], x["status"]) for x in lines]

    want = [("i", "/up.bin", size, "c"), ("o", "/up.bin", size, "c")]
    assert wait_until(lambda: all(w in logged() for w in want), 20), logged()


def test_recursive_tree_both_ways(srv, tmp_path, env, client_keys):  # noqa: F811
    src = tmp_path / "tree"
    make_tree(src, sample_tree())
    (src / "emptydir").mkdir()
    (src / "d1" / "empty too").mkdir()
    scp(srv, env, client_keys[0], "-r", src, remote("/"))
    want = tree_hashes(src)
    assert tree_hashes(srv.home() / "tree") == want
    back = tmp_path / "back"
    scp(srv, env, client_keys[0], "-r", remote("tree"), back)
    assert tree_hashes(back) == want
    # Several sources at once: the client asks for a directory target (-d).
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_bytes(b"A" * 1000)
    b.write_bytes(b"B" * 2000)
    (srv.home() / "multi").mkdir()
    scp(srv, env, client_keys[0], a, b, remote("multi"))
    assert (srv.home() / "multi" / "a.txt").read_bytes() == a.read_bytes()
    assert (srv.home() / "multi" / "b.txt").read_bytes() == b.read_bytes()
    # ... and a file is not a directory: refused, nothing written.
    r = scp(srv, env, client_keys[0], a, b, remote("multi/a.txt"), check=False)
    assert r.returncode == 1, describe(r)
    assert "Not a directory" in r.stderr, describe(r)
    assert (srv.home() / "multi" / "a.txt").read_bytes() == a.read_bytes()


def test_preserve_times_and_modes_never_special_bits(srv, tmp_path, env, client_keys):  # noqa: F811
    key = client_keys[0]
    d = tmp_path / "p"
    d.mkdir()
    plain, suid, sub = d / "plain.sh", d / "suid", d / "sub"
    plain.write_bytes(b"#!/bin/sh\n")
    suid.write_bytes(b"s")
    sub.mkdir()
    (sub / "inner").write_bytes(b"i")
    os.chmod(plain, 0o750)
    os.chmod(suid, 0o4755 | stat.S_ISGID)
    os.chmod(sub / "inner", 0o600)
    os.utime(plain, (1500000000, 1600000000))
    os.utime(suid, (1500000001, 1600000001))
    os.utime(sub / "inner", (1500000002, 1600000002))
    os.chmod(sub, 0o1750)
    os.utime(sub, (1500000003, 1600000003))
    scp(srv, env, key, "-r", "-p", d, remote("/"))
    home = srv.home() / "p"
    for name, mode, mtime in (("plain.sh", 0o750, 1600000000), ("suid", 0o755, 1600000001),
                              ("sub/inner", 0o600, 1600000002), ("sub", 0o750, 1600000003)):
        st = (home / name).stat()
        assert stat.S_IMODE(st.st_mode) == mode, (name, oct(st.st_mode))
        assert int(st.st_mtime) == mtime, name
    assert int((home / "plain.sh").stat().st_atime) == 1500000000
    # Downloads: the server's modes and times, never its setuid/setgid bits.
    os.chmod(home / "plain.sh", 0o6711)
    os.utime(home / "plain.sh", (1400000000, 1450000000))
    back = tmp_path / "back.sh"
    scp(srv, env, key, "-p", remote("p/plain.sh"), back)
    st = back.stat()
    assert stat.S_IMODE(st.st_mode) == 0o711 and int(st.st_mtime) == 1450000000
    assert back.read_bytes() == b"#!/bin/sh\n"


def test_names_with_spaces_and_verbose(srv, tmp_path, env, client_keys):  # noqa: F811
    key = client_keys[0]
    src = tmp_path / "a file with  spaces.txt"
    src.write_bytes(os.urandom(70000))
    (srv.home() / "dir with space").mkdir()
    # The remote path is a shell word in this protocol: users quote it, and
    # berth splits it as a shell would (without running one). -v makes the
    # client pass -v to "scp -t"/"scp -f" too.
    scp(srv, env, key, src, remote(shlex.quote("dir with space/")), extra=("-v",))
    stored = srv.home() / "dir with space" / "a file with  spaces.txt"
    assert stored.read_bytes() == src.read_bytes()
    scp(srv, env, key, src, remote("dir\\ with\\ space/copy\\ 2"))
    assert (srv.home() / "dir with space" / "copy 2").read_bytes() == src.read_bytes()
    odd = "it's a \"q\" $HOME `x` *.txt"
    scp(srv, env, key, src, remote(shlex.quote(odd)))
    assert (srv.home() / odd).read_bytes() == src.read_bytes()
    back = tmp_path / "back"
    back.mkdir()
    # Downloads with backslashes: the client matches the name it gets against
    # the one it asked for (fnmatch), which takes backslashes, not quotes.
    scp(srv, env, key, remote(backslashed("dir with space/a file with  spaces.txt")), back)
    scp(srv, env, key, remote(backslashed(odd)), back, extra=("-v",))
    assert (back / "a file with  spaces.txt").read_bytes() == src.read_bytes()
    assert (back / odd).read_bytes() == src.read_bytes()
    # Unquoted, the words are two paths, as for a shell: refused, nothing written.
    r = scp(srv, env, key, src, remote("dir with space/x"), check=False)
    assert r.returncode != 0, describe(r)
    assert sorted(os.listdir(srv.home() / "dir with space")) == ["a file with  spaces.txt",
                                                                 "copy 2"]


def test_commands_are_never_given_to_a_shell(srv, client_keys):  # noqa: F811
    """Only "scp -t/-f" commands are accepted; anything a shell would
    interpret is refused before anything runs."""
    pkey = paramiko.Ed25519Key.from_private_key_file(str(client_keys[0]))

    def connect():
        c = paramiko.SSHClient()
        c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        c.connect("127.0.0.1", port=srv.sftp_port, username="alice", pkey=pkey,
                  look_for_keys=False, allow_agent=False, timeout=SSH_TIMEOUT)
        return c

    # Each is answered with a failing exit status (2: shell syntax, 127: no
    # such command, 1: scp's usage) and runs nothing.
    client = connect()
    try:
        for command, status in (("scp -t x; touch pwned", 2), ("scp -t $(touch pwned)", 2),
                                ("touch pwned", 127), ("scp -t `touch pwned`", 2),
                                ("scp -t x && touch pwned", 2), ("scp -x -t x", 1)):
            _, stdout, stderr = client.exec_command(command, timeout=SSH_TIMEOUT)
            assert stdout.read() == b"", command
            assert stderr.read().startswith(b"berth: "), command
            assert stdout.channel.recv_exit_status() == status, command
    finally:
        client.close()
    assert os.listdir(srv.home()) == []
    client = connect()
    try:
        stdin, stdout, _ = client.exec_command("scp -t -- 'ok file'", timeout=SSH_TIMEOUT)
        assert stdout.read(1) == b"\0"
        stdin.write(b"C0644 2 whatever\nhi\0")
        stdin.flush()
        assert stdout.read(2) == b"\0\0"
        stdin.channel.shutdown_write()
        assert stdout.channel.recv_exit_status() == 0
    finally:
        client.close()
    assert sorted(os.listdir(srv.home())) == ["ok file"]
    assert (srv.home() / "ok file").read_bytes() == b"hi"


def test_newline_in_a_name_is_refused_cleanly(srv, tmp_path, env, client_keys):  # noqa: F811
    key = client_keys[0]
    # Download: the server's file with a newline is skipped with a warning;
    # the others arrive, and scp exits 1.
    d = srv.home() / "nl"
    d.mkdir()
    (d / "a.txt").write_bytes(b"a")
    (d / "bad\nname").write_bytes(b"bad")
    (d / "z.txt").write_bytes(b"z")
    back = tmp_path / "back"
    r = scp(srv, env, key, "-r", remote("nl"), back, check=False)
    assert r.returncode == 1, describe(r)
    assert "filename contains a newline" in r.stderr, describe(r)
    assert sorted(os.listdir(back)) == ["a.txt", "z.txt"]
    assert (back / "a.txt").read_bytes() == b"a" and (back / "z.txt").read_bytes() == b"z"
    # Upload: OpenSSH's client never sends a newline in a name (it writes it
    # as "\\^J"); the other files of the tree and the session are unharmed.
    up = tmp_path / "up"
    up.mkdir()
    (up / "ok1").write_bytes(b"1")
    (up / "bad\nname").write_bytes(b"bad")
    (up / "ok2").write_bytes(b"2")
    scp(srv, env, key, "-r", up, remote("/"))
    stored = sorted(os.listdir(srv.home() / "up"))
    assert stored[-2:] == ["ok1", "ok2"] and len(stored) == 3, stored
    assert not any("\n" in n for n in stored)
    assert (srv.home() / "up" / "ok2").read_bytes() == b"2"
    scp(srv, env, key, up / "ok1", remote("after"))
    assert (srv.home() / "after").read_bytes() == b"1"


def test_upload_over_quota_keeps_the_complete_file(make_srv, tmp_path, env, client_keys):  # noqa: F811,E501
    srv = make_srv(quota_bytes=1 * MiB)
    key = client_keys[0]
    small = tmp_path / "small"
    small.write_bytes(os.urandom(512 * 1024))
    scp(srv, env, key, small, remote("keep.bin"))
    big = tmp_path / "big"
    big.write_bytes(os.urandom(2 * MiB))
    r = scp(srv, env, key, big, remote("keep.bin"), check=False)
    assert r.returncode == 1, describe(r)
    assert "quota" in r.stderr.lower(), describe(r)
    assert sha256_file(srv.home() / "keep.bin") == sha256_file(small)
    assert sorted(os.listdir(srv.home())) == ["keep.bin"]
    # The session's next upload still works.
    r = scp(srv, env, key, small, remote("second.bin"), check=False)
    assert (srv.home() / "second.bin").read_bytes() == small.read_bytes()
    assert r.returncode == 0


def test_paths_outside_the_jail(srv, tmp_path, env, client_keys):  # noqa: F811
    key = client_keys[0]
    for i, path in enumerate(["/etc/passwd", "../../../../etc/passwd", "/../etc/passwd"]):
        out = tmp_path / ("passwd%d" % i)
        r = scp(srv, env, key, remote(path), out, check=False)
        assert r.returncode == 1, describe(r)
        assert not out.exists()
    before = outside_files(srv)
    src = tmp_path / "x"
    src.write_bytes(b"x")
    for target in ("/../../escape.bin", "../bob/escape.bin"):
        scp(srv, env, key, src, remote(target), check=False)
    assert outside_files(srv) == before
    assert not list(srv.home("bob").iterdir())
    # ".." stops at the home: what landed is inside it.
    assert (srv.home() / "escape.bin").read_bytes() == b"x"
    for found in srv.home().rglob("escape.bin"):
        assert found.read_bytes() == b"x"
    # The jail's /etc/passwd is the home's etc/passwd.
    (srv.home() / "etc").mkdir()
    (srv.home() / "etc" / "passwd").write_bytes(b"jailed")
    out = tmp_path / "jailed"
    scp(srv, env, key, remote("/../etc/passwd"), out)
    assert out.read_bytes() == b"jailed"


def test_missing_file_gives_scps_error_and_status_1(srv, tmp_path, env, client_keys):  # noqa: F811
    out = tmp_path / "out"
    r = scp(srv, env, client_keys[0], remote("nothere.bin"), out, check=False)
    assert r.returncode == 1, describe(r)
    assert "scp: /nothere.bin: No such file" in r.stderr, describe(r)
    assert not out.exists()
    # A directory without -r is not a regular file.
    (srv.home() / "dir").mkdir()
    r = scp(srv, env, client_keys[0], remote("dir"), out, check=False)
    assert r.returncode == 1 and "not a regular file" in r.stderr, describe(r)


def test_cut_upload_keeps_the_previous_file(srv, tmp_path, env, client_keys):  # noqa: F811
    old = os.urandom(MiB)
    (srv.home() / "victim.bin").write_bytes(old)
    src = tmp_path / "new.bin"
    src.write_bytes(os.urandom(64 * MiB))
    # -l: 8 Mbit/s, so that the upload is still running when it is killed.
    argv = scp_o(srv, client_keys[0], src, remote("victim.bin"), extra=("-q", "-l", "8000"))
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        def staged():
            return [p for p in srv.home().iterdir() if p.name != "victim.bin"
                    and p.stat().st_size >= 256 * 1024]
        assert wait_until(lambda: staged(), 60), os.listdir(srv.home())
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    # The server notices the closed connection and discards the partial upload.
    assert wait_until(lambda: os.listdir(srv.home()) == ["victim.bin"],
                      30), os.listdir(srv.home())
    assert (srv.home() / "victim.bin").read_bytes() == old
