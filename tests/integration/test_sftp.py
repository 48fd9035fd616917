"""SFTP integration tests: authentication, transfers, file operations and the
home-directory jail, driven by OpenSSH's `sftp`/`ssh` in batch mode and by
paramiko for password logins and fine-grained checks."""

import os
import socket
import stat
import subprocess

import pytest

from ftphelpers import sha256_file

import paramiko  # a test dependency (scripts/install-deps.sh --test): its absence fails

SSH_TIMEOUT = 30
SSH_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR"]


def keygen(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test-key",
                    "-f", str(path)], check=True, timeout=30,
                   stdin=subprocess.DEVNULL, capture_output=True)
    return path, path.with_name(path.name + ".pub").read_text().strip()


@pytest.fixture(scope="session")
def keys(tmp_path_factory):
    """Two ed25519 key pairs: "alice" (authorized) and "stranger" (not)."""
    d = tmp_path_factory.mktemp("sshkeys")
    return {name: keygen(d / name) for name in ("alice", "stranger")}


@pytest.fixture
def sftp_server(start_server, keys):
    """berth with an [sftp] listener on 127.0.0.1; alice has a password and
    her public key, bob only a password."""
    return start_server(listen=("127.0.0.1:0",), sftp={"listen": ["127.0.0.1:0"]},
                        authorized_keys={"alice": [keys["alice"][1]]})


def run_sftp(srv, tmp_path, commands, key=None, user="alice", check=True,
             timeout=SSH_TIMEOUT * 4):
    """Run OpenSSH sftp in batch mode; return the CompletedProcess."""
    batch = tmp_path / "batch.txt"
    batch.write_text("".join(c + "\n" for c in commands))
    key = key or srv.test_keys["alice"][0]
    r = subprocess.run(["sftp", "-b", str(batch), "-i", str(key)] + SSH_OPTS +
                       ["-P", str(srv.sftp_port), "%s@127.0.0.1" % user],
                       capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL, cwd=str(tmp_path))
    if check:
        assert r.returncode == 0, "sftp failed rc=%s\nstdout=%s\nstderr=%s" % (
            r.returncode, r.stdout, r.stderr)
    return r


def connect(srv, user="alice", password=None, key=None):
    """paramiko SSHClient logged in with a password (default) or key file."""
    c = paramiko.SSHClient()
    c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    kw = dict(hostname="127.0.0.1", port=srv.sftp_port, username=user,
              timeout=SSH_TIMEOUT, banner_timeout=SSH_TIMEOUT, auth_timeout=SSH_TIMEOUT,
              allow_agent=False, look_for_keys=False)
    if key is not None:
        kw["key_filename"] = str(key)
    else:
        kw["password"] = password if password is not None else srv.users[user]["password"]
    c.connect(**kw)
    return c


@pytest.fixture
def psftp(sftp_server, keys):
    """(server, paramiko SFTPClient logged in as alice by password)."""
    sftp_server.test_keys = keys
    c = connect(sftp_server)
    s = c.open_sftp()
    s.get_channel().settimeout(SSH_TIMEOUT)
    yield sftp_server, s
    s.close()
    c.close()


@pytest.fixture
def srv(sftp_server, keys):
    sftp_server.test_keys = keys
    return sftp_server


# ------------------------------------------------------------ startup / auth

def test_startup_lines(srv):
    assert srv.sftp_port and srv.sftp_listeners == [("127.0.0.1", srv.sftp_port)]
    types = [t for t, _ in srv.ssh_host_keys]
    assert "ssh-ed25519" in types
    assert (srv.state_dir / "ssh").is_dir() and any((srv.state_dir / "ssh").iterdir())


def test_pubkey_login_openssh(srv, tmp_path):
    r = run_sftp(srv, tmp_path, ["pwd"])
    assert "Remote working directory: /" in r.stdout


def test_pubkey_login_paramiko(srv):
    c = connect(srv, key=srv.test_keys["alice"][0])
    try:
        s = c.open_sftp()
        assert s.normalize(".") == "/"
        s.close()
    finally:
        c.close()


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_password_login(srv, user, home_kind):
    c = connect(srv, user=user)
    try:
        s = c.open_sftp()
        s.get_channel().settimeout(SSH_TIMEOUT)
        with s.open("hello.txt", "wb") as f:
            f.write(b"hi " + user.encode())
        s.close()
    finally:
        c.close()
    assert (srv.home(user) / "hello.txt").read_bytes() == b"hi " + user.encode()


