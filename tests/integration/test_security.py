"""Home-directory jail (.., absolute paths, symlinks), FTP bounce protection
(PORT/EPRT), passive-port hijack protection (PASV/EPSV)."""

import os
import socket
import stat
import time

import pytest

from ftphelpers import (DataChannel, cmd, connect_data, download, listing, parse_epsv,
                        parse_pasv, quit_quietly, read_reply, recv_all, wait_closed)

REAL_ETC = set(os.listdir("/etc"))
REAL_PASSWD = open("/etc/passwd", "rb").read()


def _names(body):
    out = set()
    for line in body.decode("utf-8", "replace").split("\r\n"):
        if line.strip():
            out.add(line.strip().split(" ")[-1].split("/")[-1])
    return out


def _assert_no_etc_leak(body):
    leaked = _names(body) & (REAL_ETC - {".", ".."})
    assert not leaked, "listing exposes real /etc entries: %r" % sorted(leaked)[:10]


def _retr_fails(ftp, path):
    dc = DataChannel(ftp, "pasv")
    try:
        code, text = dc.start("RETR " + path, expect_prelim=False)
        data = b""
        if code in (125, 150):
            while True:
                b = dc.sock.recv(65536)
                if not b:
                    break
                data += b
    finally:
        dc.close()
    if code in (125, 150):
        read_reply(ftp)
    assert REAL_PASSWD not in data and b"root:" not in data, "RETR %s leaked /etc/passwd" % path
    assert code == 550, "RETR %s -> %s" % (path, text)


# ----------------------------------------------------------- path escapes

def test_cwd_dotdot_at_root_stays_root(ftp):
    for path in ["..", "../..", "/..", "../../../../..", "/../../etc/.."]:
        code, text = cmd(ftp, "CWD " + path)
        assert code in (250, 550), text
        code, text = cmd(ftp, "PWD")
        assert text.startswith('257 "/"'), "after CWD %s: %s" % (path, text)
    assert cmd(ftp, "CDUP")[0] in (200, 250, 550)
    assert cmd(ftp, "PWD")[1].startswith('257 "/"')


def test_cwd_dotdot_root_lists_home(server, ftp):
    (server.home() / "mine.txt").write_text("m")
    cmd(ftp, "CWD ../../../..")
    assert ftp.nlst() == ["mine.txt"]


@pytest.mark.parametrize("path", [
    "../../etc/passwd", "/etc/passwd", "../../../../../../../../etc/passwd",
    "/../../../etc/passwd", "..//..//etc/passwd", "./../etc/passwd", "\\..\\..\\etc\\passwd",
])
def test_retr_outside_paths_denied(ftp, path):
    _retr_fails(ftp, path)
    assert cmd(ftp, "SIZE " + path)[0] == 550
    assert cmd(ftp, "MDTM " + path)[0] == 550


def test_absolute_paths_are_relative_to_home(server, ftp):
    (server.home() / "etc").mkdir()
    (server.home() / "etc" / "passwd").write_bytes(b"jailed passwd")
    assert download(ftp, "/etc/passwd") == b"jailed passwd"
    assert download(ftp, "../../etc/passwd") == b"jailed passwd"
    assert cmd(ftp, "CWD /etc")[0] == 250
    assert ftp.nlst() == ["passwd"] or ftp.nlst() == ["/etc/passwd"]


def test_list_outside_paths(ftp):
    for path in ["/etc", "../../etc", "/../etc"]:
        code, text, body = listing(ftp, "LIST " + path)
        if code == 226:
            _assert_no_etc_leak(body)
        else:
            assert code in (450, 550), text
        code, text = cmd(ftp, "CWD " + path)
        assert code == 550, "CWD %s -> %s" % (path, text)
        code, text = cmd(ftp, "STAT " + path)
        assert "passwd" not in text


def test_sibling_home_prefix_not_reachable(server, ftp):
    # /home/alice must not give access to /home/alice2 (prefix-check bug)
    sibling = server.home().parent / (server.home().name + "2")
    sibling.mkdir()
    (sibling / "secret.txt").write_bytes(b"sibling secret")
    name = sibling.name
    for path in ["../%s/secret.txt" % name, "/../%s/secret.txt" % name]:
        dc = DataChannel(ftp, "pasv")
        try:
            code, text = dc.start("RETR " + path, expect_prelim=False)
        finally:
            dc.close()
        assert code == 550, "RETR %s -> %s" % (path, text)
        assert cmd(ftp, "CWD ../" + name)[0] == 550


