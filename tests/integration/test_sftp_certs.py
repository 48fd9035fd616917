"""SSH user certificates: `cert-authority` lines (with `principals=`) in
authorized_keys and `[sftp] trusted_user_ca_keys`, the certificate's validity
period, principals and critical options (`source-address`, `force-command`),
and `[sftp] revoked_keys` as an OpenSSH KRL or a plain key list. Certificates
are made with `ssh-keygen -s`; logins are OpenSSH's sftp and paramiko, each
moving a file both ways byte for byte."""

import os
import shutil
import subprocess

import pytest

from test_config import _base, _check_single_error_line, _render
from test_sftp_clients import SSH_OPTS, describe, env, host_keys, run  # noqa: F401  (fixtures)

import paramiko  # a test dependency (scripts/install-deps.sh --test): its absence fails

SFTP = shutil.which("sftp")
KEYGEN = shutil.which("ssh-keygen")
PAYLOAD = os.urandom(100_000) + b"\r\n\x00end"


def keygen(path, kind="ed25519"):
    bits = ["-b", "3072"] if kind == "rsa" else []
    subprocess.run([KEYGEN, "-q", "-t", kind, *bits, "-N", "", "-C", path.name, "-f", str(path)],
                   check=True, timeout=60, stdin=subprocess.DEVNULL, capture_output=True)
    return path


def pub(path):
    return path.with_name(path.name + ".pub").read_text().strip()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """CAs of each key type and user keys. Certificates are written beside
    copies of the public key, never beside the private key, so that ssh loads
    only the certificate a test names."""
    assert SFTP and KEYGEN, "OpenSSH's sftp and ssh-keygen are test dependencies"
    d = tmp_path_factory.mktemp("pki")
    return {
        "dir": d,
        "ca": keygen(d / "ca"),
        "ca_ecdsa": keygen(d / "ca_ecdsa", "ecdsa"),
        "ca_rsa": keygen(d / "ca_rsa", "rsa"),
        "stranger_ca": keygen(d / "stranger_ca"),
        "user": keygen(d / "user"),
        "plain": keygen(d / "plain"),
    }


def sign(pki, name, ca="ca", principals="alice", validity="-5m:+1h", serial=7, key_id="id",
         options=()):
    """A certificate for pki's user key, made by `ssh-keygen -s`."""
    d = pki["dir"] / ("cert-" + name)
    d.mkdir()
    key_pub = d / "user.pub"
    key_pub.write_text(pub(pki["user"]) + "\n")
    argv = [KEYGEN, "-q", "-s", str(pki[ca]), "-I", key_id, "-n", principals, "-V", validity,
            "-z", str(serial)]
    for o in options:
        argv += ["-O", o]
    subprocess.run(argv + [str(key_pub)], check=True, timeout=30, stdin=subprocess.DEVNULL,
                   capture_output=True)
    return d / "user-cert.pub"


def start(start_server, host_keys, authorized=(), **sftp):
    return start_server(listen=("127.0.0.1:0",),
                        sftp={"listen": ["127.0.0.1:0"], "host_keys": host_keys, **sftp},
                        authorized_keys={"alice": list(authorized)},
                        extra_ftp={"failed_login_delay_ms": 0})


def sftp_login(srv, tmp_path, env, key, cert=None):
    """True when OpenSSH's sftp logs in as alice with `key` (and `cert`) and
    moves PAYLOAD up and back unchanged."""
    work = tmp_path / ("run-%d" % len(list(tmp_path.glob("run-*"))))
    work.mkdir()
    src, back = work / "up.bin", work / "back.bin"
    src.write_bytes(PAYLOAD)
    batch = work / "batch"
    batch.write_text("put %s %s.bin\nget %s.bin %s\n" % (src, work.name, work.name, back))
    argv = [SFTP, "-b", str(batch), "-i", str(key), "-o", "IdentitiesOnly=yes",
            "-o", "IdentityAgent=none", "-o", "PasswordAuthentication=no",
            "-o", "KbdInteractiveAuthentication=no"] + SSH_OPTS
    if cert is not None:
        argv += ["-o", "CertificateFile=%s" % cert]
    argv += ["-P", str(srv.sftp_port), "alice@127.0.0.1"]
    r = run(argv, env, cwd=str(work))
    if r.returncode != 0:
        assert "Permission denied" in r.stderr, describe(r)
        return False
    assert (srv.home() / (work.name + ".bin")).read_bytes() == PAYLOAD
    assert back.read_bytes() == PAYLOAD
    return True


