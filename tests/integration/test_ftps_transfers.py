"""Transfers and listings over plain FTP, explicit FTPS (AUTH TLS, PBSZ 0,
PROT P) and implicit FTPS, through the `kind`-parameterized `client`
fixture: sha256 integrity of 0 B / 1 MiB / 100 MiB both ways in every data
connection mode, resume (REST+RETR, REST+STOR, APPE), LIST/NLST/MLSD, ABOR."""

import ftplib
import hashlib
import socket
import ssl
import time

import pytest

from ftphelpers import (DATA_TIMEOUT, MiB, client_context, parse_facts, parse_ls, sha256_file,
                        wait_closed)

MODES = ["pasv", "epsv", "port", "eprt"]


def retr_hash(c, path, rest=None):
    """RETR through ftplib; returns (sha256 hexdigest, size)."""
    h = hashlib.sha256()
    n = [0]

    def sink(b):
        h.update(b)
        n[0] += len(b)

    resp = c.retrbinary("RETR " + path, sink, blocksize=MiB, rest=rest)
    assert resp.startswith("226"), resp
    return h.hexdigest(), n[0]


def stor_file(c, path, src, offset=0, rest=None, command="STOR"):
    with open(src, "rb") as f:
        f.seek(offset)
        resp = c.storbinary("%s %s" % (command, path), f, blocksize=MiB, rest=rest)
    assert resp.startswith("226"), resp
    return resp


def check_data_protection(c, conn):
    """Plain clients get a clear data socket; FTPS ones a TLS socket that
    resumed the control connection's session."""
    if c.kind == "plain":
        assert not isinstance(conn, ssl.SSLSocket)
    else:
        assert isinstance(conn, ssl.SSLSocket)
        assert conn.version() in ("TLSv1.2", "TLSv1.3"), conn.version()
        assert conn.session_reused, "data connection did not resume the control session"


# ------------------------------------------------------------------ integrity

@pytest.mark.parametrize("size", ["0B", "1MiB"])
@pytest.mark.parametrize("mode", MODES)
def test_roundtrip_integrity(ftps_server, client, payloads, mode, size):
    pl = payloads[size]
    client.set_mode(mode)
    stor_file(client, "up.bin", pl.path)
    dest = ftps_server.home() / "up.bin"
    assert dest.stat().st_size == pl.size and sha256_file(dest) == pl.sha256
    pl.copy_to(ftps_server.home() / "down.bin")
    assert retr_hash(client, "down.bin") == (pl.sha256, pl.size)


@pytest.mark.parametrize("mode", MODES)
def test_roundtrip_integrity_100mib(ftps_server, client, payloads, mode):
    pl = payloads["100MiB"]
    client.set_mode(mode)
    stor_file(client, "big-up.bin", pl.path)
    dest = ftps_server.home() / "big-up.bin"
    assert dest.stat().st_size == pl.size and sha256_file(dest) == pl.sha256
    dest.rename(ftps_server.home() / "big-down.bin")
    assert retr_hash(client, "big-down.bin") == (pl.sha256, pl.size)


@pytest.mark.parametrize("mode", MODES)
def test_data_connection_protection(ftps_server, client, mode):
    (ftps_server.home() / "p.txt").write_bytes(b"protected?")
    client.set_mode(mode)
    conn = client.transfercmd("RETR p.txt")
    try:
        check_data_protection(client, conn)
        data = b""
        while True:
            b = conn.recv(65536)
            if not b:
                break
            data += b
        assert data == b"protected?"
        if isinstance(conn, ssl.SSLSocket):
            conn.unwrap()  # the server ends the data stream with close_notify
    finally:
        conn.close()
    assert client.voidresp().startswith("226")


def test_many_transfers_on_one_session(ftps_server, client, payloads):
    pl = payloads["1MiB"]
    pl.copy_to(ftps_server.home() / "m.bin")
    for i in range(24):
        client.set_mode(MODES[i % 4])
        if i % 2:
            stor_file(client, "m.bin", pl.path)
        else:
            assert retr_hash(client, "m.bin") == (pl.sha256, pl.size), "transfer %d" % i
    assert client.voidcmd("NOOP").startswith("200")