def test_wrong_password_refused(srv):
    with pytest.raises(paramiko.AuthenticationException):
        connect(srv, password="not-the-password")
    # the server keeps serving afterwards
    connect(srv).close()


def test_password_of_other_user_refused(srv):
    with pytest.raises(paramiko.AuthenticationException):
        connect(srv, user="alice", password=srv.users["bob"]["password"])


def test_unknown_user_refused(srv):
    with pytest.raises(paramiko.AuthenticationException):
        connect(srv, user="mallory", password="whatever")


def test_unauthorized_key_refused(srv, tmp_path):
    r = run_sftp(srv, tmp_path, ["pwd"], key=srv.test_keys["stranger"][0], check=False)
    assert r.returncode != 0
    assert "Remote working directory" not in r.stdout
    with pytest.raises(paramiko.AuthenticationException):
        connect(srv, key=srv.test_keys["stranger"][0])
    # bob has no keys at all
    with pytest.raises(paramiko.AuthenticationException):
        connect(srv, user="bob", key=srv.test_keys["alice"][0])


def test_key_only_user(start_server, keys, tmp_path):
    srv = start_server(listen=("127.0.0.1:0",), sftp={"listen": ["127.0.0.1:0"]},
                       authorized_keys={"alice": [keys["alice"][1]]}, no_password=("alice",))
    srv.test_keys = keys
    assert "password" not in srv.config_text.split("name = \"alice\"")[1].split("[[user]]")[0]
    r = run_sftp(srv, tmp_path, ["pwd"])
    assert "Remote working directory: /" in r.stdout
    for pw in ("", srv.users["alice"]["password"]):
        with pytest.raises(paramiko.AuthenticationException):
            connect(srv, password=pw)


# ------------------------------------------------------------ transfers

@pytest.mark.parametrize("name", ["0B", "1MiB", "100MiB"])
def test_put_get_roundtrip(srv, tmp_path, payloads, name, home_kind):
    p = payloads[name]
    back = tmp_path / "back.bin"
    run_sftp(srv, tmp_path, ["put %s up.bin" % p.path, "get up.bin %s" % back])
    stored = srv.home() / "up.bin"
    assert stored.stat().st_size == p.size
    assert sha256_file(stored) == p.sha256
    assert back.stat().st_size == p.size
    assert sha256_file(back) == p.sha256


def test_paramiko_put_get_1mib(psftp, tmp_path, payloads, home_kind):
    srv, s = psftp
    p = payloads["1MiB"]
    attrs = s.put(str(p.path), "p.bin")
    assert attrs.st_size == p.size
    assert sha256_file(srv.home() / "p.bin") == p.sha256
    s.get("p.bin", str(tmp_path / "p.back"))
    assert sha256_file(tmp_path / "p.back") == p.sha256


def test_get_missing_file_fails(psftp, home_kind):
    _, s = psftp
    with pytest.raises(IOError):
        s.stat("nope.bin")
    with pytest.raises(IOError):
        s.open("nope.bin", "rb")


# ------------------------------------------------------------ listing

def test_ls_long(srv, tmp_path, home_kind):
    home = srv.home()
    (home / "file-a.txt").write_bytes(b"x" * 1234)
    (home / "subdir").mkdir()
    r = run_sftp(srv, tmp_path, ["ls -l"])
    lines = [l for l in r.stdout.splitlines() if not l.startswith("sftp>")]
    fa = [l for l in lines if l.endswith("file-a.txt")]
    sd = [l for l in lines if l.endswith("subdir")]
    assert len(fa) == 1 and len(sd) == 1, r.stdout
    assert fa[0].startswith("-") and " 1234 " in fa[0]
    assert sd[0].startswith("d")


