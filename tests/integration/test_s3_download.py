"""Large downloads from an S3 home, read by berth as one streaming GET: 64 MiB
over FTP, over SFTP with paramiko's prefetch (READs pipelined out ahead) and
with OpenSSH sftp, each checked by sha256 against what boto3 stored; and an
object replaced during an FTP download never mixes the two versions."""

import hashlib
import os
import threading

import pytest

import s3helpers

from ftphelpers import MiB, DataChannel, cmd, download, ftp_login, read_reply, sftp_close, sftp_login
# the fixtures and the OpenSSH runner of the SFTP client tests
from test_sftp_clients import client_keys, env, host_keys, openssh_sftp  # noqa: F401

pytestmark = pytest.mark.s3

SIZE = 64 * MiB


class SmallParts(s3helpers.S3Home):
    def section(self):
        return dict(super().section(), part_size=5 * MiB, upload_concurrency=4)


@pytest.fixture
def srv(start_server, radosgw, s3_bucket, client_keys, host_keys):  # noqa: F811
    """berth with FTP and SFTP on 127.0.0.1; alice's home is an S3 prefix,
    parts of 5 MiB (so 64 MiB is thirteen ranges), four in flight."""
    return start_server(listen=("127.0.0.1:0",), s3_home=SmallParts(radosgw, s3_bucket()),
                        sftp={"listen": ["127.0.0.1:0"], "host_keys": host_keys},
                        authorized_keys={"alice": [client_keys[1]]})


@pytest.fixture
def big(srv):
    """A 64 MiB object (not a multiple of the part size) put by boto3."""
    data = os.urandom(SIZE - 12345)
    (srv.home() / "big.bin").write_bytes(data)
    return hashlib.sha256(data).hexdigest(), len(data)


def test_ftp_download_of_64_mib(srv, big):
    ftp = ftp_login(srv)
    digest, size = download(ftp, "big.bin", sink="hash")
    assert (digest, size) == big
    # from a REST offset inside a range, too
    digest, size = download(ftp, "big.bin", rest=7 * MiB + 3, sink="hash")
    data = (srv.home() / "big.bin").read_bytes()
    assert (digest, size) == (hashlib.sha256(data[7 * MiB + 3:]).hexdigest(), len(data) - 7 * MiB - 3)
    ftp.quit()


def test_sftp_download_of_64_mib_with_prefetch(srv, big):
    s = sftp_login(srv)
    h = hashlib.sha256()
    with s.open("big.bin", "rb") as f:
        f.prefetch(big[1])
        while True:
            b = f.read(MiB)
            if not b:
                break
            h.update(b)
    sftp_close(s)
    assert h.hexdigest() == big[0]


def test_openssh_sftp_download_of_64_mib(srv, big, tmp_path, env, client_keys):  # noqa: F811
    back = tmp_path / "back.bin"
    openssh_sftp(srv, tmp_path, env, ["get big.bin %s" % back], key=client_keys[0])
    h = hashlib.sha256()
    with open(back, "rb") as f:
        for b in iter(lambda: f.read(MiB), b""):
            h.update(b)
    assert (h.hexdigest(), back.stat().st_size) == big


def test_object_replaced_during_a_download_never_mixes_versions(srv, big):
    old = (srv.home() / "big.bin").read_bytes()
    new = os.urandom(len(old))
    ftp = ftp_login(srv)
    dc = DataChannel(ftp, "pasv")
    got = bytearray()
    try:
        dc.start("RETR big.bin")
        # Read a little, then replace the object while berth streams it.
        got += dc.sock.recv(64 * 1024)
        replaced = threading.Thread(target=(srv.home() / "big.bin").write_bytes, args=(new,))
        replaced.start()
        replaced.join()
        while True:
            b = dc.sock.recv(1 << 20)
            if not b:
                break
            got += b
    finally:
        dc.close()
    code, text = read_reply(ftp)
    # The old version whole, or a failed transfer with a prefix of it: never
    # bytes of the new version after those of the old.
    if code == 226:
        assert bytes(got) == old
    else:
        assert code >= 400, text
        assert bytes(got) == old[:len(got)]
    # the new version downloads whole
    digest, size = download(ftp, "big.bin", sink="hash")
    assert (digest, size) == (hashlib.sha256(new).hexdigest(), len(new))
    assert cmd(ftp, "NOOP")[0] == 200
    ftp.quit()