def test_other_users_home_not_reachable(server):
    (server.home("bob") / "bobs.txt").write_bytes(b"bob private")
    ftp = server.login("alice")
    try:
        for path in ["../bob/bobs.txt", "/../bob/bobs.txt"]:
            dc = DataChannel(ftp, "pasv")
            try:
                code, text = dc.start("RETR " + path, expect_prelim=False)
            finally:
                dc.close()
            assert code == 550, text
        assert cmd(ftp, "DELE ../bob/bobs.txt")[0] == 550
        assert (server.home("bob") / "bobs.txt").exists()
    finally:
        quit_quietly(ftp)


def test_writes_cannot_escape(server, ftp):
    outside = server.home().parent
    before = set(os.listdir(outside))
    for path in ["../escape.txt", "/../escape.txt", "../../escape.txt"]:
        dc = DataChannel(ftp, "pasv")
        try:
            code, text = dc.start("STOR " + path, expect_prelim=False)
            if code in (125, 150):
                dc.sock.sendall(b"escaped")
        finally:
            dc.close()
        if code in (125, 150):
            read_reply(ftp)
    cmd(ftp, "MKD ../escape-dir")
    cmd(ftp, "MKD /../../escape-dir2")
    (server.home() / "victim.txt").write_text("v")
    cmd(ftp, "RNFR victim.txt")
    cmd(ftp, "RNTO ../moved-out.txt")
    assert set(os.listdir(outside)) == before, "files created outside the home"
    assert not (outside.parent / "escape.txt").exists()
    assert not (outside.parent / "escape-dir2").exists()


def test_rnfr_outside_denied(server, ftp):
    outside = server.home().parent / "outside-file.txt"
    outside.write_text("stay")
    code, text = cmd(ftp, "RNFR ../outside-file.txt")
    if code == 350:
        cmd(ftp, "RNTO stolen.txt")
    assert outside.read_text() == "stay"
    assert not (server.home() / "stolen.txt").exists()


# ----------------------------------------------------------- symlinks

@pytest.fixture
def links(server, tmp_path):
    h = server.home()
    outside_dir = tmp_path / "outside"
    outside_dir.mkdir()
    (outside_dir / "victim.txt").write_bytes(b"outside secret")
    os.chmod(outside_dir / "victim.txt", 0o644)
    os.symlink("/etc", h / "etc_link")
    os.symlink("/etc/passwd", h / "passwd_link")
    os.symlink("../../../../../../../../../etc/passwd", h / "rel_passwd_link")
    os.symlink(str(outside_dir), h / "out_dir_link")
    (h / "docs").mkdir()
    (h / "docs" / "readme.txt").write_bytes(b"inside readme")
    (h / "top.txt").write_bytes(b"top file")
    os.symlink("docs/readme.txt", h / "in_file_link")
    os.symlink("docs", h / "in_dir_link")
    os.symlink("../top.txt", h / "docs" / "up_link")
    return {"home": h, "outside": outside_dir}


def test_symlink_to_etc_not_listable(links, ftp):
    for command in ["LIST etc_link", "NLST etc_link", "MLSD etc_link", "LIST etc_link/",
                    "NLST /etc_link/"]:
        code, text, body = listing(ftp, command)
        if code == 226:
            _assert_no_etc_leak(body)
        else:
            assert 400 <= code < 600, text
    code, text = cmd(ftp, "STAT etc_link")
    for line in text.splitlines()[1:-1]:
        assert line.strip().split(" ")[-1] not in REAL_ETC - {".", ".."}, text


def test_symlink_to_etc_not_enterable(links, ftp):
    code, text = cmd(ftp, "CWD etc_link")
    if code == 250:
        code, text, body = listing(ftp, "NLST")
        if code == 226:
            _assert_no_etc_leak(body)
    else:
        assert code == 550, text
    _retr_fails(ftp, "passwd")


@pytest.mark.parametrize("path", ["etc_link/passwd", "/etc_link/passwd", "passwd_link",
                                  "rel_passwd_link", "etc_link/../etc_link/passwd"])
def test_symlink_outside_not_readable(links, ftp, path):
    _retr_fails(ftp, path)
    code, text = cmd(ftp, "SIZE " + path)
    assert code == 550, text
    code, text = cmd(ftp, "HASH " + path)
    assert code == 550 or (500 <= code < 600), text