def test_large_directory_listed_completely(psftp):
    srv, s = psftp
    d = srv.home() / "many"
    d.mkdir()
    names = {"f%05d" % i for i in range(2000)}
    for n in names:
        (d / n).touch()
    assert set(s.listdir("many")) == names
    attrs = s.listdir_attr("many")
    assert len(attrs) == 2000 and {a.filename for a in attrs} == names


def test_large_directory_openssh(srv, tmp_path):
    d = srv.home() / "many"
    d.mkdir()
    for i in range(2000):
        (d / ("g%05d" % i)).touch()
    r = run_sftp(srv, tmp_path, ["ls -1 many"])
    got = {os.path.basename(l.strip()) for l in r.stdout.splitlines()
           if l.strip() and not l.startswith("sftp>")}
    assert got == {"g%05d" % i for i in range(2000)}


# ------------------------------------------------------------ file operations

def test_mkdir_rmdir_rm(srv, tmp_path, home_kind):
    home = srv.home()
    (home / "victim.txt").write_bytes(b"bye")
    run_sftp(srv, tmp_path, ["mkdir newdir", "mkdir newdir/inner"])
    assert (home / "newdir" / "inner").is_dir()
    run_sftp(srv, tmp_path, ["rmdir newdir/inner", "rm victim.txt"])
    assert not (home / "newdir" / "inner").exists()
    assert not (home / "victim.txt").exists()
    assert (home / "newdir").is_dir()


def test_rmdir_nonempty_and_rm_missing_fail(psftp, home_kind):
    srv, s = psftp
    (srv.home() / "full").mkdir()
    (srv.home() / "full" / "x").write_bytes(b"1")
    with pytest.raises(IOError):
        s.rmdir("full")
    with pytest.raises(IOError):
        s.remove("missing")
    with pytest.raises(IOError):
        s.mkdir("full")
    assert (srv.home() / "full" / "x").exists()


def test_rename(psftp, home_kind):
    srv, s = psftp
    home = srv.home()
    (home / "a.txt").write_bytes(b"A")
    (home / "b.txt").write_bytes(b"B")
    # plain SFTP rename must not overwrite an existing file
    with pytest.raises(IOError):
        s.rename("a.txt", "b.txt")
    assert (home / "a.txt").read_bytes() == b"A"
    assert (home / "b.txt").read_bytes() == b"B"
    s.rename("a.txt", "c.txt")
    assert not (home / "a.txt").exists()
    assert (home / "c.txt").read_bytes() == b"A"


def test_posix_rename_replaces(psftp, home_kind):
    srv, s = psftp
    home = srv.home()
    (home / "a.txt").write_bytes(b"A")
    (home / "b.txt").write_bytes(b"B")
    s.posix_rename("a.txt", "b.txt")
    assert not (home / "a.txt").exists()
    assert (home / "b.txt").read_bytes() == b"A"


def test_rename_openssh(srv, tmp_path, home_kind):
    home = srv.home()
    (home / "old.txt").write_bytes(b"O")
    run_sftp(srv, tmp_path, ["rename old.txt new.txt"])
    assert (home / "new.txt").read_bytes() == b"O" and not (home / "old.txt").exists()


def test_symlink_readlink(psftp):
    srv, s = psftp
    home = srv.home()
    (home / "d").mkdir()
    (home / "d" / "target.txt").write_bytes(b"T")
    s.symlink("/d/target.txt", "link")
    host_target = os.readlink(home / "link")
    assert not os.path.isabs(host_target), host_target
    assert os.path.realpath(home / "link") == os.path.realpath(home / "d" / "target.txt")
    assert s.readlink("link") in ("/d/target.txt", "d/target.txt")
    with s.open("link", "rb") as f:
        assert f.read() == b"T"
    assert stat.S_ISLNK(s.lstat("link").st_mode)
    assert stat.S_ISREG(s.stat("link").st_mode)


def test_chmod(psftp):
    srv, s = psftp
    p = srv.home() / "m.txt"
    p.write_bytes(b"m")
    s.chmod("m.txt", 0o600)
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    s.chmod("m.txt", 0o644)
    assert stat.S_IMODE(p.stat().st_mode) == 0o644
    assert stat.S_IMODE(s.stat("m.txt").st_mode) == 0o644