def refused_with(srv, tmp_path, env, pki, cert, reason):
    """The certificate is refused and the server logs `reason` for it."""
    before = srv.stderr_text()
    assert not sftp_login(srv, tmp_path, env, pki["user"], cert)
    new = srv.stderr_text()[len(before):]
    lines = [l for l in new.splitlines() if "public key for alice refused" in l]
    assert any(reason in l for l in lines), new


def test_cert_authority_in_authorized_keys(start_server, host_keys, pki, tmp_path, env):
    srv = start(start_server, host_keys,
                ["cert-authority " + pub(pki["ca"]), pub(pki["plain"])])
    assert sftp_login(srv, tmp_path, env, pki["user"], sign(pki, "ok"))
    assert sftp_login(srv, tmp_path, env, pki["plain"])  # a plain key works as before
    assert not sftp_login(srv, tmp_path, env, pki["user"])  # the bare key is no CA-signed key
    refused_with(srv, tmp_path, env, pki, sign(pki, "expired", validity="20200101:20200201"),
                 "certificate expired")
    refused_with(srv, tmp_path, env, pki, sign(pki, "future", validity="+1d:+2d"),
                 "certificate not yet valid")
    refused_with(srv, tmp_path, env, pki, sign(pki, "bob", principals="bob"),
                 "no certificate principal allowed")
    refused_with(srv, tmp_path, env, pki, sign(pki, "stranger", ca="stranger_ca"),
                 "untrusted CA")


def test_critical_options(start_server, host_keys, pki, tmp_path, env):
    srv = start(start_server, host_keys, ["cert-authority " + pub(pki["ca"])])
    assert sftp_login(srv, tmp_path, env, pki["user"],
                      sign(pki, "sftp", options=["force-command=internal-sftp"]))
    assert sftp_login(srv, tmp_path, env, pki["user"],
                      sign(pki, "here", options=["source-address=10.0.0.0/8,127.0.0.1"]))
    refused_with(srv, tmp_path, env, pki, sign(pki, "shell", options=["force-command=/bin/sh"]),
                 'certificate force-command "/bin/sh" is not sftp')
    refused_with(srv, tmp_path, env, pki,
                 sign(pki, "elsewhere", options=["source-address=10.0.0.0/8"]),
                 "client address not in certificate source-address")
    refused_with(srv, tmp_path, env, pki,
                 sign(pki, "unknown", options=["critical:frobnicate@example.com=yes"]),
                 'unknown critical option "frobnicate@example.com"')


def test_principals_option_on_cert_authority_line(start_server, host_keys, pki, tmp_path, env):
    srv = start(start_server, host_keys,
                ['cert-authority,principals="ops,backup" ' + pub(pki["ca"])])
    assert sftp_login(srv, tmp_path, env, pki["user"], sign(pki, "ops", principals="web,ops"))
    refused_with(srv, tmp_path, env, pki, sign(pki, "alice"), "no certificate principal allowed")


def test_trusted_user_ca_keys(start_server, host_keys, pki, tmp_path, env):
    cas = tmp_path / "trusted_cas"
    cas.write_text("# CAs for every user\n%s\n%s\n" % (pub(pki["ca_ecdsa"]), pub(pki["ca_rsa"])))
    srv = start(start_server, host_keys, trusted_user_ca_keys=str(cas))
    assert sftp_login(srv, tmp_path, env, pki["user"], sign(pki, "ecdsa", ca="ca_ecdsa"))
    assert sftp_login(srv, tmp_path, env, pki["user"], sign(pki, "rsa", ca="ca_rsa"))
    refused_with(srv, tmp_path, env, pki, sign(pki, "ecdsa-bob", ca="ca_ecdsa", principals="bob"),
                 "no certificate principal allowed")
    refused_with(srv, tmp_path, env, pki, sign(pki, "other", ca="ca"), "untrusted CA")


def test_paramiko_certificate(start_server, host_keys, pki, tmp_path):
    srv = start(start_server, host_keys, ["cert-authority " + pub(pki["ca"])])
    key = paramiko.Ed25519Key.from_private_key_file(str(pki["user"]))
    key.load_certificate(str(sign(pki, "paramiko")))
    t = paramiko.Transport(("127.0.0.1", srv.sftp_port))
    try:
        t.connect(username="alice", pkey=key)
        s = paramiko.SFTPClient.from_transport(t)
        with s.open("pm.bin", "wb") as f:
            f.write(PAYLOAD)
        with s.open("pm.bin", "rb") as f:
            assert f.read() == PAYLOAD
        s.close()
    finally:
        t.close()
    assert (srv.home() / "pm.bin").read_bytes() == PAYLOAD


