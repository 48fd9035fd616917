"""Virtual hosts (RFC 7151 HOST, [[ftp.host]]): the host's banner and users,
HOST's place in the command sequence, REIN, and the host's certificate,
chosen by HOST before AUTH TLS or by the TLS server name (SNI) on explicit
and implicit FTPS (ftplib, ssl, curl); data connections under a host's
certificate still resume the control connection's session; configuration
errors."""

import ftplib
import io
import shutil
import socket
import ssl
import subprocess

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from ftphelpers import (CTRL_TIMEOUT, BerthServer, ExplicitFTPS, ImplicitFTPS, PlainFTP,
                        client_context, cmd, make_cert_pair, quit_quietly, read_raw_reply)

TLS12, TLS13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3
CURL = shutil.which("curl")


def subject_cn(der):
    cert = x509.load_der_x509_certificate(der)
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def pem_der(path):
    return ssl.PEM_cert_to_DER_cert(path.read_text())


@pytest.fixture
def hosts_server(berth, tmp_path):
    """Hosts a.example (alice, own certificate, banner) and b.example (bob,
    own certificate); c.example (every user, the server's certificate)."""
    certs = tmp_path / "certs"
    a_cert, a_key = make_cert_pair(certs, "a.example")
    b_cert, b_key = make_cert_pair(certs, "b.example")
    hosts = [
        '[[ftp.host]]', 'name = "a.example"', 'users = ["alice"]',
        'certificate = "%s"' % a_cert, 'private_key = "%s"' % a_key,
        'banner = "Welcome to host A."',
        '[[ftp.host]]', 'name = "B.Example"', 'users = ["bob"]',
        'certificate = "%s"' % b_cert, 'private_key = "%s"' % b_key,
        '[[ftp.host]]', 'name = "c.example"',
    ]
    srv = BerthServer(tmp_path / "srv", ftps={"listen": ["127.0.0.1:0"], "active_data_port": 0})
    # [[ftp.host]] tables may follow every other table of the file
    srv.config_path.write_text(srv.config_text + "\n" + "\n".join(hosts) + "\n")
    srv.start()
    srv.certs = {"a.example": pem_der(a_cert), "b.example": pem_der(b_cert)}
    yield srv
    srv.stop()
    assert srv.proc.returncode == 0, srv.stderr_text()[-2000:]


def plain(srv):
    c = PlainFTP(timeout=CTRL_TIMEOUT)
    c.connect(srv.host, srv.port)
    return c


def login(c, srv, user):
    return cmd(c, "USER " + user)[0] == 331 and cmd(c, "PASS " + srv.users[user]["password"])[0]


class SniExplicit(ExplicitFTPS):
    """Explicit FTPS whose TLS (control and data) names `sni` as the server;
    with hello=... HOST is sent before AUTH TLS."""

    sni = None

    def auth(self):
        resp = self.voidcmd("AUTH TLS")
        self.sock = self.context.wrap_socket(self.sock, server_hostname=self.sni)
        self.file = self.sock.makefile(mode="r", encoding=self.encoding)
        return resp

    def ntransfercmd(self, cmd_, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd_, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.sni,
                                            session=self.sock.session)
        return conn, size


class SniImplicit(ImplicitFTPS):
    sni = None

    def connect(self, host="", port=0, timeout=-999, source_address=None):
        self.host, self.port = host, port
        raw = socket.create_connection((host, port), self.timeout)
        self.sock = self.context.wrap_socket(raw, server_hostname=self.sni)
        self.af = self.sock.family
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome

    ntransfercmd = SniExplicit.ntransfercmd


def retr(c, name):
    buf = io.BytesIO()
    assert c.retrbinary("RETR " + name, buf.write).startswith("226")
    return buf.getvalue()


# ------------------------------------------------------------------ HOST on plain FTP

def test_host_banner_users_and_sequence(hosts_server):
    srv = hosts_server
    c = plain(srv)
    try:
        code, text = cmd(c, "FEAT")
        assert code == 211 and "HOST" in [l.strip() for l in text.splitlines()], text
        assert cmd(c, "HOST a.example") == (220, "220 Welcome to host A.")
        assert login(c, srv, "alice") == 230
        code, text = cmd(c, "HOST a.example")
        assert code == 503, "HOST after login -> %r" % text
        # REIN forgets the login and the host: HOST may come again
        assert cmd(c, "REIN")[0] == 220
        code, text = cmd(c, "HOST b.EXAMPLE")  # names compare without case
        assert code == 220 and "B.Example" in text, text
        assert login(c, srv, "bob") == 230
    finally:
        quit_quietly(c)


