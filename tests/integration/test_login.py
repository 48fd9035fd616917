"""Greeting, USER/PASS, wrong passwords, password_hash users, REIN, QUIT,
login-required commands and login/idle timeouts."""

import ftplib
import shutil
import socket
import time

import pytest

from argon2_pure import argon2id_phc, argon2id_raw
from ftphelpers import cmd, quit_quietly, wait_closed


def test_greeting_is_220(server):
    ftp = server.connect()
    try:
        assert ftp.welcome.startswith("220"), ftp.welcome
    finally:
        ftp.close()


def test_user_331_pass_230(server):
    ftp = server.connect()
    try:
        code, text = cmd(ftp, "USER alice")
        assert code == 331, text
        code, text = cmd(ftp, "PASS " + server.users["alice"]["password"])
        assert code == 230, text
        code, text = cmd(ftp, "PWD")
        assert code == 257 and '"/"' in text, text
    finally:
        quit_quietly(ftp)


def test_login_over_ipv6(server):
    ftp = server.login("alice", ipv6=True)
    try:
        assert ftp.sock.getpeername()[0] == "::1"
        assert cmd(ftp, "NOOP")[0] == 200
    finally:
        quit_quietly(ftp)


def test_wrong_password_530_after_delay(server):
    ftp = server.connect()
    try:
        assert cmd(ftp, "USER alice")[0] == 331
        t0 = time.monotonic()
        code, text = cmd(ftp, "PASS not-the-password")
        elapsed = time.monotonic() - t0
        assert code == 530, text
        assert 0.7 <= elapsed < 5, "530 came after %.3fs (expected ~1s delay)" % elapsed
        # not logged in afterwards
        assert cmd(ftp, "PWD")[0] == 530
        # a correct retry on the same connection works
        assert cmd(ftp, "USER alice")[0] == 331
        code, text = cmd(ftp, "PASS " + server.users["alice"]["password"])
        assert code == 230, text
    finally:
        quit_quietly(ftp)


def test_unknown_user_530(server):
    ftp = server.connect()
    try:
        code, _ = cmd(ftp, "USER mallory")
        assert code in (331, 530)
        if code == 331:
            code, text = cmd(ftp, "PASS whatever")
            assert code == 530, text
        assert cmd(ftp, "PWD")[0] == 530
    finally:
        quit_quietly(ftp)


def test_other_users_password_rejected(server):
    ftp = server.connect()
    try:
        assert cmd(ftp, "USER alice")[0] == 331
        code, text = cmd(ftp, "PASS " + server.users["bob"]["password"])
        assert code == 530, text
    finally:
        quit_quietly(ftp)


def test_ftplib_login_wrong_password_raises(server):
    ftp = server.connect()
    try:
        with pytest.raises(ftplib.error_perm) as ei:
            ftp.login("bob", "nope")
        assert str(ei.value).startswith("530")
    finally:
        ftp.close()


def test_argon2_helper_matches_rfc9106_vector():
    # Guards the test-side hash generator used for the password_hash user.
    tag = argon2id_raw(b"\x01" * 32, b"\x02" * 16, 3, 32, 4, 32,
                       secret=b"\x03" * 8, ad=b"\x04" * 12)
    assert tag.hex() == "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"


def test_password_hash_user(start_server):
    phc = argon2id_phc("Bob-pw-42", t_cost=2, m_cost=1024, parallelism=1)
    srv = start_server(password_hashes={"bob": phc})
    assert "password_hash" in srv.config_text
    ftp = srv.login("bob")
    try:
        code, text = cmd(ftp, "PWD")
        assert code == 257 and '"/"' in text
    finally:
        quit_quietly(ftp)
    ftp = srv.connect()
    try:
        assert cmd(ftp, "USER bob")[0] == 331
        code, text = cmd(ftp, "PASS Bob-pw-43")
        assert code == 530, text
    finally:
        quit_quietly(ftp)


@pytest.mark.parametrize("command", [
    "PWD", "XPWD", "CWD /", "CDUP", "LIST", "NLST", "MLSD", "MLST /", "RETR x",
    "STOR x", "APPE x", "STOU", "DELE x", "MKD d", "RMD d", "RNFR x", "SIZE x",
    "MDTM x", "PASV", "EPSV", "PORT 127,0,0,1,200,10", "EPRT |1|127.0.0.1|51210|",
    "HASH x", "MFMT 20200101000000 x", "REST 10", "STAT /",
])
def test_commands_need_login_530(server, command):
    ftp = server.connect()
    try:
        code, text = cmd(ftp, command)
        assert code == 530, "%s before login -> %s" % (command, text)
    finally:
        quit_quietly(ftp)


def test_quit_221_and_close(server):
    ftp = server.login()
    code, text = cmd(ftp, "QUIT")
    assert code == 221, text
    closed, _, _ = wait_closed(ftp.sock, 5)
    assert closed, "server did not close the control connection after QUIT"
    ftp.close()


def test_rein_resets_session(server):
    ftp = server.login()
    try:
        assert cmd(ftp, "CWD /")[0] == 250
        code, text = cmd(ftp, "REIN")
        assert code == 220, text
        code, text = cmd(ftp, "PWD")
        assert code == 530, "after REIN PWD should need login: %s" % text
        assert cmd(ftp, "USER bob")[0] == 331
        assert cmd(ftp, "PASS " + server.users["bob"]["password"])[0] == 230
        # bob sees his own home now
        (server.home("bob") / "bob-only.txt").write_bytes(b"b")
        assert "bob-only.txt" in ftp.nlst()
    finally:
        quit_quietly(ftp)


