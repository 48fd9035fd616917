"""How uploads reach the disk, driven by real clients (issue 17): files being
written are visible to the client writing them (sshfs, paramiko), an
interrupted replace never replaces a complete file, uploads never make set-id
files, directories get the umask, what was allowed as new never replaces
anything, size changes need `overwrite`, moved links keep their target."""

import ftplib
import io
import os
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import time

import pytest

from ftphelpers import sshfs_mounted
from test_sftp import SSH_OPTS, keygen

import paramiko  # a test dependency (scripts/install-deps.sh --test): its absence fails

GIT = shutil.which("git")
RUN_TIMEOUT = 120
DEADLINE = 30  # seconds to wait for the server to act on a dropped connection


@pytest.fixture(scope="module")
def client_key(tmp_path_factory):
    return keygen(tmp_path_factory.mktemp("upload-keys") / "alice")


def start(start_server, client_key, permissions=None):
    rules = {"alice": {"permissions": permissions}} if permissions else None
    return start_server(listen=("127.0.0.1:0",), sftp={"listen": ["127.0.0.1:0"]},
                        authorized_keys={"alice": [client_key[1]]}, user_rules=rules)


@pytest.fixture
def srv(start_server, client_key):
    return start(start_server, client_key)


def sftp_session(srv):
    c = paramiko.SSHClient()
    c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    c.connect(hostname="127.0.0.1", port=srv.sftp_port, username="alice",
              password=srv.users["alice"]["password"], timeout=30, banner_timeout=30,
              auth_timeout=30, allow_agent=False, look_for_keys=False)
    s = c.open_sftp()
    s.get_channel().settimeout(30)
    s.ssh_client = c
    return s


def close(s):
    s.close()
    s.ssh_client.close()


def ftp_session(srv):
    f = ftplib.FTP(timeout=15)
    f.connect(srv.host, srv.port)
    f.login("alice", srv.users["alice"]["password"])
    f.voidcmd("TYPE I")
    return f


def temp_names(directory):
    return [n for n in os.listdir(directory) if n.startswith(".berth-upload-")]


def wait_for(predicate, what):
    deadline = time.monotonic() + DEADLINE
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


# ------------------------------------------------------------ item 3: paramiko

@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
def test_paramiko_sees_the_file_it_is_writing(srv, existing):
    home = srv.home()
    if existing:
        (home / "f.txt").write_bytes(b"complete old content")
    s = sftp_session(srv)
    other = sftp_session(srv)
    try:
        f = s.open("f.txt", "w")  # SSH_FXF_CREAT | TRUNC | WRITE
        f.write(b"abc")
        f.flush()
        assert s.stat("f.txt").st_size == 3
        assert s.lstat("f.txt").st_size == 3
        with s.open("f.txt", "r") as r:
            assert r.read() == b"abc"
        if existing:
            # Everyone else still sees the complete old file until the close.
            assert other.stat("f.txt").st_size == len(b"complete old content")
            assert (home / "f.txt").read_bytes() == b"complete old content"
        f.write(b"def")
        f.close()
        assert (home / "f.txt").read_bytes() == b"abcdef"
        assert other.stat("f.txt").st_size == 6
        assert temp_names(home) == []
    finally:
        close(other)
        close(s)


UPLOADER = r"""
import os, sys, paramiko
port, password = int(sys.argv[1]), sys.argv[2]
c = paramiko.SSHClient()
c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
c.connect("127.0.0.1", port=port, username="alice", password=password,
          allow_agent=False, look_for_keys=False, timeout=30)
s = c.open_sftp()
f = s.open("big.bin", "w")
f.write(b"P" * 300000)
f.flush()
s.stat("big.bin")
print("written", flush=True)
sys.stdin.readline()
"""


