"""Data transfers: PASV/EPSV/PORT/EPRT over IPv4 and IPv6, sha256 integrity
of 0 B .. 100 MiB both directions, REST/APPE resume, STOU, TYPE A
conversion, ABOR during transfers, data/active port settings."""

import hashlib
import os
import re
import socket
import time

import pytest

from ftphelpers import (MiB, DataChannel, cmd, download, free_port, parse_epsv,
                        parse_pasv, quit_quietly, read_reply, sha256_file, upload,
                        wait_closed, worker_slot)

MODES = ["pasv", "epsv", "port", "eprt"]
SIZES = ["0B", "1B", "1MiB", "100MiB"]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mode", MODES)
def test_download_integrity_ipv4(server, ftp, payloads, mode, size, home_kind):
    pl = payloads[size]
    pl.copy_to(server.home() / "down.bin")
    digest, n = download(ftp, "down.bin", mode=mode, sink="hash")
    assert n == pl.size
    assert digest == pl.sha256


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mode", MODES)
def test_upload_integrity_ipv4(server, ftp, payloads, mode, size, home_kind):
    pl = payloads[size]
    upload(ftp, "up.bin", src=pl.path, mode=mode)
    dest = server.home() / "up.bin"
    assert dest.stat().st_size == pl.size
    assert sha256_file(dest) == pl.sha256


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mode", ["epsv", "eprt"])
def test_roundtrip_integrity_ipv6(server, payloads, mode, size):
    pl = payloads[size]
    ftp = server.login("alice", ipv6=True)
    try:
        ftp.voidcmd("TYPE I")
        upload(ftp, "v6.bin", src=pl.path, mode=mode)
        assert sha256_file(server.home() / "v6.bin") == pl.sha256
        digest, n = download(ftp, "v6.bin", mode=mode, sink="hash")
        assert (digest, n) == (pl.sha256, pl.size)
    finally:
        quit_quietly(ftp)


def test_pasv_reply_and_port_range(server, ftp):
    for _ in range(3):
        code, text = cmd(ftp, "PASV")
        assert code == 227, text
        assert "(" in text and ")" in text
        host, port = parse_pasv(text)
        assert host == "127.0.0.1", text
        assert server.passive_lo <= port <= server.passive_hi, (port, server.passive_lo)


def test_epsv_reply_and_port_range(server, ftp):
    code, text = cmd(ftp, "EPSV")
    assert code == 229, text
    assert re.search(r"\(\|\|\|\d+\|\)", text), text
    port = parse_epsv(text)
    assert server.passive_lo <= port <= server.passive_hi


def test_epsv_over_ipv6(server):
    ftp = server.login(ipv6=True)
    try:
        code, text = cmd(ftp, "EPSV")
        assert code == 229, text
        assert server.passive_lo <= parse_epsv(text) <= server.passive_hi
    finally:
        quit_quietly(ftp)


def test_passive_address_announced(start_server):
    srv = start_server(passive_address="127.0.0.2")
    (srv.home() / "pa.txt").write_bytes(b"announced")
    ftp = srv.login()
    try:
        code, text = cmd(ftp, "PASV")
        assert code == 227 and parse_pasv(text)[0] == "127.0.0.2", text
        # ftplib-style: connect to the control peer address
        assert download(ftp, "pa.txt", mode="pasv") == b"announced"
    finally:
        quit_quietly(ftp)


@pytest.mark.parametrize("mode", ["pasv", "port"])
def test_rest_resume_download(server, ftp, payloads, mode, home_kind):
    pl = payloads["1MiB"]
    pl.copy_to(server.home() / "r.bin")
    full = pl.path.read_bytes()
    for offset in (1, 123457, pl.size - 1, pl.size):
        got = download(ftp, "r.bin", mode=mode, rest=offset)
        assert got == full[offset:], "REST %d" % offset
    # REST is consumed by the transfer: the next RETR starts at 0 again
    assert download(ftp, "r.bin", mode=mode) == full


def test_resume_download_100mib(server, ftp, payloads):
    pl = payloads["100MiB"]
    pl.copy_to(server.home() / "big.bin")
    offset = 37 * MiB + 11
    digest, n = download(ftp, "big.bin", rest=offset, sink="hash")
    assert n == pl.size - offset
    with open(pl.path, "rb") as f:
        f.seek(offset)
        assert hashlib.sha256(f.read()).hexdigest() == digest