def test_setstat_refuses_setuid_setgid_sticky(psftp):
    """Issue 17: SETSTAT applied 04755 as 0755 and answered OK. Such a request
    is now refused whole and says why (docs/SECURITY.md)."""
    srv, s = psftp
    p = srv.home() / "s.sh"
    p.write_bytes(b"#!/bin/sh\n")
    os.chmod(p, 0o640)
    os.utime(p, (1500000000, 1500000000))
    (srv.home() / "shared").mkdir(mode=0o755)
    for mode in (0o4755, 0o2755, 0o1777, 0o6777):
        with pytest.raises(PermissionError) as e:
            s.chmod("s.sh", mode)
        assert "setuid" in str(e.value), e.value
        with pytest.raises(PermissionError):
            s.chmod("shared", mode)
    # Refused whole: neither the mode nor the times of the same request change.
    attr = paramiko.SFTPAttributes()
    attr.st_mode = 0o4700
    attr.st_atime, attr.st_mtime = 1600000000, 1600000000
    with pytest.raises(PermissionError):
        s._request(paramiko.sftp.CMD_SETSTAT, "s.sh", attr)
    with s.open("s.sh", "rb") as f:
        with pytest.raises(PermissionError):
            f.chmod(0o4755)
    assert stat.S_IMODE(p.stat().st_mode) == 0o640 and p.stat().st_mtime == 1500000000
    assert stat.S_IMODE((srv.home() / "shared").stat().st_mode) == 0o755
    s.chmod("s.sh", 0o755)
    assert stat.S_IMODE(p.stat().st_mode) == 0o755


def test_attributes_carry_atime_and_owner(psftp, tmp_path):
    """Issue 17: atime was reported as mtime, uid and gid were never sent."""
    srv, s = psftp
    p = srv.home() / "t.bin"
    p.write_bytes(b"t" * 10)
    os.utime(p, (1500000000, 1600000000))
    host = p.stat()
    for st in (s.stat("t.bin"), s.lstat("t.bin"),
               next(a for a in s.listdir_attr(".") if a.filename == "t.bin")):
        assert (st.st_atime, st.st_mtime) == (1500000000, 1600000000)
        assert (st.st_uid, st.st_gid) == (host.st_uid, host.st_gid)
    with s.open("t.bin", "rb") as f:
        st = f.stat()
        assert (st.st_atime, st.st_uid, st.st_gid) == (1500000000, host.st_uid, host.st_gid)
    # The long name (OpenSSH's `ls -l`) names the user, not a host account.
    r = run_sftp(srv, tmp_path, ["ls -l"])
    line = next(l for l in r.stdout.splitlines() if l.endswith(" t.bin"))
    assert line.split()[2:4] == ["alice", "alice"], line


def test_stat_lstat(psftp):
    srv, s = psftp
    home = srv.home()
    (home / "f.bin").write_bytes(b"z" * 4321)
    os.utime(home / "f.bin", (1500000000, 1600000000))
    (home / "dir").mkdir()
    os.symlink("f.bin", home / "ln")
    st = s.stat("f.bin")
    assert st.st_size == 4321 and stat.S_ISREG(st.st_mode)
    assert st.st_mtime == 1600000000
    assert stat.S_ISDIR(s.stat("dir").st_mode)
    assert stat.S_ISLNK(s.lstat("ln").st_mode)
    assert s.stat("ln").st_size == 4321
    with s.open("f.bin", "rb") as f:
        assert f.stat().st_size == 4321