def test_host_refuses_other_users(hosts_server):
    srv = hosts_server
    c = plain(srv)
    try:
        assert cmd(c, "HOST a.example")[0] == 220
        assert login(c, srv, "bob") == 530, "bob is not a user of a.example"
        assert cmd(c, "PWD")[0] == 530
        assert login(c, srv, "alice") == 230  # the host stays chosen after a failure
    finally:
        quit_quietly(c)
    c = plain(srv)
    try:
        assert cmd(c, "HOST c.example")[0] == 220  # no users list: everybody
        assert login(c, srv, "bob") == 230
    finally:
        quit_quietly(c)
    c = plain(srv)
    try:  # no HOST: the server's own users, as before
        assert login(c, srv, "bob") == 230
    finally:
        quit_quietly(c)


def test_host_unknown_after_user_and_bad(hosts_server):
    srv = hosts_server
    c = plain(srv)
    try:
        code, text = cmd(c, "HOST unknown.example")
        assert code == 504, text
        assert cmd(c, "HOST")[0] == 501
        assert cmd(c, "USER alice")[0] == 331
        code, text = cmd(c, "HOST a.example")
        assert code == 503, "HOST after USER -> %r" % text
        # the address the client reached names the server itself
        assert cmd(c, "HOST 127.0.0.1")[0] == 220
        assert cmd(c, "HOST [127.0.0.1]")[0] == 220
        assert login(c, srv, "bob") == 230
    finally:
        quit_quietly(c)


# ------------------------------------------------------------------ certificates

def test_host_before_auth_tls_chooses_certificate(hosts_server):
    srv = hosts_server
    (srv.home("alice") / "f.bin").write_bytes(b"host A data" * 5000)
    for version in (TLS12, TLS13):
        c = ExplicitFTPS(context=client_context(max_version=version), timeout=CTRL_TIMEOUT)
        try:
            c.connect(srv.host, srv.port)
            assert cmd(c, "HOST a.example")[0] == 220
            c.auth()  # no SNI: 127.0.0.1 is an address
            der = c.sock.getpeercert(binary_form=True)
            assert subject_cn(der) == "a.example" and der == srv.certs["a.example"]
            c.login("alice", srv.users["alice"]["password"])
            c.prot_p()
            assert retr(c, "f.bin") == b"host A data" * 5000
        finally:
            quit_quietly(c)
    c = ExplicitFTPS(context=client_context(), timeout=CTRL_TIMEOUT)
    try:  # without HOST: the server's certificate
        c.connect(srv.host, srv.port)
        c.auth()
        assert c.sock.getpeercert(binary_form=True) not in srv.certs.values()
    finally:
        quit_quietly(c)


@pytest.mark.parametrize("version", [TLS12, TLS13], ids=["tls1.2", "tls1.3"])
def test_sni_chooses_certificate_explicit(hosts_server, version):
    srv = hosts_server
    (srv.home("bob") / "g.bin").write_bytes(b"host B" * 7000)
    c = SniExplicit(context=client_context(max_version=version), timeout=CTRL_TIMEOUT)
    c.sni = "b.example"
    try:
        c.connect(srv.host, srv.port)
        c.auth()
        assert subject_cn(c.sock.getpeercert(binary_form=True)) == "b.example"
        code, text = cmd(c, "HOST a.example")
        assert code == 504, "HOST naming another host than SNI -> %r" % text
        assert cmd(c, "HOST B.example")[0] == 220
        c.login("bob", srv.users["bob"]["password"])
        c.prot_p()
        # the data connection resumes a session made under b.example's
        # certificate (sessions and tickets are shared by all certificates)
        assert retr(c, "g.bin") == b"host B" * 7000
        assert c.storbinary("STOR up.bin", io.BytesIO(b"to B" * 3000)).startswith("226")
        assert (srv.home("bob") / "up.bin").read_bytes() == b"to B" * 3000
    finally:
        quit_quietly(c)


def test_host_then_auth_tls_with_other_sni_refused(hosts_server):
    srv = hosts_server
    c = SniExplicit(context=client_context(), timeout=CTRL_TIMEOUT)
    c.sni = "b.example"
    try:
        c.connect(srv.host, srv.port)
        assert cmd(c, "HOST a.example")[0] == 220
        with pytest.raises((ssl.SSLError, OSError)):
            c.auth()
    finally:
        c.close()