@pytest.mark.parametrize("mode", ["pasv", "eprt"])
def test_rest_stor_resume_upload(server, ftp, payloads, mode, home_kind):
    pl = payloads["1MiB"]
    full = pl.path.read_bytes()
    offset = 300001
    (server.home() / "ru.bin").write_bytes(full[:offset])
    upload(ftp, "ru.bin", src=pl.path, mode=mode, rest=offset)
    assert sha256_file(server.home() / "ru.bin") == pl.sha256


def test_appe_resume_upload_100mib(server, ftp, payloads):
    pl = payloads["100MiB"]
    offset = 61 * MiB + 5
    with open(pl.path, "rb") as f, open(server.home() / "ap.bin", "wb") as out:
        out.write(f.read(offset))
    code, text = cmd(ftp, "SIZE ap.bin")
    assert text.strip() == "213 %d" % offset
    dc = DataChannel(ftp, "pasv")
    try:
        dc.start("APPE ap.bin")
        with open(pl.path, "rb") as f:
            f.seek(offset)
            for b in iter(lambda: f.read(MiB), b""):
                dc.sock.sendall(b)
        dc.sock.shutdown(socket.SHUT_WR)
    finally:
        dc.close()
    code, text = read_reply(ftp)
    assert code == 226, text
    assert sha256_file(server.home() / "ap.bin") == pl.sha256


def test_appe_creates_and_appends(server, ftp, home_kind):
    upload(ftp, "log.txt", data=b"first\n", command="APPE")
    assert (server.home() / "log.txt").read_bytes() == b"first\n"
    upload(ftp, "log.txt", data=b"second\n", command="APPE", mode="port")
    assert (server.home() / "log.txt").read_bytes() == b"first\nsecond\n"


def test_stor_overwrites_and_truncates(server, ftp, home_kind):
    (server.home() / "o.txt").write_bytes(b"x" * 1000)
    upload(ftp, "o.txt", data=b"short")
    assert (server.home() / "o.txt").read_bytes() == b"short"


def test_stou_unique_names(server, ftp):
    (server.home() / "existing").write_bytes(b"keep")
    names = []
    for content in (b"one", b"two"):
        prelim, final = upload(ftp, None, data=content, command="STOU")
        m = re.match(r"1[25]0 FILE: (.+)$", prelim.splitlines()[0].strip())
        assert m, prelim
        name = os.path.basename(m.group(1).strip())
        names.append(name)
        assert (server.home() / name).read_bytes() == content
    assert names[0] != names[1]
    assert (server.home() / "existing").read_bytes() == b"keep"


def test_type_ascii_download_converts_lf_to_crlf(server, ftp):
    (server.home() / "text.txt").write_bytes(b"line1\nline2\n\nend")
    assert cmd(ftp, "TYPE A")[0] == 200
    assert download(ftp, "text.txt") == b"line1\r\nline2\r\n\r\nend"
    assert cmd(ftp, "TYPE I")[0] == 200
    assert download(ftp, "text.txt") == b"line1\nline2\n\nend"


def test_type_ascii_upload_converts_crlf_to_lf(server, ftp):
    assert cmd(ftp, "TYPE A")[0] == 200
    upload(ftp, "up.txt", data=b"a\r\nb\r\n\r\nc")
    assert (server.home() / "up.txt").read_bytes() == b"a\nb\n\nc"
    assert cmd(ftp, "TYPE I")[0] == 200
    upload(ftp, "up2.txt", data=b"a\r\nb\r\n")
    assert (server.home() / "up2.txt").read_bytes() == b"a\r\nb\r\n"


def test_type_ascii_large_conversion(server, ftp):
    body = b"".join(b"line %06d of text\n" % i for i in range(100000))
    (server.home() / "big.txt").write_bytes(body)
    assert cmd(ftp, "TYPE A")[0] == 200
    assert download(ftp, "big.txt", mode="epsv") == body.replace(b"\n", b"\r\n")
    upload(ftp, "big-up.txt", data=body.replace(b"\n", b"\r\n"), mode="port")
    assert (server.home() / "big-up.txt").read_bytes() == body


