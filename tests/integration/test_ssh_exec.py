"""Commands without a shell (issue 18): an SSH "exec" request of md5sum,
sha1sum, sha256sum or sha512sum over files of the user's jail prints what
GNU coreutils prints, byte for byte (rclone hashes files over SFTP only this
way); pwd prints "/"; anything else gets exit status 127 and one line on
stderr. No shell ever runs."""

import hashlib
import os
import subprocess

import pytest

from test_sftp import SSH_OPTS, SSH_TIMEOUT
from test_sftp_clients import (client_keys, describe, env, host_keys, make_tree,  # noqa: F401
                               rclone, run, srv)

NAMES = ["a b.txt", "plain.bin", "it's.txt", "back\\slash.txt", "new\nline.txt", "cr\rname"]


def ssh(srv, client_keys, env, command):
    """OpenSSH ssh running `command`; bytes out, as the client got them."""
    return subprocess.run(["ssh", "-i", str(client_keys[0])] + SSH_OPTS +
                          ["-p", str(srv.sftp_port), "alice@127.0.0.1", command],
                          capture_output=True, timeout=SSH_TIMEOUT, env=env,
                          stdin=subprocess.DEVNULL)


def coreutils(home, argv):
    """The same command run here by coreutils, in the user's home."""
    return subprocess.run(argv, capture_output=True, timeout=SSH_TIMEOUT, cwd=str(home),
                          stdin=subprocess.DEVNULL, env={"LC_ALL": "C", "PATH": os.defpath})


def quote(name):
    return "'" + name.replace("'", "'\\''") + "'"


@pytest.fixture
def files(srv):
    home = srv.home("alice")
    for i, name in enumerate(NAMES):
        (home / name).write_bytes(os.urandom(1000 * i + 17))
    (home / "sub").mkdir()
    (home / "sub" / "x.bin").write_bytes(os.urandom(300000))
    return home


@pytest.mark.parametrize("program", ["md5sum", "sha1sum", "sha256sum", "sha512sum"])
def test_openssh_checksums_match_coreutils(srv, client_keys, env, files, program):
    args = [quote(n) for n in NAMES] + ["sub/x.bin", "/plain.bin"]
    r = ssh(srv, client_keys, env, " ".join([program] + args))
    # "/plain.bin" is the jail's root for berth; coreutils here gets the
    # home's path for it and prints the name berth printed.
    local = coreutils(files, [program] + NAMES + ["sub/x.bin", str(files / "plain.bin")])
    assert local.returncode == 0
    want = local.stdout.replace(str(files / "plain.bin").encode(), b"/plain.bin")
    assert r.returncode == 0, describe(r)
    assert r.stdout == want
    assert r.stderr == b""


def test_openssh_md5sum_unquoted_and_backslashed(srv, client_keys, env, files):
    r = ssh(srv, client_keys, env, "md5sum a\\ b.txt plain.bin")
    local = coreutils(files, ["md5sum", "a b.txt", "plain.bin"])
    assert r.returncode == 0, describe(r)
    assert r.stdout == local.stdout


def test_openssh_missing_file_as_coreutils_says(srv, client_keys, env, files):
    r = ssh(srv, client_keys, env, "md5sum nope plain.bin 'no pe' sub")
    local = coreutils(files, ["md5sum", "nope", "plain.bin", "no pe", "sub"])
    assert local.returncode == 1
    assert r.returncode == 1, describe(r)
    assert r.stdout == local.stdout
    assert r.stderr == local.stderr


def test_openssh_paths_outside_the_jail_are_not_read(srv, client_keys, env, files):
    for path in ("../../etc/passwd", "/etc/passwd", "../../../../../../etc/hostname"):
        r = ssh(srv, client_keys, env, "md5sum " + path)
        assert r.returncode == 1, describe(r)
        assert r.stdout == b""
        assert r.stderr == b"md5sum: %s: No such file or directory\n" % path.encode()


def test_openssh_pwd(srv, client_keys, env):
    r = ssh(srv, client_keys, env, "pwd")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"/\n", b"")