def test_symlink_outside_dir_not_writable(links, ftp):
    outside = links["outside"]
    dc = DataChannel(ftp, "pasv")
    try:
        code, text = dc.start("STOR out_dir_link/planted.txt", expect_prelim=False)
        if code in (125, 150):
            dc.sock.sendall(b"planted")
    finally:
        dc.close()
    if code in (125, 150):
        read_reply(ftp)
    assert not (outside / "planted.txt").exists(), "STOR through symlink wrote outside home"
    cmd(ftp, "DELE out_dir_link/victim.txt")
    cmd(ftp, "MKD out_dir_link/newdir")
    cmd(ftp, "MFF UNIX.mode=0777; out_dir_link/victim.txt")
    cmd(ftp, "MFMT 20000101000000 out_dir_link/victim.txt")
    cmd(ftp, "RNFR out_dir_link/victim.txt")
    cmd(ftp, "RNTO stolen.txt")
    assert (outside / "victim.txt").read_bytes() == b"outside secret"
    assert stat.S_IMODE((outside / "victim.txt").stat().st_mode) == 0o644
    assert (outside / "victim.txt").stat().st_mtime > 1e9
    assert not (outside / "newdir").exists()
    assert not (links["home"] / "stolen.txt").exists()


def test_symlink_inside_works(links, ftp):
    assert download(ftp, "in_file_link") == b"inside readme"
    assert download(ftp, "in_dir_link/readme.txt") == b"inside readme"
    assert download(ftp, "docs/up_link") == b"top file"
    assert cmd(ftp, "SIZE in_file_link")[1].strip() == "213 13"
    code, text = cmd(ftp, "CWD in_dir_link")
    assert code == 250, text
    assert "readme.txt" in [os.path.basename(n) for n in ftp.nlst()]
    code, text = cmd(ftp, "PWD")
    assert code == 257 and text.startswith('257 "/'), text


# ----------------------------------------------------------- bounce (active)

def _listener(host):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.bind((host, 0))
    s.listen(5)
    s.settimeout(1.5)
    return s


def _assert_no_connection(lsock):
    try:
        conn, addr = lsock.accept()
    except socket.timeout:
        return
    conn.close()
    raise AssertionError("server connected to %r despite refused PORT/EPRT" % (addr,))


def _assert_transfer_refused(ftp, command):
    code, text = cmd(ftp, command)
    if code in (125, 150):
        code, text = read_reply(ftp)
    assert 400 <= code < 600, "%s after refused PORT/EPRT -> %s" % (command, text)


def test_port_bounce_to_other_ip_refused(server, ftp):
    (server.home() / "f.txt").write_text("f")
    lsock = _listener("127.0.0.2")
    try:
        port = lsock.getsockname()[1]
        code, text = cmd(ftp, "PORT 127,0,0,2,%d,%d" % (port >> 8, port & 255))
        assert 500 <= code < 600, "bounce PORT accepted: %s" % text
        _assert_transfer_refused(ftp, "RETR f.txt")
        _assert_no_connection(lsock)
    finally:
        lsock.close()
    assert cmd(ftp, "NOOP")[0] == 200


def test_eprt_bounce_to_other_ip_refused(server, ftp):
    (server.home() / "f.txt").write_text("f")
    lsock = _listener("127.0.0.2")
    try:
        port = lsock.getsockname()[1]
        code, text = cmd(ftp, "EPRT |1|127.0.0.2|%d|" % port)
        assert 500 <= code < 600, "bounce EPRT accepted: %s" % text
        _assert_transfer_refused(ftp, "LIST")
        _assert_no_connection(lsock)
    finally:
        lsock.close()


def test_eprt_other_family_refused(ftp):
    code, text = cmd(ftp, "EPRT |2|::1|50000|")
    assert 500 <= code < 600, text


@pytest.mark.parametrize("command", [
    "PORT 127,0,0,1,0,21", "PORT 127,0,0,1,3,255", "PORT 127,0,0,1,0,0",
    "EPRT |1|127.0.0.1|21|", "EPRT |1|127.0.0.1|1023|",
])
def test_active_privileged_port_refused(ftp, command):
    code, text = cmd(ftp, command)
    assert 500 <= code < 600, "%s -> %s" % (command, text)


def test_ipv6_eprt_to_ipv4_refused(server):
    ftp = server.login(ipv6=True)
    try:
        code, text = cmd(ftp, "EPRT |1|127.0.0.1|50000|")
        assert 500 <= code < 600, text
    finally:
        quit_quietly(ftp)


