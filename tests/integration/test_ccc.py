"""CCC (RFC 4217 12.2) behind [ftp] allow_ccc: curl --ftp-ssl-ccc (both
--ftp-ssl-ccc-mode values) downloads and uploads byte for byte, the control
connection in clear after the close_notify exchange and the data connections
still under PROT P; refused (534) with the option off, the default."""

import os
import shutil
import socket
import ssl
import subprocess

import pytest

from ftphelpers import MiB, client_context, read_raw_reply

CURL = shutil.which("curl") or "curl"


def curl_ccc(srv, tmp_path, *args, mode=None):
    argv = [CURL, "-sS", "-v", "--noproxy", "*", "--max-time", "60", "--connect-timeout", "10",
            "-u", "alice:%s" % srv.users["alice"]["password"], "--ssl-reqd", "-k", "--ftp-ssl-ccc",
            *(["--ftp-ssl-ccc-mode", mode] if mode else []), *args]
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["HOME"] = str(tmp_path)
    return subprocess.run(argv, capture_output=True, timeout=90, env=env,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("mode", [None, "passive", "active"])
def test_curl_ccc_transfers(start_server, tmp_path, mode):
    # curl's passive CCC mode (its default) never sends its close_notify, and
    # OpenSSL then marks curl's own TLS session not resumable: its data
    # connections make full handshakes, which berth accepts after CCC even
    # with require_session_reuse (on by default).
    srv = start_server(listen=("127.0.0.1:0",), extra_ftp={"allow_ccc": "true"})
    data = os.urandom(3 * MiB + 7)
    (srv.home() / "down.bin").write_bytes(data)
    url = "ftp://127.0.0.1:%d/" % srv.port
    out = tmp_path / "out.bin"
    r = curl_ccc(srv, tmp_path, url + "down.bin", "-o", str(out), mode=mode)
    log = r.stderr.decode(errors="replace")
    assert r.returncode == 0, log[-3000:]
    assert "> CCC" in log and "< 200" in log
    assert "> PROT P" in log and "> PROT C" not in log
    assert out.read_bytes() == data

    up = tmp_path / "up.bin"
    up.write_bytes(os.urandom(2 * MiB + 3))
    r = curl_ccc(srv, tmp_path, "-T", str(up), url + "up.bin", mode=mode)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-3000:]
    assert (srv.home() / "up.bin").read_bytes() == up.read_bytes()


def expect(sock, code):
    got, text = read_raw_reply(sock)
    assert got == code, text
    return text


def tls_login(srv, before_login=None):
    """Raw control connection: AUTH TLS, login, PBSZ 0, PROT P. Returns the
    TLS socket. before_login: (command, code) sent first under TLS."""
    raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    expect(raw, 220)
    raw.sendall(b"AUTH TLS\r\n")
    expect(raw, 234)
    s = client_context().wrap_socket(raw, server_hostname="127.0.0.1")
    if before_login:
        s.sendall(before_login[0] + b"\r\n")
        expect(s, before_login[1])
    for line, code in ((b"USER alice", "331"),
                       (b"PASS " + srv.users["alice"]["password"].encode(), "230"),
                       (b"PBSZ 0", "200"), (b"PROT P", "200")):
        s.sendall(line + b"\r\n")
        expect(s, int(code))
    return s


def test_ccc_control_in_clear_after(start_server):
    srv = start_server(listen=("127.0.0.1:0",), extra_ftp={"allow_ccc": "true"})
    s = tls_login(srv, before_login=(b"CCC", 530))  # not before the login
    s.sendall(b"CCC\r\n")
    expect(s, 200)
    plain = s.unwrap()  # both close_notify alerts; the TCP connection stays
    assert plain.fileno() >= 0
    plain.sendall(b"PWD\r\n")
    expect(plain, 257)
    plain.sendall(b"CCC\r\n")  # nothing left to clear
    expect(plain, 533)
    plain.sendall(b"QUIT\r\n")
    expect(plain, 221)
    plain.close()


def test_ccc_refused_by_default(start_server, tmp_path):
    srv = start_server(listen=("127.0.0.1:0",))
    s = tls_login(srv)
    s.sendall(b"CCC\r\n")
    expect(s, 534)
    s.sendall(b"PWD\r\n")  # still TLS
    expect(s, 257)
    s.close()
    (srv.home() / "down.bin").write_bytes(b"x" * 1000)
    r = curl_ccc(srv, tmp_path, "ftp://127.0.0.1:%d/down.bin" % srv.port, "-o",
                 str(tmp_path / "o.bin"))
    # curl goes on with the command channel still under TLS.
    assert r.returncode == 0, r.stderr[-2000:]
    assert b"> CCC" in r.stderr and b"< 534" in r.stderr
    assert (tmp_path / "o.bin").read_bytes() == b"x" * 1000


def fresh_handshake_retr(ctl, name):
    """PASV, RETR `name` on a data connection that makes a full TLS handshake
    (no session offered); returns the final reply's code and the data read."""
    ctl.sendall(b"PASV\r\n")
    text = expect(ctl, 227)
    nums = [int(n) for n in text[text.index("(") + 1:text.index(")")].split(",")]
    data = socket.create_connection(("127.0.0.1", nums[4] * 256 + nums[5]), timeout=10)
    ctl.sendall(b"RETR " + name.encode() + b"\r\n")
    got = b""
    try:
        d = client_context().wrap_socket(data, server_hostname="127.0.0.1")
        while chunk := d.recv(65536):
            got += chunk
        d.close()
    except (ssl.SSLError, OSError):
        data.close()
    code, _ = read_raw_reply(ctl)
    while 100 <= code < 200:
        code, _ = read_raw_reply(ctl)
    return code, got


def test_auth_tls_again_after_ccc_requires_resumption(start_server):
    """A full data handshake is accepted after CCC only while the command
    channel stays clear: AUTH TLS again brings back the resumption rule."""
    srv = start_server(listen=("127.0.0.1:0",), extra_ftp={"allow_ccc": "true"})
    (srv.home() / "f.bin").write_bytes(b"y" * 5000)
    s = tls_login(srv)
    s.sendall(b"CCC\r\n")
    expect(s, 200)
    plain = s.unwrap()
    assert fresh_handshake_retr(plain, "f.bin") == (226, b"y" * 5000)
    plain.sendall(b"AUTH TLS\r\n")
    expect(plain, 234)
    again = client_context().wrap_socket(plain, server_hostname="127.0.0.1")
    for line, code in ((b"PBSZ 0", 200), (b"PROT P", 200)):
        again.sendall(line + b"\r\n")
        expect(again, code)
    code, got = fresh_handshake_retr(again, "f.bin")
    assert code == 522 and got == b""
    again.close()