def test_kill9_of_the_client_mid_replace_keeps_the_old_file(srv, tmp_path):
    home = srv.home()
    old = os.urandom(1 << 20)
    (home / "big.bin").write_bytes(old)
    script = tmp_path / "uploader.py"
    script.write_text(UPLOADER)
    p = subprocess.Popen([sys.executable, str(script), str(srv.sftp_port),
                          srv.users["alice"]["password"]],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "written"
        assert len(temp_names(home)) == 1  # the replacement is staged
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
    wait_for(lambda: temp_names(home) == [], "the staged upload was not discarded")
    assert (home / "big.bin").read_bytes() == old


def test_kill9_of_the_server_mid_replace_keeps_the_old_file(start_server, client_key, home_kind):
    srv = start(start_server, client_key)
    srv.expect_exit = True
    home = srv.home()
    old = os.urandom(1 << 20)
    (home / "big.bin").write_bytes(old)
    s = sftp_session(srv)
    f = s.open("big.bin", "w")
    f.write(b"P" * 300000)
    f.flush()
    srv.proc.kill()
    srv.proc.wait(timeout=30)
    assert (home / "big.bin").read_bytes() == old
    s.ssh_client.close()


# -------------------------------------------------------------- item 3: sshfs

@pytest.fixture
def mount(srv, client_key, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["HOME"] = str(tmp_path)
    with sshfs_mounted(srv, "alice", client_key[0], mnt, SSH_OPTS, env):
        yield mnt


def sh(command, cwd, env=None):
    r = subprocess.run(["sh", "-c", command], cwd=cwd, capture_output=True, text=True,
                       timeout=RUN_TIMEOUT, env=env, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, "%s: rc=%s\n%s%s" % (command, r.returncode, r.stdout, r.stderr)
    return r.stdout


def test_sshfs_shell_redirection_and_python_open(srv, mount):
    home = srv.home()
    sh("echo hello > new.txt", mount)
    assert (home / "new.txt").read_bytes() == b"hello\n"
    sh("echo replaced > new.txt && cat new.txt", mount)
    assert (home / "new.txt").read_bytes() == b"replaced\n"
    sh("echo more >> new.txt", mount)
    assert (home / "new.txt").read_bytes() == b"replaced\nmore\n"
    with open(mount / "py.txt", "w") as f:
        f.write("from python")
    assert (home / "py.txt").read_text() == "from python"
    with open(mount / "py.txt", "w") as f:
        f.write("again")
    assert (home / "py.txt").read_text() == "again"


def test_sshfs_git_init_and_commit(srv, mount, tmp_path):
    if GIT is None:
        pytest.fail("git is not installed (scripts/install-deps.sh --test)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(HOME=str(tmp_path), GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org")
    repo = mount / "repo"
    repo.mkdir()
    sh("git init -q . && echo one > a.txt && git add a.txt && git commit -q -m first"
       " && echo two > a.txt && git commit -q -am second", repo, env)
    assert sh("git log --format=%s", repo, env).split() == ["second", "first"]
    assert (srv.home() / "repo" / "a.txt").read_bytes() == b"two\n"
    r = subprocess.run([GIT, "-C", str(srv.home() / "repo"), "fsck", "--strict"],
                       capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env)
    assert r.returncode == 0, r.stderr


def test_sshfs_tar_x(srv, mount, tmp_path):
    files = {"t/a.bin": os.urandom(200000), "t/d/b.txt": b"b" * 10, "t/empty": b""}
    archive = tmp_path / "t.tar"
    with tarfile.open(archive, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o640
            tar.addfile(info, io.BytesIO(data))
    # --no-same-owner: as root, tar would chown, and SFTP owners are not changed.
    sh("tar --no-same-owner -xf %s && tar --no-same-owner -xf %s" % (archive, archive),
       mount)  # the second replaces
    for name, data in files.items():
        assert (srv.home() / name).read_bytes() == data, name


# --------------------------------------------------------- item 10: set-id bits

def test_uploads_over_a_setuid_file_drop_the_bit(srv):
    home = srv.home()
    target = home / "tool"

    def reset():
        target.write_bytes(b"#!/bin/sh\necho original\n")
        os.chmod(target, 0o6755)

    def mode():
        return stat.S_IMODE(os.stat(target).st_mode)

    f = ftp_session(srv)
    try:
        reset()
        f.storbinary("STOR tool", io.BytesIO(b"uploaded"))
        assert mode() == 0o755
        reset()
        f.storbinary("APPE tool", io.BytesIO(b"appended"))
        assert mode() == 0o755
    finally:
        f.quit()
    s = sftp_session(srv)
    try:
        reset()
        with s.open("tool", "w") as w:
            w.write(b"uploaded")
        assert mode() == 0o755
        reset()
        with s.open("tool", "r+") as w:
            w.write(b"in place")
        assert mode() == 0o755
    finally:
        close(s)
    assert target.read_bytes() == b"in place" + b"#!/bin/sh\necho original\n"[8:]


def test_mff_refuses_set_id_modes(srv):
    home = srv.home()
    (home / "f.txt").write_bytes(b"x")
    os.chmod(home / "f.txt", 0o644)
    f = ftp_session(srv)
    try:
        with pytest.raises(ftplib.error_perm, match="^504"):
            f.sendcmd("MFF UNIX.mode=4777; f.txt")
        assert stat.S_IMODE(os.stat(home / "f.txt").st_mode) == 0o644
        assert f.sendcmd("MFF UNIX.mode=0600; f.txt").startswith("213 UNIX.mode=0600;")
        assert stat.S_IMODE(os.stat(home / "f.txt").st_mode) == 0o600
    finally:
        f.quit()


# ---------------------------------------------------------- item 11: the umask

def test_sftp_mkdir_gets_the_umask_as_files_do(srv):
    umask = os.umask(0)
    os.umask(umask)
    s = sftp_session(srv)
    try:
        s.mkdir("d", 0o777)
        with s.open("f", "w") as f:
            f.chmod  # noqa: B018 - the file's mode comes from the open
        s.mkdir("narrow", 0o700)
    finally:
        close(s)
    home = srv.home()
    assert stat.S_IMODE(os.stat(home / "d").st_mode) == 0o777 & ~umask
    assert stat.S_IMODE(os.stat(home / "narrow").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(home / "f").st_mode) == 0o666 & ~umask


# ------------------------------------------------------ items 12, 13: no overwrite

NO_OVERWRITE = ["list", "download", "upload", "delete", "rename", "mkdir", "rmdir", "chmod"]


def test_upload_allowed_as_new_never_replaces(start_server, client_key):
    srv = start(start_server, client_key, NO_OVERWRITE)
    home = srv.home()
    a, b = sftp_session(srv), sftp_session(srv)
    try:
        first = a.open("x", "w")
        first.write(b"first")
        first.flush()
        # The name exists now: a second upload of it needs `overwrite`.
        with pytest.raises(IOError):
            with b.open("x", "w") as second:
                second.write(b"second, complete")
        first.close()
        assert (home / "x").read_bytes() == b"first"
        # SSH_FXP_RENAME never replaces; posix-rename needs `overwrite` to.
        (home / "y").write_bytes(b"y")
        with pytest.raises(IOError):
            a.rename("x", "y")
        with pytest.raises(IOError):
            a.posix_rename("x", "y")
        assert (home / "y").read_bytes() == b"y"
        a.rename("x", "z")
        assert (home / "z").read_bytes() == b"first"
    finally:
        close(a)
        close(b)


def test_size_changes_need_overwrite(start_server, client_key):
    srv = start(start_server, client_key, NO_OVERWRITE)
    home = srv.home()
    (home / "f.txt").write_bytes(b"precious content")
    s = sftp_session(srv)
    try:
        with pytest.raises(PermissionError):
            s.truncate("f.txt", 3)
        with pytest.raises(PermissionError):
            s.truncate("f.txt", 100)
        s.chmod("f.txt", 0o600)  # chmod alone is still allowed
    finally:
        close(s)
    assert (home / "f.txt").read_bytes() == b"precious content"


def test_renaming_onto_an_empty_directory_needs_rmdir(start_server, client_key):
    perms = [p for p in NO_OVERWRITE if p != "rmdir"] + ["overwrite"]
    srv = start(start_server, client_key, perms)
    home = srv.home()
    (home / "src").mkdir()
    (home / "src" / "f").write_bytes(b"f")
    (home / "empty").mkdir()
    s = sftp_session(srv)
    try:
        with pytest.raises(PermissionError):
            s.posix_rename("src", "empty")
    finally:
        close(s)
    f = ftp_session(srv)
    try:
        f.sendcmd("RNFR src")
        with pytest.raises(ftplib.error_perm, match="^550"):
            f.sendcmd("RNTO empty")
    finally:
        f.quit()
    assert (home / "empty").is_dir() and not os.listdir(home / "empty")
    assert (home / "src" / "f").read_bytes() == b"f"


# ------------------------------------------------------------- item 15: links

def test_moved_symlink_keeps_its_target_on_the_host(srv):
    home = srv.home()
    (home / "etc").mkdir()
    (home / "etc" / "shadow").write_bytes(b"the jailed one")
    s = sftp_session(srv)
    try:
        s.mkdir("a")
        s.mkdir("a/b")
        s.symlink("/etc/shadow", "/a/b/l")
        s.rename("/a/b/l", "/l")
        assert s.open("/l").read() == b"the jailed one"
        # hardlink@openssh.com of a symlink would carry its text elsewhere.
        with pytest.raises(IOError):
            s._request(paramiko.sftp.CMD_EXTENDED, "hardlink@openssh.com", "/l", "/a/hl")
    finally:
        close(s)
    # Any process on the host following the link reaches the same file.
    assert os.path.realpath(home / "l") == str((home / "etc" / "shadow").resolve())
    assert not os.path.lexists(home / "a" / "hl")