def _failed_transfer(ftp, command, mode="pasv"):
    dc = DataChannel(ftp, mode)
    try:
        code, text = dc.start(command, expect_prelim=False)
    finally:
        dc.close()
    return code, text


def test_retr_errors(server, ftp):
    (server.home() / "adir").mkdir()
    assert _failed_transfer(ftp, "RETR missing.bin")[0] == 550
    assert _failed_transfer(ftp, "RETR adir")[0] == 550
    assert _failed_transfer(ftp, "STOR no/such/dir/f.bin")[0] == 550
    assert _failed_transfer(ftp, "STOR adir")[0] == 550
    assert cmd(ftp, "NOOP")[0] == 200


def test_transfer_without_data_connection_setup(server, ftp):
    (server.home() / "f.txt").write_text("f")
    code, text = cmd(ftp, "RETR f.txt")
    if code in (125, 150):
        code, text = read_reply(ftp)
    assert code in (425, 503), text
    assert cmd(ftp, "NOOP")[0] == 200


def test_data_timeout_when_client_never_connects(start_server):
    srv = start_server(data_timeout=2)
    (srv.home() / "f.txt").write_text("f")
    ftp = srv.login()
    try:
        code, text = cmd(ftp, "PASV")
        assert code == 227
        t0 = time.monotonic()
        code, text = cmd(ftp, "RETR f.txt")
        if code in (125, 150):
            code, text = read_reply(ftp)
        assert 400 <= code < 500, text
        assert time.monotonic() - t0 < 10
        assert cmd(ftp, "NOOP")[0] == 200
        assert download(ftp, "f.txt") == b"f"
    finally:
        quit_quietly(ftp)


def test_active_data_port_setting(start_server):
    # 30000-30999 is outside both the passive slices and the ephemeral range
    lo = 30000 + worker_slot() * 100
    port = free_port("127.0.0.1", lo, lo + 49)
    srv = start_server(active_data_port=port)
    (srv.home() / "a.txt").write_bytes(b"active")
    ftp = srv.login()
    try:
        ftp.voidcmd("TYPE I")
        for mode in ("port", "eprt", "port"):
            dc = DataChannel(ftp, mode)
            try:
                dc.start("RETR a.txt")
                assert dc.peer[0] == "127.0.0.1"
                assert dc.peer[1] == port, "active data came from port %d" % dc.peer[1]
                data = b""
                while True:
                    b = dc.sock.recv(4096)
                    if not b:
                        break
                    data += b
                assert data == b"active"
            finally:
                dc.close()
            assert read_reply(ftp)[0] == 226
    finally:
        quit_quietly(ftp)


@pytest.mark.skipif(os.geteuid() != 0, reason="binding source port 20 needs root")
def test_active_data_port_defaults_to_20(start_server):
    srv = start_server(active_data_port=None)
    assert not any(l.startswith("active_data_port") for l in srv.config_text.splitlines())
    (srv.home() / "a.txt").write_bytes(b"twenty")
    ftp = srv.login()
    try:
        dc = DataChannel(ftp, "port")
        try:
            dc.start("RETR a.txt")
            assert dc.peer == ("127.0.0.1", 20)
        finally:
            dc.close()
        assert read_reply(ftp)[0] == 226
    finally:
        quit_quietly(ftp)


# ------------------------------------------------------------------ ABOR

def _start_big_download(server, ftp, payloads, mode="pasv"):
    payloads["100MiB"].copy_to(server.home() / "big.bin")
    dc = DataChannel(ftp, mode)
    dc.start("RETR big.bin")
    got = 0
    while got < MiB:
        b = dc.sock.recv(65536)
        assert b, "data connection closed early"
        got += len(b)
    return dc, got


def _after_abort_checks(server, ftp, dc, payloads, total_limit):
    code, text = read_reply(ftp)
    assert code == 226, "second reply after ABOR: %s" % text
    closed, rest, _ = wait_closed(dc.sock, 15)
    dc.close()
    assert closed, "data connection not closed after ABOR"
    assert total_limit(len(rest)), "server kept sending after ABOR"
    code, text = cmd(ftp, "NOOP")
    assert code == 200, text
    payloads["1MiB"].copy_to(server.home() / "small.bin")
    digest, _ = download(ftp, "small.bin", mode="epsv", sink="hash")
    assert digest == payloads["1MiB"].sha256


