"""Per-client passive address: [ftp] passive_address_rules choose the PASV
address by the control connection's client address (first match), and
passive_address (the rest) may be a host name, looked up off the event loop.
Clients bind their source address (ftplib's source_address) to 127.0.0.2 or
127.0.0.1; berth listens on 127.0.0.3, so neither answer is its local one."""

import io
import os

from ftphelpers import PlainFTP, parse_pasv

RULES = '[{ from = "127.0.0.2/32", address = "127.0.0.2" }, ' \
        '{ from = "127.0.0.0/30", address = "127.0.0.1" }]'


def login_from(srv, source):
    ftp = PlainFTP(timeout=10)
    ftp.connect(srv.host, srv.port, source_address=(source, 0))
    ftp.login("alice", srv.users["alice"]["password"])
    ftp.voidcmd("TYPE I")
    return ftp


def pasv_host(ftp):
    host, _ = parse_pasv(ftp.sendcmd("PASV"))
    return host


def roundtrip(srv, ftp, name):
    data = os.urandom(1024 * 1024 + 11)
    ftp.storbinary("STOR " + name, io.BytesIO(data))
    assert (srv.home() / name).read_bytes() == data
    got = bytearray()
    ftp.retrbinary("RETR " + name, got.extend)
    assert bytes(got) == data


def test_passive_address_by_client(start_server):
    # The rules come before passive_address (given here for the rest).
    srv = start_server(listen=("127.0.0.3:0",), passive_address="198.51.100.7",
                       extra_ftp={"passive_address_rules": RULES})
    srv.host = "127.0.0.3"
    # 127.0.0.2: the first rule.
    a = login_from(srv, "127.0.0.2")
    assert pasv_host(a) == "127.0.0.2"
    roundtrip(srv, a, "a.bin")  # ftplib connects to the control peer, where berth listens
    a.quit()
    # 127.0.0.1: the second rule.
    b = login_from(srv, "127.0.0.1")
    assert pasv_host(b) == "127.0.0.1"
    roundtrip(srv, b, "b.bin")
    b.quit()
    # 127.0.0.3: not the first rule, within the second's block.
    c = login_from(srv, "127.0.0.3")
    assert pasv_host(c) == "127.0.0.1"
    c.quit()


def test_passive_address_host_name_fallback(start_server):
    # No rule matches: "localhost" is looked up and announced as 127.0.0.1,
    # not the local 127.0.0.3; the answer is kept for the next session.
    srv = start_server(listen=("127.0.0.3:0",), passive_address="localhost",
                       extra_ftp={"passive_address_rules":
                                  '[{ from = "10.0.0.0/8", address = "10.1.2.3" }]'})
    srv.host = "127.0.0.3"
    for _ in range(2):
        ftp = login_from(srv, "127.0.0.2")
        assert pasv_host(ftp) == "127.0.0.1"
        roundtrip(srv, ftp, "c.bin")
        ftp.quit()


def test_passive_address_unresolvable_name(start_server):
    # A name that never resolves: PASV fails cleanly (425), EPSV still works.
    srv = start_server(listen=("127.0.0.3:0",), passive_address="berth-no-such-host.invalid")
    srv.host = "127.0.0.3"
    ftp = login_from(srv, "127.0.0.2")
    try:
        ftp.sendcmd("PASV")
        raise AssertionError("PASV succeeded")
    except Exception as e:
        assert str(e).startswith("425"), e
    assert ftp.sendcmd("EPSV").startswith("229")
    ftp.quit()