def test_revoked_keys_krl(start_server, host_keys, pki, tmp_path, env):
    """A KRL by serial, key id and explicit key, read again at every login:
    revoking takes effect without a reload."""
    krl = tmp_path / "revoked.krl"
    subprocess.run([KEYGEN, "-q", "-k", "-f", str(krl)], check=True, timeout=30,
                   capture_output=True, stdin=subprocess.DEVNULL)
    srv = start(start_server, host_keys, ["cert-authority " + pub(pki["ca"]), pub(pki["plain"])],
                revoked_keys=str(krl))
    cert7, cert8 = sign(pki, "serial7"), sign(pki, "serial8", serial=8, key_id="other")
    assert sftp_login(srv, tmp_path, env, pki["user"], cert7)
    assert sftp_login(srv, tmp_path, env, pki["plain"])
    spec = tmp_path / "spec"
    spec.write_text("serial: 5-7\nid: other\n")
    subprocess.run([KEYGEN, "-q", "-k", "-u", "-f", str(krl), "-s", str(pki["ca"]) + ".pub",
                    str(spec)], check=True, timeout=30, capture_output=True,
                   stdin=subprocess.DEVNULL)
    subprocess.run([KEYGEN, "-q", "-k", "-u", "-f", str(krl), str(pki["plain"]) + ".pub"],
                   check=True, timeout=30, capture_output=True, stdin=subprocess.DEVNULL)
    assert krl.read_bytes().startswith(b"SSHKRL\n\0")
    refused_with(srv, tmp_path, env, pki, cert7, "certificate serial 7 is revoked")
    refused_with(srv, tmp_path, env, pki, cert8, "certificate key id is revoked")
    before = srv.stderr_text()
    assert not sftp_login(srv, tmp_path, env, pki["plain"])
    assert "key is revoked (revoked_keys)" in srv.stderr_text()[len(before):]
    assert sftp_login(srv, tmp_path, env, pki["user"], sign(pki, "serial9", serial=9))


def test_revoked_keys_plain_list(start_server, host_keys, pki, tmp_path, env):
    revoked = tmp_path / "revoked.txt"
    revoked.write_text("")
    srv = start(start_server, host_keys, ["cert-authority " + pub(pki["ca"]), pub(pki["plain"])],
                revoked_keys=str(revoked))
    cert = sign(pki, "plainlist")
    assert sftp_login(srv, tmp_path, env, pki["plain"])
    assert sftp_login(srv, tmp_path, env, pki["user"], cert)
    revoked.write_text("# revoked\n%s\n" % pub(pki["plain"]))
    before = srv.stderr_text()
    assert not sftp_login(srv, tmp_path, env, pki["plain"])
    assert "key is revoked (revoked_keys)" in srv.stderr_text()[len(before):]
    assert sftp_login(srv, tmp_path, env, pki["user"], cert)
    revoked.write_text(pub(pki["ca"]) + "\n")  # revoking the CA revokes what it signed
    refused_with(srv, tmp_path, env, pki, cert, "certificate authority key is revoked")
    revoked.write_text("not a key\n")  # unreadable: every key is refused, as sshd does
    refused_with(srv, tmp_path, env, pki, cert, "revoked_keys line 1 is not a public key")


@pytest.mark.parametrize("key,value,why", [
    ("trusted_user_ca_keys", '"/nonexistent/berth-cas"', "no such file"),
    ("revoked_keys", '"/nonexistent/berth-krl"', "no such file"),
    ("revoked_keys", "5", "must be a string"),
])
def test_bad_config_values(berth, tmp_path, key, value, why):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(_render(_base(tmp_path), "\n[sftp]\n%s = %s\n" % (key, value)))
    r = subprocess.run([berth, "check-config", str(cfg)], capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    line = _check_single_error_line(r, cfg, "sftp." + key, None)
    assert why in line


@pytest.mark.parametrize("how", ["check-config", "serve"])
@pytest.mark.parametrize("content,why", [
    (b"not a key\n", "line 1 is not a public key"),
    (b"SSHKRL\n\0garbage", "KRL"),
])
def test_unusable_revoked_keys_stop_the_start(berth, tmp_path, how, content, why):
    """A revocation file that exists but can not be used is one line at start
    (the server would refuse every key login with it), not a surprise later."""
    krl = tmp_path / "krl"
    krl.write_bytes(content)
    cfg = tmp_path / "bad.toml"
    cfg.write_text(_render(_base(tmp_path), "\n[sftp]\nrevoked_keys = \"%s\"\n" % krl))
    argv = [berth, how, str(cfg)] if how == "check-config" else [berth, "serve", "--config",
                                                                   str(cfg)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    line = _check_single_error_line(r, cfg, "sftp.revoked_keys", None)
    assert why in line, line
