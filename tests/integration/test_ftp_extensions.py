"""Issue 18: what FTP clients send besides RFC 959 and berth refused with 500:
SITE (CHMOD, UTIME, SYMLINK) as its own table, name patterns in NLST and LIST,
the X* hash verbs, AVBL, CLNT, LANG and MFF's harmless facts; and the space a
quota leaves, the same for FTP's AVBL and SFTP's statvfs (sshfs `df`). Each
with the client that sends it: lftp, curl, tnftp, ncftp, ftplib, paramiko, sshfs."""

import calendar
import ftplib
import hashlib
import os
import re
import shutil
import stat
import subprocess
import zlib

import pytest

from ftphelpers import MiB, cmd, listing, sshfs_mounted
from test_clients import client_env, curl, lftp, url  # noqa: F401 - client_env is a fixture
from test_sftp import SSH_OPTS, connect, keygen

import paramiko  # a test dependency (scripts/install-deps.sh --test): its absence fails

TNFTP = shutil.which("tnftp")
NCFTPPUT = shutil.which("ncftpput")
RUN_TIMEOUT = 120


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def utc(*t):
    return calendar.timegm(t + (0, 0, 0))


def tnftp(server, client_env, script, cwd):
    """tnftp without auto-login or prompts, fed `script` on stdin."""
    assert TNFTP, "tnftp is not installed (scripts/install-deps.sh --test)"
    text = "open 127.0.0.1 %d\nuser alice %s\nbinary\n%s\nquit\n" % (
        server.port, server.users["alice"]["password"], script)
    r = subprocess.run([TNFTP, "-n", "-i", "-p", "-v"], input=text.encode(), capture_output=True,
                       timeout=RUN_TIMEOUT, env=client_env, cwd=cwd)
    assert r.returncode == 0, "tnftp failed rc=%d %s %s" % (r.returncode, r.stdout, r.stderr)
    return r.stdout.decode(errors="replace")


# ------------------------------------------------------------------ SITE

def test_site_help_lists_the_subcommands(ftp):
    for line in ("SITE HELP", "HELP SITE"):
        code, text = cmd(ftp, line)
        assert code == 214, text
        for sub in ("CHMOD", "UTIME", "SYMLINK"):
            assert "SITE " + sub in text, text
    code, text = cmd(ftp, "SITE FROBNICATE x")
    assert code == 500 and "Unknown SITE command FROBNICATE" in text, text
    assert cmd(ftp, "SITE")[0] == 501


def test_site_chmod_ftplib_and_bad_input(server, ftp):
    p = server.home() / "f.txt"
    p.write_bytes(b"x")
    os.chmod(p, 0o644)
    assert cmd(ftp, "SITE CHMOD 600 f.txt")[0] == 200
    assert mode_of(p) == 0o600
    # Bad modes, set-id bits, a missing path: a clear reply, nothing changed.
    for line, code in (("SITE CHMOD 999 f.txt", 501), ("SITE CHMOD rw f.txt", 501),
                       ("SITE CHMOD 4755 f.txt", 504), ("SITE CHMOD 1777 f.txt", 504),
                       ("SITE CHMOD 644", 501), ("SITE CHMOD 644 missing.txt", 550)):
        got, text = cmd(ftp, line)
        assert got == code, (line, text)
        assert mode_of(p) == 0o600, line


def test_site_chmod_lftp(server, client_env):
    p = server.home() / "l.txt"
    p.write_bytes(b"lftp")
    os.chmod(p, 0o644)
    lftp(server, client_env, "chmod 640 /l.txt")
    assert mode_of(p) == 0o640