def test_upload_by_client_that_never_reads_data_connection(ftps_server, client, payloads):
    """curl-like upload: STOR, (TLS handshake), send everything, close_notify
    and close at once without ever reading from the data connection. The
    server must store every byte each time (50 tries: a race shows up)."""
    tries = 50
    pl = payloads["1MiB"]
    data = pl.path.read_bytes()
    failures = []
    for i in range(tries):
        host, port = client.makepasv()
        conn = socket.create_connection((host, port), DATA_TIMEOUT)
        try:
            client.putcmd("STOR u%d.bin" % i)
            if client.kind != "plain":
                conn = client.context.wrap_socket(conn, server_hostname=client.host,
                                                  session=client.sock.session)
            conn.sendall(data)
            if client.kind != "plain":
                conn.setblocking(False)
                try:
                    conn.unwrap()  # sends close_notify; does not wait for the server's
                except (ssl.SSLError, OSError):
                    pass
        finally:
            conn.close()
        resp = client.getmultiline()
        if resp.startswith("1"):
            resp = client.getmultiline()
        dest = ftps_server.home() / ("u%d.bin" % i)
        size = dest.stat().st_size if dest.exists() else None
        if not resp.startswith("226") or size != pl.size or sha256_file(dest) != pl.sha256:
            failures.append("try %d: %s, stored %s of %d bytes" % (i, resp.strip(), size, pl.size))
        if size is not None:
            dest.unlink()
    assert not failures, "%d of %d uploads failed:\n%s" % (len(failures), tries, "\n".join(failures))


# ------------------------------------------------------------------ resume

@pytest.mark.parametrize("mode", ["epsv", "port"])
def test_resume_download_rest_retr(ftps_server, client, payloads, mode):
    pl = payloads["1MiB"]
    pl.copy_to(ftps_server.home() / "r.bin")
    full = pl.path.read_bytes()
    client.set_mode(mode)
    for offset in (1, 123457, pl.size - 1, pl.size):
        want = full[offset:]
        assert retr_hash(client, "r.bin", rest=offset) == (
            hashlib.sha256(want).hexdigest(), len(want)), "REST %d" % offset
    assert retr_hash(client, "r.bin") == (pl.sha256, pl.size)


def test_resume_download_100mib(ftps_server, client, payloads):
    pl = payloads["100MiB"]
    pl.copy_to(ftps_server.home() / "big.bin")
    offset = 71 * MiB + 3
    client.set_mode("pasv")
    digest, n = retr_hash(client, "big.bin", rest=offset)
    with open(pl.path, "rb") as f:
        f.seek(offset)
        assert (digest, n) == (hashlib.sha256(f.read()).hexdigest(), pl.size - offset)


@pytest.mark.parametrize("mode", ["pasv", "eprt"])
def test_resume_upload_rest_stor(ftps_server, client, payloads, mode):
    pl = payloads["1MiB"]
    offset = 300001
    with open(pl.path, "rb") as f:
        (ftps_server.home() / "ru.bin").write_bytes(f.read(offset))
    client.set_mode(mode)
    stor_file(client, "ru.bin", pl.path, offset=offset, rest=offset)
    assert sha256_file(ftps_server.home() / "ru.bin") == pl.sha256


@pytest.mark.parametrize("mode", ["epsv", "port"])
def test_resume_upload_appe(ftps_server, client, payloads, mode):
    pl = payloads["1MiB"]
    offset = 654321
    with open(pl.path, "rb") as f:
        (ftps_server.home() / "ap.bin").write_bytes(f.read(offset))
    client.set_mode(mode)
    assert client.size("ap.bin") == offset
    stor_file(client, "ap.bin", pl.path, offset=offset, command="APPE")
    assert sha256_file(ftps_server.home() / "ap.bin") == pl.sha256
    stor_file(client, "new-appe.bin", pl.path, command="APPE")  # APPE creates
    assert sha256_file(ftps_server.home() / "new-appe.bin") == pl.sha256


# ------------------------------------------------------------------ listings

@pytest.fixture
def tree(ftps_server):
    h = ftps_server.home()
    (h / "docs").mkdir()
    (h / "docs" / "inner.txt").write_bytes(b"inner")
    (h / "file1.txt").write_bytes(b"a" * 1024)
    (h / "with space.txt").write_bytes(b"sp")
    (h / "zero.bin").write_bytes(b"")
    return h