def test_users_have_separate_homes(server):
    (server.home("alice") / "alice-file.txt").write_text("a")
    (server.home("bob") / "bob-file.txt").write_text("b")
    a = server.login("alice")
    b = server.login("bob")
    try:
        assert a.nlst() == ["alice-file.txt"]
        assert b.nlst() == ["bob-file.txt"]
    finally:
        quit_quietly(a)
        quit_quietly(b)


def _expect_drop(sock, timeout):
    closed, data, elapsed = wait_closed(sock, timeout)
    assert closed, "server did not close the connection within %ss" % timeout
    text = data.decode("utf-8", "replace").strip()
    assert text == "" or text.startswith("421"), "unexpected data before close: %r" % text
    return elapsed


def test_login_timeout_drops_silent_client(start_server):
    srv = start_server(login_timeout=2)
    s = socket.create_connection((srv.host, srv.port), timeout=10)
    try:
        greeting = s.recv(4096)
        assert greeting.startswith(b"220")
        elapsed = _expect_drop(s, 10)
        assert elapsed >= 1.0, "dropped too early (%.2fs)" % elapsed
    finally:
        s.close()


def test_login_timeout_drops_client_stuck_after_user(start_server):
    srv = start_server(login_timeout=2)
    ftp = srv.connect()
    try:
        assert cmd(ftp, "USER alice")[0] == 331
        _expect_drop(ftp.sock, 10)
    finally:
        ftp.close()


def test_login_timeout_does_not_hit_logged_in_session(start_server):
    srv = start_server(login_timeout=2, idle_timeout=300)
    ftp = srv.login()
    try:
        time.sleep(3.5)
        code, text = cmd(ftp, "NOOP")
        assert code == 200, text
    finally:
        quit_quietly(ftp)


def test_idle_timeout_drops_logged_in_client(start_server):
    srv = start_server(idle_timeout=2)
    ftp = srv.login()
    try:
        elapsed = _expect_drop(ftp.sock, 10)
        assert elapsed >= 1.0, "idle drop after only %.2fs" % elapsed
    finally:
        ftp.close()


def test_server_still_serves_after_timeouts(start_server):
    srv = start_server(login_timeout=2, idle_timeout=2)
    s = socket.create_connection((srv.host, srv.port), timeout=10)
    s.recv(100)
    _expect_drop(s, 10)
    s.close()
    ftp = srv.login()
    try:
        assert cmd(ftp, "NOOP")[0] == 200
    finally:
        quit_quietly(ftp)


def test_unavailable_home_is_421_not_a_wrong_password(server):
    # The right password, but the home is gone: the server's fault, said as
    # such (vsftpd: "500 OOPS"), and the connection ends; others still log in.
    shutil.rmtree(server.home("bob"))
    ftp = server.connect()
    try:
        cmd(ftp, "USER bob")
        code, text = cmd(ftp, "PASS " + server.users["bob"]["password"])
        assert code == 421 and "unavailable" in text, text
        closed, _, _ = wait_closed(ftp.sock, 10)
        assert closed
    finally:
        ftp.close()
    assert "home of user bob is unavailable" in server.stderr_text()
    ok = server.login("alice")
    quit_quietly(ok)


def sodium_argon2id(password, opslimit, memlimit):
    """An argon2id hash (libsodium's own format, as berth writes) of a chosen
    cost, made by the libsodium berth links."""
    import ctypes
    import ctypes.util
    lib = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
    assert lib.sodium_init() >= 0
    out = ctypes.create_string_buffer(128)
    pw = password.encode()
    rc = lib.crypto_pwhash_str_alg(out, pw, ctypes.c_ulonglong(len(pw)),
                                   ctypes.c_ulonglong(opslimit), ctypes.c_size_t(memlimit),
                                   ctypes.c_int(2))  # crypto_pwhash_ALG_ARGON2ID13
    assert rc == 0
    return out.value.decode()


def test_password_checks_in_progress_are_bounded_per_address(start_server):
    """Issue 17 item 9: logins waiting for the hash workers had no bound; 400
    connections without a login slowed a real user's check from 1 s to 7.9 s.
    Past [limits] max_password_checks_per_ip, an attempt from that address is
    refused at once (421), while other addresses still log in."""
    phc = sodium_argon2id("Bob-pw-42", 8, 32 * 1024 * 1024)  # a slow check: they overlap
    srv = start_server(password_hashes={"bob": phc}, extra_ftp={"failed_login_delay_ms": 0},
                       sections={"limits": {"max_password_checks_per_ip": 2,
                                            "max_password_checks": 100},
                                 "defender": {"max_failures": 1000}})
    flood = []
    try:
        for _ in range(12):
            f = ftplib.FTP(timeout=60, source_address=("127.0.0.2", 0))
            f.connect(srv.host, srv.port)
            flood.append(f)
            assert cmd(f, "USER bob")[0] == 331
        for f in flood:  # all at once: they wait for the workers together
            f.putcmd("PASS not-bobs-password")
        ok = srv.login("bob")  # from 127.0.0.1: not limited by 127.0.0.2's checks
        try:
            assert cmd(ok, "PWD")[0] == 257
        finally:
            quit_quietly(ok)
        replies = []
        for f in flood:
            resp = f.getmultiline()
            replies.append((int(resp[:3]), resp))
    finally:
        for f in flood:
            f.close()
    codes = sorted(code for code, _ in replies)
    assert set(codes) <= {421, 530}, replies
    assert 421 in codes, replies
    assert codes.count(530) >= 2, replies  # the first two were checked
    assert all("Too many logins in progress" in text for code, text in replies if code == 421)
    assert "too many logins in progress" in srv.stderr_text()