def test_abor_download_ftplib_oob(server, ftp, payloads):
    dc, got = _start_big_download(server, ftp, payloads)
    resp = ftp.abort()  # sends "ABOR\r\n" with MSG_OOB
    assert resp.startswith("426"), resp
    _after_abort_checks(server, ftp, dc, payloads, lambda n: got + n < 100 * MiB)


def test_abor_download_telnet_ip_synch(server, ftp, payloads):
    dc, got = _start_big_download(server, ftp, payloads, mode="port")
    ftp.sock.sendall(b"\xff\xf4\xff", socket.MSG_OOB)  # IAC IP IAC (urgent)
    ftp.sock.sendall(b"\xf2ABOR\r\n")                  # DM ABOR
    code, text = read_reply(ftp)
    assert code == 426, text
    _after_abort_checks(server, ftp, dc, payloads, lambda n: got + n < 100 * MiB)


def test_abor_download_telnet_inband(server, ftp, payloads):
    dc, got = _start_big_download(server, ftp, payloads, mode="epsv")
    ftp.sock.sendall(b"\xff\xf4\xff\xf2ABOR\r\n")
    code, text = read_reply(ftp)
    assert code == 426, text
    _after_abort_checks(server, ftp, dc, payloads, lambda n: got + n < 100 * MiB)


def test_abor_download_plain(server, ftp, payloads):
    dc, got = _start_big_download(server, ftp, payloads, mode="eprt")
    code, text = cmd(ftp, "ABOR")
    assert code == 426, text
    _after_abort_checks(server, ftp, dc, payloads, lambda n: got + n < 100 * MiB)


@pytest.mark.parametrize("mode", ["pasv", "port"])
def test_abor_upload(server, ftp, payloads, mode):
    dc = DataChannel(ftp, mode)
    dc.start("STOR aborted.bin")
    with open(payloads["100MiB"].path, "rb") as f:
        for _ in range(8):
            dc.sock.sendall(f.read(MiB))
    resp = ftp.abort()
    assert resp.startswith("426"), resp
    code, text = read_reply(ftp)
    assert code == 226, "second reply after ABOR: %s" % text
    closed, _, _ = wait_closed(dc.sock, 15)
    dc.close()
    assert closed, "data connection not closed after ABOR"
    partial = server.home() / "aborted.bin"
    assert not partial.exists() or partial.stat().st_size <= 8 * MiB
    assert cmd(ftp, "NOOP")[0] == 200
    upload(ftp, "after.bin", src=payloads["1MiB"].path, mode=mode)
    assert sha256_file(server.home() / "after.bin") == payloads["1MiB"].sha256


def test_sequential_transfers_on_one_session(server, ftp, payloads):
    pl = payloads["1MiB"]
    for i in range(20):
        mode = MODES[i % 4]
        upload(ftp, "seq%d.bin" % i, src=pl.path, mode=mode)
        digest, _ = download(ftp, "seq%d.bin" % i, mode=MODES[(i + 1) % 4], sink="hash")
        assert digest == pl.sha256


# ------------------------------------------------------------------ robustness

def test_client_vanishes_mid_transfer(server, payloads):
    payloads["100MiB"].copy_to(server.home() / "big.bin")
    for verb in ("RETR big.bin", "STOR gone.bin"):
        ftp = server.login()
        ftp.voidcmd("TYPE I")
        dc = DataChannel(ftp, "pasv")
        dc.start(verb)
        if verb.startswith("RETR"):
            dc.sock.recv(65536)
        else:
            dc.sock.sendall(os.urandom(MiB))
        # hard close of both connections, no QUIT/ABOR
        dc.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        dc.close()
        ftp.sock.close()
        ftp.close()
    time.sleep(0.5)
    assert server.alive(), "server died after clients vanished: %s" % server.stderr_text()[-500:]
    ftp = server.login()
    try:
        assert cmd(ftp, "NOOP")[0] == 200
        ftp.voidcmd("TYPE I")
        payloads["1MiB"].copy_to(server.home() / "s.bin")
        assert download(ftp, "s.bin", sink="hash")[0] == payloads["1MiB"].sha256
    finally:
        quit_quietly(ftp)


