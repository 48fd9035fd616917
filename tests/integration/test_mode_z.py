"""MODE Z (draft-preston-ftpext-deflate, as ProFTPD's mod_deflate): each data
connection carries one zlib stream. Driven by Python ftplib with zlib over
plain FTP, explicit FTPS (PROT P) and implicit FTPS (the `client` fixture):
uploads compressed, downloads and listings decompressed, byte for byte; REST
offsets count the file's bytes; OPTS MODE Z LEVEL; a corrupt, cut or bomb
stream gets an error reply and leaves a complete file as it was.

No packaged client speaks MODE Z: lftp 4.9, curl, tnftp and ncftp have no
such mode (FileZilla's client only in its GUI), so ftplib drives it here."""

import os
import random
import ssl
import zlib

from ftphelpers import MiB, ftp_login


def mixed_data(size=5 * MiB, seed=18):
    """Alternating random (incompressible) and text (compressible) blocks."""
    rnd = random.Random(seed)
    words = [b"berth", b"deflate", b"stream", b"passive", b"quota", b"\n"]
    out = bytearray()
    while len(out) < size:
        out += rnd.randbytes(rnd.randint(1, 96 * 1024))
        text = bytearray()
        want = rnd.randint(1, 160 * 1024)
        while len(text) < want:
            text += rnd.choice(words) + b" "
        out += text
    return bytes(out[:size])


def finish(ftp, conn):
    if isinstance(conn, ssl.SSLSocket):
        conn.unwrap()
    conn.close()
    return ftp.voidresp()


def stor_raw(ftp, command, wire, rest=None):
    """Sends `wire` (already compressed) as the data of `command`; returns
    the final reply, whatever its code."""
    conn = ftp.transfercmd(command, rest)
    try:
        conn.sendall(wire)
        if isinstance(conn, ssl.SSLSocket):
            conn.unwrap()
    finally:
        conn.close()
    try:
        return ftp.getresp()
    except Exception as e:  # ftplib raises for 4xx/5xx
        return str(e)


def retr_raw(ftp, command, rest=None):
    """The data connection's bytes as they came (compressed under MODE Z)."""
    conn = ftp.transfercmd(command, rest)
    chunks = []
    while True:
        b = conn.recv(256 * 1024)
        if not b:
            break
        chunks.append(b)
    finish(ftp, conn)
    return b"".join(chunks)


def inflate(wire):
    d = zlib.decompressobj()
    out = d.decompress(wire) + d.flush()
    assert d.eof, "the zlib stream did not end"
    assert d.unused_data == b"", "bytes after the zlib stream"
    return out


def test_mode_z_roundtrip_byte_exact(ftps_server, client):
    data = mixed_data()
    resp = client.sendcmd("FEAT")
    assert " MODE Z" in resp.splitlines(), resp
    assert client.sendcmd("MODE Z").startswith("200")
    wire = zlib.compress(data, 6)
    reply = stor_raw(client, "STOR z.bin", wire)
    assert reply.startswith("226"), reply
    assert (ftps_server.home() / "z.bin").read_bytes() == data

    down = retr_raw(client, "RETR z.bin")
    assert len(down) < len(data)  # it was compressed on the wire
    assert inflate(down) == data

    # Listings are compressed too.
    names = inflate(retr_raw(client, "NLST")).decode().split("\r\n")
    assert "z.bin" in names
    assert b"z.bin" in inflate(retr_raw(client, "LIST"))
    assert b"z.bin" in inflate(retr_raw(client, "MLSD"))

    # APPE inflates like STOR; an empty file is a complete (empty) stream.
    tail = os.urandom(1000)
    assert stor_raw(client, "APPE z.bin", zlib.compress(tail)).startswith("226")
    assert (ftps_server.home() / "z.bin").read_bytes() == data + tail
    (ftps_server.home() / "empty.bin").write_bytes(b"")
    assert inflate(retr_raw(client, "RETR empty.bin")) == b""

    # MODE S: the bytes as they are again.
    assert client.sendcmd("MODE S").startswith("200")
    assert retr_raw(client, "RETR z.bin") == data + tail