@pytest.mark.parametrize("mode", MODES)
def test_listings(tree, client, mode):
    client.set_mode(mode)
    lines = []
    assert client.retrlines("LIST", lines.append).startswith("226")
    entries = parse_ls("\n".join(lines))
    assert set(entries) - {".", ".."} == {"docs", "file1.txt", "with space.txt", "zero.bin"}
    assert entries["file1.txt"]["size"] == "1024" and entries["docs"]["type"] == "d"
    assert sorted(client.nlst()) == ["docs", "file1.txt", "with space.txt", "zero.bin"]
    assert client.nlst("docs") in (["inner.txt"], ["docs/inner.txt"])
    facts = {name: f for name, f in client.mlsd()}
    assert set(facts) - {".", ".."} == {"docs", "file1.txt", "with space.txt", "zero.bin"}
    assert facts["file1.txt"]["type"] == "file" and facts["file1.txt"]["size"] == "1024"
    assert facts["docs"]["type"] == "dir"
    # the same MLSD body parsed strictly with the shared helper
    raw = []
    client.retrlines("MLSD docs", raw.append)
    parsed = [parse_facts(l) for l in raw]
    assert [n for f, n in parsed if f["type"] == "file"] == ["inner.txt"]


# ------------------------------------------------------------------ ABOR

TLS_VERSIONS = {"tls1.3": ssl.TLSVersion.TLSv1_3, "tls1.2": ssl.TLSVersion.TLSv1_2}


@pytest.mark.parametrize("tls", sorted(TLS_VERSIONS))
@pytest.mark.parametrize("mode", ["epsv", "port"])
def test_abor_during_100mib_download(ftps_server, kind, client_factory, payloads, mode, tls):
    """ABOR mid-RETR: 426 then 226, the data connection closes early, NOOP
    works and a second (protected, session-resuming) transfer succeeds."""
    if kind == "plain" and tls != "tls1.3":
        pytest.skip("TLS version does not apply to plain FTP")
    c = client_factory(context=client_context(max_version=TLS_VERSIONS[tls]))
    if kind != "plain":
        assert c.sock.version() == {"tls1.3": "TLSv1.3", "tls1.2": "TLSv1.2"}[tls]
    payloads["100MiB"].copy_to(ftps_server.home() / "big.bin")
    c.set_mode(mode)
    conn = c.transfercmd("RETR big.bin")
    got = 0
    while got < MiB:
        b = conn.recv(65536)
        assert b, "data connection closed early"
        got += len(b)
    resp = c.abort()  # plain: ABOR with MSG_OOB; TLS: ABOR on the TLS channel
    assert resp.startswith("426"), resp
    resp = c.getmultiline()
    assert resp.startswith("226"), "second reply after ABOR: %s" % resp
    closed, rest, _ = wait_closed(conn, 15)
    conn.close()
    assert closed, "data connection not closed after ABOR"
    assert got + len(rest) < 100 * MiB, "server kept sending after ABOR"
    assert c.voidcmd("NOOP").startswith("200")
    transfers_after_abort(ftps_server, c, payloads)


def transfers_after_abort(server, c, payloads):
    pl = payloads["1MiB"]
    pl.copy_to(server.home() / "small.bin")
    try:
        assert retr_hash(c, "small.bin") == (pl.sha256, pl.size)
        stor_file(c, "after.bin", pl.path)
    except ftplib.error_perm as e:
        pytest.fail("transfer after ABOR refused: %s" % e)
    assert sha256_file(server.home() / "after.bin") == pl.sha256


@pytest.mark.parametrize("tls", sorted(TLS_VERSIONS))
def test_abor_during_upload(ftps_server, kind, client_factory, payloads, tls):
    if kind == "plain" and tls != "tls1.3":
        pytest.skip("TLS version does not apply to plain FTP")
    c = client_factory(context=client_context(max_version=TLS_VERSIONS[tls]))
    c.set_mode("pasv")
    conn = c.transfercmd("STOR aborted.bin")
    with open(payloads["100MiB"].path, "rb") as f:
        for _ in range(4):
            conn.sendall(f.read(MiB))
    t0 = time.monotonic()
    resp = c.abort()
    assert resp.startswith("426"), resp
    resp = c.getmultiline()
    assert resp.startswith("226"), resp
    closed, _, _ = wait_closed(conn, 15)
    conn.close()
    assert closed and time.monotonic() - t0 < 15
    assert c.voidcmd("NOOP").startswith("200")
    transfers_after_abort(ftps_server, c, payloads)