def test_lftp_mirror_upload_keeps_modes(server, client_env, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    files = {"private.txt": 0o600, "script.sh": 0o750, "sub/shared.txt": 0o644}
    for name, mode in files.items():
        (src / name).write_bytes(os.urandom(1000) + name.encode())
        os.chmod(src / name, mode)
    lftp(server, client_env, "mirror -R %s /up" % src)
    for name, mode in files.items():
        dest = server.home() / "up" / name
        assert dest.read_bytes() == (src / name).read_bytes()
        assert mode_of(dest) == mode, (name, oct(mode_of(dest)))


def test_curl_quote_site_chmod(server, client_env):
    p = server.home() / "f"
    p.write_bytes(b"curl")
    os.chmod(p, 0o644)
    curl(server, client_env, "-Q", "SITE CHMOD 640 f", url(server))
    assert mode_of(p) == 0o640


def test_tnftp_chmod(server, client_env, tmp_path):
    p = server.home() / "t.txt"
    p.write_bytes(b"tnftp")
    os.chmod(p, 0o644)
    out = tnftp(server, client_env, "chmod 604 t.txt\nsite chmod 600 t.txt", tmp_path)
    assert "200" in out, out
    assert mode_of(p) == 0o600


def test_site_utime_both_forms(server, ftp):
    p = server.home() / "u.txt"
    p.write_bytes(b"u")
    code, text = cmd(ftp, "SITE UTIME 20200102030405 u.txt")
    assert code == 200, text
    st = os.stat(p)
    assert int(st.st_mtime) == utc(2020, 1, 2, 3, 4, 5) == int(st.st_atime)
    # The five-argument form: path (spaces allowed), atime, mtime, ctime, UTC.
    q = server.home() / "a b.txt"
    q.write_bytes(b"q")
    code, text = cmd(ftp, "SITE UTIME a b.txt 20210101000000 20190607080910 20190607080910 UTC")
    assert code == 200, text
    st = os.stat(q)
    assert int(st.st_mtime) == utc(2019, 6, 7, 8, 9, 10)
    assert int(st.st_atime) == utc(2021, 1, 1, 0, 0, 0)
    assert cmd(ftp, "MDTM a b.txt")[1].startswith("213 20190607080910")


def test_site_utime_bad_input_changes_nothing(server, ftp):
    p = server.home() / "u.txt"
    p.write_bytes(b"u")
    os.utime(p, (utc(2000, 1, 1, 0, 0, 0),) * 2)
    for line in ("SITE UTIME 20201301000000 u.txt", "SITE UTIME 2020 u.txt",
                 "SITE UTIME notadate u.txt", "SITE UTIME 20200102030405",
                 "SITE UTIME u.txt 20210101000000 2019xx07080910 20190607080910 UTC",
                 "SITE UTIME"):
        code, text = cmd(ftp, line)
        assert code == 501, (line, text)
    assert cmd(ftp, "SITE UTIME 20200102030405 missing.txt")[0] == 550
    assert int(os.stat(p).st_mtime) == utc(2000, 1, 1, 0, 0, 0)


def test_site_symlink_stays_in_the_jail(server, ftp):
    home = server.home()
    (home / "dir").mkdir()
    (home / "dir" / "target.txt").write_bytes(b"t")
    assert cmd(ftp, "SITE SYMLINK dir/target.txt link.txt")[0] == 200
    assert os.readlink(home / "link.txt") == "dir/target.txt"
    assert (home / "link.txt").read_bytes() == b"t"
    # A target above the root is the root's own path: the link never leaves it.
    assert cmd(ftp, "SITE SYMLINK ../../../../etc/passwd esc")[0] == 200
    assert os.path.realpath(home / "esc") == str(home / "etc" / "passwd")
    assert cmd(ftp, "SITE SYMLINK dir/target.txt link.txt")[0] == 550  # exists
    assert cmd(ftp, "SITE SYMLINK onlyone")[0] == 501


def test_site_needs_the_users_permissions(start_server):
    """SITE goes through the vfs rules: chmod for CHMOD and UTIME, symlink for SYMLINK."""
    srv = start_server(listen=("127.0.0.1:0",), user_rules={"alice": {"permissions": [
        "list", "download", "upload", "overwrite", "delete", "rename", "mkdir", "rmdir"]}})
    p = srv.home() / "f.txt"
    p.write_bytes(b"x")
    os.chmod(p, 0o644)
    os.utime(p, (utc(2000, 1, 1, 0, 0, 0),) * 2)
    f = srv.login("alice")
    try:
        for line in ("SITE CHMOD 600 f.txt", "SITE UTIME 20200102030405 f.txt",
                     "SITE SYMLINK f.txt l"):
            code, text = cmd(f, line)
            assert code == 550, (line, text)
    finally:
        f.quit()
    assert mode_of(p) == 0o644 and int(os.stat(p).st_mtime) == utc(2000, 1, 1, 0, 0, 0)
    assert not os.path.lexists(srv.home() / "l")


# ------------------------------------------------------------------ patterns

@pytest.fixture
def names(server):
    home = server.home()
    for n in ("a1.txt", "ab.txt", "abc.txt", "b.txt", "c.log", ".hidden.txt"):
        (home / n).write_bytes(n.encode() * 3)
    (home / "sub").mkdir()
    (home / "sub" / "s1.txt").write_bytes(b"s1")
    (home / "sub" / "s2.dat").write_bytes(b"s2")
    return home


def test_nlst_patterns(names, ftp):
    assert ftp.nlst("*.txt") == ["a1.txt", "ab.txt", "abc.txt", "b.txt"]
    assert ftp.nlst("a?.txt") == ["a1.txt", "ab.txt"]
    assert ftp.nlst("[ab]*") == ["a1.txt", "ab.txt", "abc.txt", "b.txt"]
    assert ftp.nlst("[!a]*") == ["b.txt", "c.log", "sub"]
    assert ftp.nlst("[a-b]?.txt") == ["a1.txt", "ab.txt"]
    assert ftp.nlst("sub/*.txt") == ["sub/s1.txt"]
    assert ftp.nlst("-a *.txt") == [".hidden.txt", "a1.txt", "ab.txt", "abc.txt", "b.txt"]
    assert ftp.nlst("*.none") == []
    # A bad pattern gets 501; a pattern in a directory part is not expanded.
    code, text, _ = listing(ftp, "NLST [ab")
    assert code == 501 and "pattern" in text, text
    code, text, _ = listing(ftp, "NLST s*/s1.txt")
    assert code == 550, text


def test_list_patterns_and_options(names, ftp):
    code, _, data = listing(ftp, "LIST *.log")
    assert code == 226
    lines = data.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("-") and lines[0].endswith(" c.log"), lines
    plain = listing(ftp, "LIST")[2].decode().splitlines()
    for opts in ("-a", "-l", "-la", "-al"):
        code, _, data = listing(ftp, "LIST " + opts)
        assert code == 226
        assert data.decode().splitlines() == plain, opts  # dotfiles are always listed
    assert any(l.endswith(" .hidden.txt") for l in plain), plain
    code, _, data = listing(ftp, "LIST -la sub")
    assert [l.split()[-1] for l in data.decode().splitlines()] == ["s1.txt", "s2.dat"]
    assert listing(ftp, "NLST -a")[2].decode().split() == ftp.nlst()


def test_a_literal_name_wins_over_the_pattern(names, ftp):
    (names / "*.txt").write_bytes(b"literal")
    assert ftp.nlst("*.txt") == ["*.txt"]
    (names / "[x]").write_bytes(b"bracket")
    assert ftp.nlst("[x]") == ["[x]"]
    code, text, _ = listing(ftp, "LIST [ab")
    assert code == 501, text  # neither a name nor a good pattern
    (names / "[ab").write_bytes(b"odd")
    assert ftp.nlst("[ab") == ["[ab"]


def test_tnftp_mget_star(names, server, client_env, tmp_path):
    out_dir = tmp_path / "mget"
    out_dir.mkdir()
    tnftp(server, client_env, "mget *", out_dir)
    got = sorted(p.name for p in out_dir.iterdir())
    # Regular files only (sub is a directory), no dotfile.
    assert got == ["a1.txt", "ab.txt", "abc.txt", "b.txt", "c.log"], got
    for n in got:
        assert (out_dir / n).read_bytes() == (names / n).read_bytes()


# ------------------------------------------------------------------ hash verbs

@pytest.fixture
def blob(server):
    data = os.urandom(300 * 1024 + 7)
    (server.home() / "blob.bin").write_bytes(data)
    (server.home() / "a b 10").write_bytes(data[:100])
    return data


def crc(data):
    return "%08x" % zlib.crc32(data)


def h(name, data):
    return hashlib.new(name, data).hexdigest()


@pytest.mark.parametrize("verb,fn", [("XCRC", crc), ("XMD5", lambda d: h("md5", d)),
                                     ("XSHA1", lambda d: h("sha1", d)),
                                     ("XSHA256", lambda d: h("sha256", d)),
                                     ("XSHA512", lambda d: h("sha512", d))])
def test_hash_verbs(blob, ftp, verb, fn):
    assert ftp.sendcmd("%s blob.bin" % verb) == "250 " + fn(blob)
    assert ftp.sendcmd("%s blob.bin 1000" % verb) == "250 " + fn(blob[1000:])
    assert ftp.sendcmd("%s blob.bin 1000 70000" % verb) == "250 " + fn(blob[1000:70000])
    assert ftp.sendcmd("%s /blob.bin 0 %d" % (verb, len(blob))) == "250 " + fn(blob)
    assert ftp.sendcmd('%s "blob.bin" 5 9' % verb) == "250 " + fn(blob[5:9])
    # A name ending in a number after a space is the name when it exists.
    assert ftp.sendcmd("%s a b 10" % verb) == "250 " + fn(blob[:100])
    assert ftp.sendcmd('%s "a b 10" 10' % verb) == "250 " + fn(blob[10:100])
    for line, code in (("%s missing.bin", 550), ("%s /", 550), ("%s", 501),
                       ('%s "blob.bin', 501), ('%s "blob.bin" x', 501),
                       ("%s blob.bin 10 5", 550), ("%s blob.bin %d" % ("%s", len(blob) + 1), 550)):
        got, text = cmd(ftp, line % verb)
        assert got == code, (line, text)


def test_hash_verbs_in_feat_and_zero_length(server, ftp):
    (server.home() / "empty").write_bytes(b"")
    assert ftp.sendcmd("XCRC empty") == "250 00000000"
    assert ftp.sendcmd("XMD5 empty") == "250 " + h("md5", b"")
    feats = [l.strip() for l in ftp.sendcmd("FEAT").splitlines()[1:-1]]
    for f in ("XCRC", "XMD5", "XSHA1", "XSHA256", "XSHA512", "AVBL", "CLNT", "LANG EN*"):
        assert f in feats, feats


def test_clnt_and_lang(server):
    f = ftplib.FTP()
    f.connect("127.0.0.1", server.port, timeout=30)
    try:
        assert f.sendcmd("CLNT Test-Client 1.0").startswith("200")
        assert f.sendcmd("LANG").startswith("200")
        f.login("alice", server.users["alice"]["password"])
        assert f.sendcmd("LANG EN").startswith("200")
        assert f.sendcmd("LANG en-US").startswith("200")
        assert cmd(f, "LANG FR")[0] == 504
        assert cmd(f, "LANG ENGLISH")[0] == 504
    finally:
        f.quit()
    assert "Test-Client 1.0" in server.stderr_text()


def test_mff_ignores_create(server, ftp):
    p = server.home() / "m.txt"
    p.write_bytes(b"m")
    os.chmod(p, 0o644)
    text = ftp.sendcmd("MFF Modify=20200102030405;Create=20100101000000; m.txt")
    assert text == "213 Modify=20200102030405; m.txt", text
    assert int(os.stat(p).st_mtime) == utc(2020, 1, 2, 3, 4, 5)
    text = ftp.sendcmd("MFF Create=20100101000000;UNIX.mode=0600;Lang=en; m.txt")
    assert text == "213 UNIX.mode=0600; m.txt", text
    assert mode_of(p) == 0o600
    # Nothing to apply, or a bad value of a fact berth sets: refused, nothing changed.
    assert cmd(ftp, "MFF Create=20100101000000; m.txt")[0] == 504
    assert cmd(ftp, "MFF Modify=2020;Create=20100101000000; m.txt")[0] == 501
    assert cmd(ftp, "MFF UNIX.mode=999; m.txt")[0] == 501
    assert cmd(ftp, "MFF UNIX.mode=0600;")[0] == 501
    assert int(os.stat(p).st_mtime) == utc(2020, 1, 2, 3, 4, 5) and mode_of(p) == 0o600


def test_ncftpput_keeps_the_modification_time(server, client_env, tmp_path):
    assert NCFTPPUT, "ncftp is not installed (scripts/install-deps.sh --test)"
    src = tmp_path / "n.bin"
    src.write_bytes(os.urandom(5000))
    os.utime(src, (utc(2019, 5, 6, 7, 8, 9),) * 2)
    r = subprocess.run([NCFTPPUT, "-d", str(tmp_path / "ncftp.log"), "-u", "alice", "-p",
                        server.users["alice"]["password"], "-P", str(server.port), "127.0.0.1",
                        "/", str(src)], capture_output=True, timeout=RUN_TIMEOUT, env=client_env,
                       stdin=subprocess.DEVNULL)
    log = (tmp_path / "ncftp.log").read_text(errors="replace")
    assert r.returncode == 0, (r.stdout, r.stderr, log[-3000:])
    dest = server.home() / "n.bin"
    assert dest.read_bytes() == src.read_bytes()
    # ncftp 3.2 sends "MFF Modify=..;Create=.. n.bin" (no ';' before the name)
    # and fell back to MFMT after a 501.
    mff = re.search(r"Cmd: MFF Modify=20190506070809;Create=\d+ n\.bin\n.*  (\d{3}): (.*)", log)
    assert mff and mff.group(1) == "213", log[-3000:]
    assert mff.group(2) == "Modify=20190506070809; n.bin", log[-3000:]
    assert "Cmd: MFMT" not in log, log[-3000:]
    assert int(os.stat(dest).st_mtime) == utc(2019, 5, 6, 7, 8, 9)


# ------------------------------------------------------------------ space

QUOTA = 8 * MiB


@pytest.fixture(scope="module")
def quota_key(tmp_path_factory):
    return keygen(tmp_path_factory.mktemp("quota-keys") / "alice")


@pytest.fixture
def quota_srv(start_server, quota_key):
    return start_server(listen=("127.0.0.1:0",), sftp={"listen": ["127.0.0.1:0"]},
                        authorized_keys={"alice": [quota_key[1]]},
                        user_rules={"alice": {"quota_bytes": QUOTA, "quota_files": 50}})


def test_avbl_without_a_quota(server, ftp):
    code, text = cmd(ftp, "AVBL")
    assert code == 213, text
    vfs = os.statvfs(server.home())
    total = vfs.f_blocks * vfs.f_frsize
    assert 0 < int(text.split()[1]) <= total
    (server.home() / "d").mkdir()
    assert cmd(ftp, "AVBL d")[0] == 213
    (server.home() / "f").write_bytes(b"x")
    assert cmd(ftp, "AVBL f")[0] == 550
    assert cmd(ftp, "AVBL missing")[0] == 550


def test_avbl_and_statvfs_show_the_quota(quota_srv, tmp_path):
    home = quota_srv.home()
    (home / "one.bin").write_bytes(os.urandom(MiB))
    f = ftplib.FTP()
    f.connect("127.0.0.1", quota_srv.port, timeout=30)
    f.login("alice", quota_srv.users["alice"]["password"])
    try:
        assert f.sendcmd("AVBL") == "213 %d" % (QUOTA - MiB)
        assert f.sendcmd("AVBL /") == "213 %d" % (QUOTA - MiB)
    finally:
        f.quit()
    c = connect(quota_srv)
    try:
        s = c.open_sftp()
        t, msg = s._request(paramiko.sftp.CMD_EXTENDED, "statvfs@openssh.com", "/")
        assert t == paramiko.sftp.CMD_EXTENDED_REPLY
        (bsize, frsize, blocks, bfree, bavail, files, ffree, favail, _, _, _) = [
            msg.get_int64() for _ in range(11)]
        assert blocks * frsize == QUOTA
        assert bavail * frsize == bfree * frsize == QUOTA - MiB
        assert (files, ffree, favail) == (50, 49, 49)
    finally:
        c.close()


def test_sshfs_df_shows_the_quota(quota_srv, quota_key, tmp_path, client_env):
    (quota_srv.home() / "two.bin").write_bytes(os.urandom(2 * MiB))
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    with sshfs_mounted(quota_srv, "alice", quota_key[0], mnt, SSH_OPTS, client_env):
        r = subprocess.run(["df", "-B1", "--output=size,avail", str(mnt)], capture_output=True,
                           text=True, timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    size, avail = (int(v) for v in r.stdout.splitlines()[1].split())
    assert (size, avail) == (QUOTA, QUOTA - 2 * MiB), r.stdout
