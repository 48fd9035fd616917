"""SFTP login rules: keyboard-interactive, authorized_keys options (from=,
command=, expiry-time=) and the failed-login limit shared with FTP, driven by
paramiko and OpenSSH's sftp."""

import socket
import subprocess

import pytest

from test_sftp_clients import host_keys, keygen  # noqa: F401  (session fixtures)

import paramiko  # a test dependency (scripts/install-deps.sh --test): its absence fails

SSH_TIMEOUT = 30
SSH_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR"]


@pytest.fixture(scope="module")
def alice_keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("auth-keys")
    return [keygen(d / name) for name in ("plain", "from2", "from1", "shell", "sftpcmd", "old")]


def start(start_server, host_keys, authorized, failed_delay_ms=200):
    return start_server(listen=("127.0.0.1:0",),
                        sftp={"listen": ["127.0.0.1:0"], "host_keys": host_keys},
                        authorized_keys={"alice": authorized},
                        extra_ftp={"failed_login_delay_ms": failed_delay_ms})


def transport(srv, source="127.0.0.1"):
    sock = socket.create_connection(("127.0.0.1", srv.sftp_port), timeout=SSH_TIMEOUT,
                                    source_address=(source, 0))
    t = paramiko.Transport(sock)
    t.banner_timeout = t.auth_timeout = SSH_TIMEOUT
    t.start_client(timeout=SSH_TIMEOUT)
    return t


def sftp_works(t):
    s = paramiko.SFTPClient.from_transport(t)
    try:
        return s.normalize(".") == "/"
    finally:
        s.close()


def test_keyboard_interactive_paramiko(start_server, host_keys, alice_keys):
    srv = start(start_server, host_keys, [alice_keys[0][1]])
    password = srv.users["alice"]["password"]
    prompts_seen = []

    def answer(title, instructions, prompts):
        prompts_seen.extend(prompts)
        return [password for _ in prompts]

    t = transport(srv)
    try:
        t.auth_interactive("alice", answer)
        assert t.is_authenticated()
        assert sftp_works(t)
    finally:
        t.close()
    assert prompts_seen == [("Password: ", False)]  # one prompt, not echoed


def test_keyboard_interactive_wrong_password(start_server, host_keys, alice_keys):
    srv = start(start_server, host_keys, [alice_keys[0][1]])
    t = transport(srv)
    try:
        with pytest.raises(paramiko.AuthenticationException):
            t.auth_interactive("alice", lambda title, instr, prompts: ["wrong"] * len(prompts))
        assert not t.is_authenticated()
    finally:
        t.close()


def test_keyboard_interactive_openssh(start_server, host_keys, alice_keys, tmp_path):
    """OpenSSH's sftp answering the prompt through sshpass (GUI clients such as
    FileZilla and WinSCP log in the same way)."""
    srv = start(start_server, host_keys, [alice_keys[0][1]])
    batch = tmp_path / "batch"
    batch.write_text("mkdir kbd\n")
    r = subprocess.run(["sshpass", "-p", srv.users["alice"]["password"], "-P", "assword",
                        "sftp", "-o", "BatchMode=no", "-b", str(batch), *SSH_OPTS,
                        "-o", "PreferredAuthentications=keyboard-interactive",
                        "-o", "PubkeyAuthentication=no",
                        "-P", str(srv.sftp_port), "alice@127.0.0.1"],
                       capture_output=True, text=True, timeout=SSH_TIMEOUT * 2,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert (srv.home() / "kbd").is_dir()


def key_login(srv, key_path, source="127.0.0.1"):
    """True if alice can log in with the key from `source`."""
    t = transport(srv, source)
    try:
        t.auth_publickey("alice", paramiko.Ed25519Key.from_private_key_file(str(key_path)))
        return t.is_authenticated() and sftp_works(t)
    except paramiko.AuthenticationException:
        return False
    finally:
        t.close()


def test_authorized_keys_options(start_server, host_keys, alice_keys):
    plain, from2, from1, shell, sftpcmd, old = alice_keys
    srv = start(start_server, host_keys, [
        plain[1],
        'from="127.0.0.2" ' + from2[1],
        'no-pty,from="127.0.0.0/8,!127.0.0.2",restrict ' + from1[1],
        'command="/bin/sh -c id" ' + shell[1],
        'command="internal-sftp",no-port-forwarding ' + sftpcmd[1],
        'expiry-time="20200101" ' + old[1],
    ])
    assert key_login(srv, plain[0])
    assert not key_login(srv, from2[0])               # from 127.0.0.1
    assert key_login(srv, from2[0], source="127.0.0.2")
    assert key_login(srv, from1[0])
    assert not key_login(srv, from1[0], source="127.0.0.2")  # negated entry
    assert not key_login(srv, shell[0])               # a forced command berth can't honour
    assert key_login(srv, sftpcmd[0])
    assert not key_login(srv, old[0])                 # expired
    log = srv.stderr_text()
    assert "client address not in from=" in log
    assert "forced command other than sftp" in log
    assert "key expired" in log


def test_failed_logins_end_the_connection(start_server, host_keys, alice_keys):
    """Three wrong passwords close the connection, as three wrong PASS do in FTP."""
    srv = start(start_server, host_keys, [alice_keys[0][1]])
    t = transport(srv)
    try:
        for attempt in range(3):
            with pytest.raises(paramiko.SSHException):
                t.auth_password("alice", "wrong-%d" % attempt)
        # the server has hung up: no fourth attempt, even with the right password
        with pytest.raises((paramiko.SSHException, EOFError, OSError)):
            t.auth_password("alice", srv.users["alice"]["password"])
        assert not t.is_authenticated()
    finally:
        t.close()
    assert "too many failed logins" in srv.stderr_text()
    # the server goes on serving others
    t = transport(srv)
    try:
        t.auth_password("alice", srv.users["alice"]["password"])
        assert sftp_works(t)
    finally:
        t.close()


def test_password_checks_in_progress_are_bounded_over_ssh(start_server, host_keys):
    """Issue 17 item 9 over SSH: past [limits] max_password_checks_per_ip, a
    password attempt is an authentication failure at once (logged with its
    reason), and other addresses still log in."""
    from test_login import sodium_argon2id
    import threading
    phc = sodium_argon2id("Bob-pw-42", 8, 32 * 1024 * 1024)  # a slow check: they overlap
    srv = start_server(listen=("127.0.0.1:0",), password_hashes={"bob": phc},
                       sftp={"listen": ["127.0.0.1:0"], "host_keys": host_keys},
                       extra_ftp={"failed_login_delay_ms": 0},
                       sections={"limits": {"max_password_checks_per_ip": 1},
                                 "defender": {"max_failures": 1000}})
    transports = [transport(srv, source="127.0.0.2") for _ in range(6)]
    failures = []

    def attempt(t):
        try:
            t.auth_password("bob", "not-bobs-password")
        except paramiko.AuthenticationException as e:
            failures.append(e)

    threads = [threading.Thread(target=attempt, args=(t,)) for t in transports]
    try:
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        assert len(failures) == 6
        t = transport(srv)
        try:
            t.auth_password("bob", "Bob-pw-42")
            assert t.is_authenticated() and sftp_works(t)
        finally:
            t.close()
    finally:
        for t in transports:
            t.close()
    assert "too many logins in progress" in srv.stderr_text()