def test_narrow_passive_range_is_reused(start_server):
    lo = 30000 + worker_slot() * 100 + 50
    srv = start_server(passive_range=(lo, lo + 2))
    (srv.home() / "f.bin").write_bytes(b"x" * 70000)
    ftp = srv.login()
    try:
        ftp.voidcmd("TYPE I")
        for i in range(40):  # many more transfers than ports: closed ports get reused
            mode = "pasv" if i % 2 else "epsv"
            assert download(ftp, "f.bin", mode=mode) == b"x" * 70000, "transfer %d" % i
        for _ in range(30):  # unused PASV listeners are released, too
            code, text = cmd(ftp, "PASV")
            assert code == 227, text
            assert lo <= parse_pasv(text)[1] <= lo + 2
    finally:
        quit_quietly(ftp)


def test_active_to_closed_port_fails_cleanly(server, ftp):
    (server.home() / "f.txt").write_text("f")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nobody listens there now
    code, text = cmd(ftp, "PORT 127,0,0,1,%d,%d" % (port >> 8, port & 255))
    assert code == 200, text
    code, text = cmd(ftp, "RETR f.txt")
    if code in (125, 150):
        code, text = read_reply(ftp)
    assert code == 425, text
    assert cmd(ftp, "NOOP")[0] == 200
    assert download(ftp, "f.txt") == b"f"


def test_idle_timeout_not_applied_during_slow_transfer(start_server, payloads):
    srv = start_server(idle_timeout=2)
    payloads["100MiB"].copy_to(srv.home() / "big.bin")
    ftp = srv.login()
    try:
        ftp.voidcmd("TYPE I")
        dc = DataChannel(ftp, "pasv")
        dc.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        dc.start("RETR big.bin")
        h = hashlib.sha256()
        n = 0
        t0 = time.monotonic()
        # read slowly for ~4.5 s (> idle_timeout), then the rest at full speed
        while True:
            b = dc.sock.recv(1 << 20 if time.monotonic() - t0 > 4.5 else 65536)
            if not b:
                break
            h.update(b)
            n += len(b)
            if time.monotonic() - t0 <= 4.5:
                time.sleep(0.05)
        dc.close()
        code, text = read_reply(ftp)
        assert code == 226, text
        assert (h.hexdigest(), n) == (payloads["100MiB"].sha256, payloads["100MiB"].size)
        assert cmd(ftp, "NOOP")[0] == 200
    finally:
        quit_quietly(ftp)


def test_type_ascii_upload_crlf_split_across_segments(server, ftp):
    assert cmd(ftp, "TYPE A")[0] == 200
    dc = DataChannel(ftp, "pasv")
    try:
        dc.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        dc.start("STOR split.txt")
        for part in (b"line1\r", b"\nline2\r", b"\n\r", b"\nend"):
            dc.sock.sendall(part)
            time.sleep(0.15)
        dc.sock.shutdown(socket.SHUT_WR)
    finally:
        dc.close()
    assert read_reply(ftp)[0] == 226
    assert (server.home() / "split.txt").read_bytes() == b"line1\nline2\n\nend"


def test_file_larger_than_4gib(server, ftp):
    size = 5 * 1024 ** 3 + 7
    p = server.home() / "sparse.bin"
    with open(p, "wb") as f:
        f.truncate(size - 10)
        f.seek(size - 10)
        f.write(b"0123456789")
    code, text = cmd(ftp, "SIZE sparse.bin")
    assert text.strip() == "213 %d" % size, text
    assert download(ftp, "sparse.bin", rest=size - 16) == b"\0" * 6 + b"0123456789"
    assert cmd(ftp, "RANG %d %d" % (size - 10, size - 1))[0] == 350
    code, text = cmd(ftp, "HASH sparse.bin")
    assert code == 213, text
    assert hashlib.sha256(b"0123456789").hexdigest() in text.lower(), text
    code, text = cmd(ftp, "MLST sparse.bin")
    assert ("size=%d;" % size) in text, text