def test_df_statvfs(srv, tmp_path):
    r = run_sftp(srv, tmp_path, ["df"])
    lines = [l for l in r.stdout.splitlines() if not l.startswith("sftp>")]
    assert any("Size" in l and "Avail" in l for l in lines), r.stdout
    nums = [l.split() for l in lines if l.split() and l.split()[0].isdigit()]
    assert nums, r.stdout
    vfs = os.statvfs(srv.home())
    size_kib = int(nums[0][0])
    expect = vfs.f_blocks * vfs.f_frsize // 1024
    assert abs(size_kib - expect) <= max(expect // 100, 1024)


def test_realpath(psftp):
    srv, s = psftp
    (srv.home() / "a" / "b").mkdir(parents=True)
    assert s.normalize(".") == "/"
    assert s.normalize("a/b/..") == "/a"
    assert s.normalize("/a/./b") == "/a/b"
    assert s.normalize("../../..") == "/"
    s.chdir("a")
    assert s.getcwd() == "/a"
    assert s.normalize("b") == "/a/b"


# ------------------------------------------------------------ jail

def test_jail_dotdot_and_absolute(srv, tmp_path):
    r = run_sftp(srv, tmp_path, ["get ../../etc/passwd p1"], check=False)
    assert r.returncode != 0 and not (tmp_path / "p1").exists()
    r = run_sftp(srv, tmp_path, ["get /etc/passwd p2"], check=False)
    assert r.returncode != 0 and not (tmp_path / "p2").exists()


def test_jail_paramiko(psftp):
    srv, s = psftp
    for p in ("../../etc/passwd", "/etc/passwd", "/../etc/passwd", "../" * 20 + "etc/passwd"):
        with pytest.raises(IOError):
            s.open(p, "rb")
        with pytest.raises(IOError):
            s.stat(p)
    assert s.normalize("/..") == "/"


def test_jail_symlink_on_host_to_etc(psftp):
    srv, s = psftp
    os.symlink("/etc", srv.home() / "etclink")
    with pytest.raises(IOError):
        s.open("etclink/passwd", "rb")
    with pytest.raises(IOError):
        s.listdir("etclink")


def test_jail_symlink_created_via_sftp(psftp):
    srv, s = psftp
    home = srv.home()
    s.symlink("/etc", "etc-link")
    # the link's target "/etc" is interpreted inside the home: either it
    # points at <home>/etc or it cannot reach the host's /etc at all
    resolved = os.path.realpath(home / "etc-link")
    assert resolved.startswith(os.path.realpath(home) + os.sep), resolved
    with pytest.raises(IOError):
        s.open("etc-link/passwd", "rb")
    (home / "etc").mkdir()
    (home / "etc" / "passwd").write_bytes(b"fake")
    with s.open("etc-link/passwd", "rb") as f:
        assert f.read() == b"fake"


def test_jail_rename_outside(psftp, tmp_path):
    srv, s = psftp
    home = srv.home()
    (home / "keep.txt").write_bytes(b"K")
    outside = srv.home_root  # parent of alice's home
    for target in ("../escaped.txt", "/../escaped.txt", "../bob/escaped.txt"):
        try:
            s.rename("keep.txt", target)
        except IOError:
            pass
        assert not (outside / "escaped.txt").exists()
        assert not (outside / "bob" / "escaped.txt").exists()
        if not (home / "keep.txt").exists():
            # it may only have been clamped into the home
            found = list(home.rglob("escaped.txt"))
            assert found, "file vanished"
            found[0].rename(home / "keep.txt")
    assert (home / "keep.txt").read_bytes() == b"K"


# ------------------------------------------------------------ no shell / exec

def test_exec_refused_paramiko(srv):
    c = connect(srv)
    try:
        try:
            stdin, stdout, stderr = c.exec_command("id", timeout=SSH_TIMEOUT)
        except paramiko.SSHException:
            return  # channel request refused: fine
        try:
            out = stdout.read()
        except socket.timeout:
            out = b""
        assert b"uid=" not in out and out == b""
    finally:
        c.close()


def test_shell_refused_paramiko(srv):
    c = connect(srv)
    try:
        try:
            ch = c.invoke_shell()
        except paramiko.SSHException:
            return
        ch.settimeout(5)
        try:
            ch.send(b"id\n")
            data = ch.recv(4096)
        except (socket.timeout, OSError, EOFError):
            data = b""
        assert b"uid=" not in data
    finally:
        c.close()


def test_exec_refused_openssh(srv, tmp_path):
    r = subprocess.run(["ssh", "-i", str(srv.test_keys["alice"][0])] + SSH_OPTS +
                       ["-p", str(srv.sftp_port), "alice@127.0.0.1", "id"],
                       capture_output=True, text=True, timeout=SSH_TIMEOUT,
                       stdin=subprocess.DEVNULL)
    assert "uid=" not in r.stdout
    assert r.returncode != 0