@pytest.mark.parametrize("command", [
    "PORT 127,0,0,1", "PORT 300,0,0,1,200,1", "PORT a,b,c,d,e,f", "EPRT |9|1.2.3.4|5000|",
    "EPRT garbage", "PORT 127,0,0,1,256,1",
])
def test_malformed_active_commands(ftp, command):
    code, text = cmd(ftp, command)
    assert 500 <= code < 600, "%s -> %s" % (command, text)


# ----------------------------------------------------------- passive hijack

@pytest.mark.parametrize("verb", ["PASV", "EPSV"])
def test_passive_hijack_from_other_ip_refused(server, ftp, verb):
    secret = os.urandom(200000)
    (server.home() / "secret.bin").write_bytes(secret)
    code, text = cmd(ftp, verb)
    assert code in (227, 229), text
    port = parse_pasv(text)[1] if verb == "PASV" else parse_epsv(text)
    # attacker from another local address connects first
    try:
        attacker = connect_data("127.0.0.1", port, source="127.0.0.3", timeout=5)
    except OSError:
        attacker = None  # refused outright: fine
    time.sleep(0.3)
    legit = connect_data("127.0.0.1", port, timeout=10)
    code, text = cmd(ftp, "RETR secret.bin")
    assert code in (125, 150), text
    try:
        got = recv_all(legit)
    finally:
        legit.close()
    code, text = read_reply(ftp)
    assert code == 226, text
    assert got == secret, "legitimate client did not get the file"
    if attacker is not None:
        closed, stolen, _ = wait_closed(attacker, 5)
        attacker.close()
        assert stolen == b"", "attacker received %d bytes" % len(stolen)
        assert closed, "attacker connection left open"


def test_passive_hijack_during_transfer_wait(server, ftp):
    """Attacker connects after RETR was sent but before the client."""
    secret = os.urandom(50000)
    (server.home() / "s.bin").write_bytes(secret)
    code, text = cmd(ftp, "PASV")
    port = parse_pasv(text)[1]
    ftp.putcmd("RETR s.bin")
    try:
        attacker = connect_data("127.0.0.1", port, source="127.0.0.3", timeout=5)
    except OSError:
        attacker = None
    time.sleep(0.3)
    legit = connect_data("127.0.0.1", port, timeout=10)
    code, text = read_reply(ftp)
    assert code in (125, 150), text
    got = recv_all(legit)
    legit.close()
    assert read_reply(ftp)[0] == 226
    assert got == secret
    if attacker is not None:
        closed, stolen, _ = wait_closed(attacker, 5)
        attacker.close()
        assert stolen == b"" and closed


def test_stor_over_symlink_to_outside_file(links, ftp):
    h, outside = links["home"], links["outside"]
    os.symlink(str(outside / "victim.txt"), h / "victim_link")
    for verb in ("STOR", "APPE"):
        dc = DataChannel(ftp, "pasv")
        try:
            code, text = dc.start("%s victim_link" % verb, expect_prelim=False)
            if code in (125, 150):
                dc.sock.sendall(b"pwned")
        finally:
            dc.close()
        if code in (125, 150):
            read_reply(ftp)
        assert (outside / "victim.txt").read_bytes() == b"outside secret", \
            "%s through a symlink modified a file outside the home" % verb
    dc = DataChannel(ftp, "pasv")
    try:
        code, text = dc.start("RETR victim_link", expect_prelim=False)
        data = b""
        if code in (125, 150):
            while True:
                b = dc.sock.recv(65536)
                if not b:
                    break
                data += b
    finally:
        dc.close()
    if code in (125, 150):
        read_reply(ftp)
    assert b"outside secret" not in data, "RETR through symlink read a file outside the home"


def test_rmd_and_rnto_through_outside_symlink(links, ftp):
    h, outside = links["home"], links["outside"]
    (outside / "keepdir").mkdir()
    cmd(ftp, "RMD out_dir_link/keepdir")
    assert (outside / "keepdir").is_dir(), "RMD removed a directory outside the home"
    (h / "mine.txt").write_bytes(b"mine")
    if cmd(ftp, "RNFR mine.txt")[0] == 350:
        cmd(ftp, "RNTO out_dir_link/mine.txt")
    assert not (outside / "mine.txt").exists(), "RNTO moved a file outside the home"


def test_symlink_loop_does_not_hang(server, ftp):
    h = server.home()
    os.symlink("loop_b", h / "loop_a")
    os.symlink("loop_a", h / "loop_b")
    _retr_fails(ftp, "loop_a")
    assert cmd(ftp, "CWD loop_a")[0] == 550
    code, text, body = listing(ftp, "LIST")
    assert code == 226, text
    assert cmd(ftp, "NOOP")[0] == 200