@pytest.mark.parametrize("version", [TLS12, TLS13], ids=["tls1.2", "tls1.3"])
def test_sni_chooses_certificate_implicit(hosts_server, version):
    srv = hosts_server
    for sni, want in (("a.example", "a.example"), ("B.EXAMPLE", "b.example"),
                      ("c.example", None), ("other.example", None)):
        raw = socket.create_connection((srv.host, srv.ftps_port), CTRL_TIMEOUT)
        s = client_context(max_version=version).wrap_socket(raw, server_hostname=sni)
        try:
            der = s.getpeercert(binary_form=True)
            if want is None:
                assert der not in srv.certs.values(), sni
            else:
                assert der == srv.certs[want] and subject_cn(der) == want, sni
            assert read_raw_reply(s)[0] == 220
        finally:
            s.close()
    (srv.home("alice") / "i.bin").write_bytes(b"implicit A" * 4000)
    c = SniImplicit(context=client_context(max_version=version), timeout=CTRL_TIMEOUT)
    c.sni = "a.example"
    try:
        c.connect(srv.host, srv.ftps_port)
        assert subject_cn(c.sock.getpeercert(binary_form=True)) == "a.example"
        assert cmd(c, "HOST a.example")[0] == 220
        c.login("alice", srv.users["alice"]["password"])
        c.voidcmd("TYPE I")
        assert retr(c, "i.bin") == b"implicit A" * 4000
    finally:
        quit_quietly(c)


def test_curl_implicit_sni(hosts_server, tmp_path):
    assert CURL, "curl is not installed"
    srv = hosts_server
    payload = bytes(range(256)) * 1000
    (srv.home("bob") / "c.bin").write_bytes(payload)
    out = tmp_path / "c.bin"
    r = subprocess.run(
        [CURL, "-sS", "-v", "-k", "--resolve", "b.example:%d:127.0.0.1" % srv.ftps_port,
         "-u", "bob:" + srv.users["bob"]["password"], "-o", str(out),
         "ftps://b.example:%d/c.bin" % srv.ftps_port],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert "subject: CN=b.example" in r.stderr, r.stderr
    assert out.read_bytes() == payload


# ------------------------------------------------------------------ configuration errors

def _host_config(tmp_path, host_lines):
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    cfg = tmp_path / "hosts.toml"
    cfg.write_text("\n".join([
        "[server]", 'state_dir = "%s"' % (tmp_path / "state"),
        "[ftp]", 'listen = ["127.0.0.1:0"]',
        "[[user]]", 'name = "alice"', 'password = "pw"', 'home = "%s"' % home,
    ] + host_lines) + "\n")
    return cfg


def _bad_host_cases(tmp_path):
    cert, key = make_cert_pair(tmp_path / "certs", "x.example")
    _, other_key = make_cert_pair(tmp_path / "certs", "y.example")
    return {
        "duplicate": (['[[ftp.host]]', 'name = "a.example"',
                       '[[ftp.host]]', 'name = "A.example"'], 'duplicate host "A.example"'),
        "missing_cert": (['[[ftp.host]]', 'name = "a.example"',
                          'certificate = "%s"' % (tmp_path / "nope.pem")], "no such file"),
        "unknown_user": (['[[ftp.host]]', 'name = "a.example"', 'users = ["alice", "carol"]'],
                         'unknown user "carol"'),
        "bad_name": (['[[ftp.host]]', 'name = "a example"'], "bad host name"),
        "bad_banner": (['[[ftp.host]]', 'name = "a.example"', 'banner = "two\\nlines"'],
                       "ftp.host.banner"),
        "unknown_key": (['[[ftp.host]]', 'name = "a.example"', 'root = "/"'], "ftp.host.root: unknown key"),
        "key_mismatch": (['[[ftp.host]]', 'name = "a.example"', 'certificate = "%s"' % cert,
                          'private_key = "%s"' % other_key], 'ftp.host "a.example".private_key'),
    }


@pytest.mark.parametrize("case", ["duplicate", "missing_cert", "unknown_user", "bad_name",
                                  "bad_banner", "unknown_key", "key_mismatch"])
@pytest.mark.parametrize("how", ["check-config", "serve"])
def test_bad_host_config(berth, tmp_path, case, how):
    lines, reason = _bad_host_cases(tmp_path)[case]
    cfg = _host_config(tmp_path, lines)
    args = ["check-config", str(cfg)] if how == "check-config" else ["serve", "--config", str(cfg)]
    r = subprocess.run([str(berth)] + args, capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    errors = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(errors) == 1 and reason in errors[0], r.stderr
    assert "berth ready" not in r.stdout