def test_mode_z_rest_counts_file_bytes(ftps_server, client):
    data = mixed_data(2 * MiB, seed=7)
    (ftps_server.home() / "r.bin").write_bytes(data)
    client.voidcmd("MODE Z")
    # RETR from an offset: a fresh zlib stream of the file from there.
    assert inflate(retr_raw(client, "RETR r.bin", rest=123457)) == data[123457:]
    # STOR from an offset: the inflated bytes go to the file from there.
    part = data[:1000000]
    (ftps_server.home() / "s.bin").write_bytes(part)
    reply = stor_raw(client, "STOR s.bin", zlib.compress(data[len(part):]), rest=len(part))
    assert reply.startswith("226"), reply
    assert (ftps_server.home() / "s.bin").read_bytes() == data


def test_mode_z_corrupt_stream_keeps_complete_file(ftps_server, client):
    home = ftps_server.home()
    original = os.urandom(300 * 1024)
    (home / "keep.bin").write_bytes(original)
    client.voidcmd("MODE Z")
    bad = [
        b"this is not a zlib stream" * 100,                   # bad header
        zlib.compress(os.urandom(200 * 1024))[:50000],         # cut short
        zlib.compress(b"x" * 1000) + b"trailing garbage",      # bytes after the end
        bytearray(zlib.compress(os.urandom(100 * 1024))),      # bad checksum below
    ]
    bad[3][-2] ^= 0xFF
    for wire in bad:
        reply = stor_raw(client, "STOR keep.bin", bytes(wire))
        assert reply[:1] in ("4", "5"), reply
        assert (home / "keep.bin").read_bytes() == original
    # The session goes on, and a good stream still works.
    assert stor_raw(client, "STOR keep.bin", zlib.compress(b"fine")).startswith("226")
    assert (home / "keep.bin").read_bytes() == b"fine"


def test_mode_z_bomb_bounded_by_quota(start_server):
    srv = start_server(listen=("127.0.0.1:0",), user_rules={"alice": {"quota_bytes": 1 * MiB}})
    home = srv.home()
    (home / "small.bin").write_bytes(b"s" * 1000)
    ftp = ftp_login(srv)
    ftp.voidcmd("TYPE I")
    ftp.voidcmd("MODE Z")
    # 256 MiB of zeros in about 256 KiB: refused at the quota, not inflated
    # whole into memory or onto the disk.
    comp = zlib.compressobj(9)
    bomb = b"".join(comp.compress(bytes(MiB)) for _ in range(256)) + comp.flush()
    assert len(bomb) < MiB
    reply = stor_raw(ftp, "STOR bomb.bin", bomb)
    assert reply.startswith("552"), reply
    used = sum(p.stat().st_size for p in home.rglob("*") if p.is_file())
    assert used <= 1 * MiB
    assert (home / "small.bin").read_bytes() == b"s" * 1000
    ftp.quit()


def test_opts_mode_z_level(ftps_server, client):
    text = mixed_data(1 * MiB, seed=3)
    (ftps_server.home() / "t.bin").write_bytes(text)
    client.voidcmd("MODE Z")
    sizes = {}
    for level in (1, 9):
        resp = client.sendcmd("OPTS MODE Z LEVEL %d" % level)
        assert resp.startswith("200"), resp
        wire = retr_raw(client, "RETR t.bin")
        assert inflate(wire) == text
        sizes[level] = len(wire)
    assert sizes[9] < sizes[1], sizes
    for bad in ("OPTS MODE Z LEVEL 0", "OPTS MODE Z LEVEL 10", "OPTS MODE Z LEVEL x",
                "OPTS MODE Z", "OPTS MODE S LEVEL 5", "OPTS MODE Z LEVEL 5 6"):
        try:
            resp = client.sendcmd(bad)
        except Exception as e:
            resp = str(e)
        assert resp.startswith("501"), (bad, resp)
    # A refused level changes nothing: the last good one (9) still applies.
    assert len(retr_raw(client, "RETR t.bin")) == sizes[9]
