"""What bench/sessions.py and bench/login_rate.py share: the login options
and an SFTP session opened with paramiko (key exchange, public-key login,
the "sftp" subsystem and INIT/VERSION)."""
import argparse
import logging
import socket


def login_args(ap: argparse.ArgumentParser) -> None:
    """--proto, --host, --port, --user and the credential: FTP logs in with
    --password, SFTP with the ed25519 key in --key."""
    ap.add_argument("--proto", choices=("ftp", "sftp"), required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password")
    ap.add_argument("--key")
    ap.add_argument("--timeout", type=float, default=30.0)


def parse(ap: argparse.ArgumentParser) -> argparse.Namespace:
    a = ap.parse_args()
    if (a.proto == "ftp") != (a.password is not None) or (a.proto == "sftp") != (a.key is not None):
        ap.error("FTP takes --password, SFTP --key")
    return a


def sftp_key(a: argparse.Namespace):
    import paramiko

    logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    return paramiko.Ed25519Key.from_private_key_file(a.key)


def sftp_open(a: argparse.Namespace, key):
    """A logged-in SFTP session: (transport, SFTPClient). Raises on failure,
    with the transport closed."""
    import paramiko

    sock = socket.create_connection((a.host, a.port), timeout=a.timeout)
    t = paramiko.Transport(sock)
    try:
        t.banner_timeout = a.timeout
        t.auth_timeout = a.timeout
        t.start_client(timeout=a.timeout)
        t.auth_publickey(a.user, key)
        s = paramiko.SFTPClient.from_transport(t)
        s.get_channel().settimeout(a.timeout)
        return t, s
    except BaseException:
        t.close()
        raise