@pytest.mark.parametrize("command,name", [("sh -c id", "sh"), ("ls", "ls"), ("/bin/sh", "/bin/sh"),
                                          ("bash -i", "bash"), ("cat /etc/passwd", "cat")])
def test_openssh_other_commands_refused(srv, client_keys, env, command, name):
    r = ssh(srv, client_keys, env, command)
    assert r.returncode == 127, describe(r)
    assert r.stdout == b""
    assert r.stderr == b"berth: %s: command not found\n" % name.encode()


def test_openssh_shell_syntax_refused(srv, client_keys, env, files):
    r = ssh(srv, client_keys, env, "md5sum plain.bin; id")
    assert r.returncode == 2, describe(r)
    assert r.stdout == b""
    assert r.stderr == b"berth: shell syntax is not supported\n"


def test_openssh_shell_refused(srv, client_keys, env):
    """ssh without a command asks for a shell: there is none, and it says so."""
    r = subprocess.run(["ssh", "-T", "-i", str(client_keys[0])] + SSH_OPTS +
                       ["-p", str(srv.sftp_port), "alice@127.0.0.1"],
                       capture_output=True, timeout=SSH_TIMEOUT, env=env,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 1, describe(r)
    assert r.stdout == b""
    assert r.stderr.startswith(b"berth: there is no shell here"), r.stderr


RCLONE_FILES = {
    "a.txt": b"alpha\n",
    "empty.bin": b"",
    "with space.txt": os.urandom(100),
    "it's.bin": os.urandom(777),
    "sub/b.bin": os.urandom(100000),
    "sub/deeper/c.bin": os.urandom(3 * 1024 * 1024 + 1),
}


def test_rclone_hashes(srv, tmp_path, rclone):
    """rclone md5sum and sha1sum run the commands; their output is the
    files' digests (hashlib's). (rclone probes the commands once and saves
    them in its config file; rclone 1.60 answers "hash unsupported" for
    the files of the listing it probed in, whatever the server, so a first
    run of one file makes the probe.)"""
    make_tree(srv.home("alice") / "dir", RCLONE_FILES)
    r = rclone("md5sum", "berth:dir/a.txt")
    assert r.stdout == "%s  a.txt\n" % hashlib.md5(RCLONE_FILES["a.txt"]).hexdigest()
    for program, algo in (("md5sum", hashlib.md5), ("sha1sum", hashlib.sha1)):
        r = rclone(program, "berth:dir")
        got = {}
        for line in r.stdout.splitlines():
            digest, name = line.split("  ", 1)
            got[name] = digest
        assert got == {rel: algo(data).hexdigest() for rel, data in RCLONE_FILES.items()}, \
            describe(r)


def test_rclone_check_compares_hashes(srv, tmp_path, rclone):
    """rclone check without --download compares MD5s when both sides have
    them: a changed byte in a file of the same size and time is found."""
    src = tmp_path / "src"
    make_tree(src, RCLONE_FILES)
    make_tree(srv.home("alice") / "dir", RCLONE_FILES)
    mtime = 1600000000
    for rel in RCLONE_FILES:
        os.utime(src / rel, (mtime, mtime))
        os.utime(srv.home("alice") / "dir" / rel, (mtime, mtime))
    rclone("md5sum", "berth:dir/a.txt")  # the probe (test_rclone_hashes)
    r = rclone("check", "--combined", "-", str(src), "berth:dir")
    assert "0 differences found" in r.stderr, describe(r)
    assert "No common hash" not in r.stderr, describe(r)
    victim = srv.home("alice") / "dir" / "sub" / "b.bin"
    data = bytearray(victim.read_bytes())
    data[4321] ^= 0x01
    victim.write_bytes(bytes(data))
    os.utime(victim, (mtime, mtime))
    r = rclone("check", "--combined", "-", str(src), "berth:dir", check=False)
    assert r.returncode != 0 and "1 differences found" in r.stderr, describe(r)
    assert "* sub/b.bin" in r.stdout.splitlines(), describe(r)
