"""S3 homes written far out of order: sshfs random writes and paramiko
blocks far apart go through the local spool ([s3] spool_dir, spool_limit) and
land as one object, byte for byte; a full spool is a clear refusal and
nothing appears in the bucket."""

import hashlib
import os
import subprocess
import sys
import time

import pytest

import s3helpers
from ftphelpers import MiB, sshfs_mounted
from test_sftp import SSH_OPTS, SSH_TIMEOUT, connect, keygen

pytestmark = pytest.mark.s3


class SpoolHome(s3helpers.S3Home):
    """An S3 home whose [s3] section also sets the spool's keys."""

    def __init__(self, rgw, bucket, **spool):
        super().__init__(rgw, bucket)
        self.spool = spool

    def section(self):
        return dict(super().section(), **self.spool)


@pytest.fixture(scope="module")
def client_keys(tmp_path_factory):
    return keygen(tmp_path_factory.mktemp("spool-keys") / "alice")


@pytest.fixture
def spool_server(start_server, radosgw, s3_bucket, client_keys, tmp_path):
    """Factory: spool_server(limit) -> (server, SpoolHome, spool folder)."""

    def _start(limit="64MiB"):
        spool_dir = tmp_path / "spool"
        home = SpoolHome(radosgw, s3_bucket(), spool_dir=str(spool_dir), spool_limit=limit)
        srv = start_server(listen=("127.0.0.1:0",), s3_home=home,
                           sftp={"listen": ["127.0.0.1:0"]},
                           authorized_keys={"alice": [client_keys[1]]})
        return srv, home, spool_dir

    return _start


@pytest.fixture
def env(tmp_path):
    home = tmp_path / "client-home"
    home.mkdir()
    e = {k: v for k, v in os.environ.items()
         if "proxy" not in k.lower() and not k.startswith("SSH_")}
    e["HOME"] = str(home)
    return e


def wait_for_object(home, key, size, timeout=60):
    """The object's bytes once it is there with `size` bytes (sshfs sends its
    CLOSE after close(2) returned)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            head = home.client.head_object(Bucket=home.bucket, Key=key)
            if head["ContentLength"] == size:
                return home.client.get_object(Bucket=home.bucket, Key=key)["Body"].read()
        except home.client.exceptions.ClientError:
            pass
        assert time.monotonic() < deadline, "%s did not appear with %d bytes" % (key, size)
        time.sleep(0.2)


def multipart_uploads(home):
    return home.client.list_multipart_uploads(Bucket=home.bucket).get("Uploads", [])


def spool_names(spool_dir):
    return os.listdir(spool_dir) if spool_dir.exists() else []


# A program writing FILE (SIZE bytes of a seeded pattern) in BLOCK pieces at
# shuffled offsets with os.pwrite, then closing it; prints the sha256.
RANDOM_WRITER = r"""
import hashlib, os, random, sys
path, size, block = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = random.Random(5).randbytes(size)
offsets = list(range(0, size, block))
random.Random(6).shuffle(offsets)
fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
for at in offsets:
    piece = data[at:at + block]
    assert os.pwrite(fd, piece, at) == len(piece)
os.close(fd)
print(hashlib.sha256(data).hexdigest())
"""


def test_sshfs_random_writes_land_byte_exact(spool_server, client_keys, env, tmp_path):
    srv, home, spool_dir = spool_server()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    size = 20 * MiB + 4321  # three parts of 8 MiB, written in shuffled 64 KiB blocks
    # sshfs looks a new file up right after creating it, and an S3 upload is no
    # object before its close: the program rewrites an existing (empty) one.
    home.client.put_object(Bucket=home.bucket, Key="alice/random.bin", Body=b"")
    with sshfs_mounted(srv, "alice", client_keys[0], mnt, SSH_OPTS, env):
        r = subprocess.run([sys.executable, "-c", RANDOM_WRITER, str(mnt / "random.bin"),
                            str(size), str(64 * 1024)], capture_output=True, text=True,
                           timeout=300, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stderr
        want = r.stdout.strip()
        body = wait_for_object(home, "alice/random.bin", size)
    assert hashlib.sha256(body).hexdigest() == want
    assert multipart_uploads(home) == []
    assert spool_names(spool_dir) == []  # the spool's files never have a name


def test_paramiko_blocks_far_apart_land_byte_exact(spool_server):
    srv, home, spool_dir = spool_server()
    size = 24 * MiB + 100
    data = os.urandom(size)
    block = MiB
    offsets = list(range(0, size, block))
    order = offsets[::-1][::2] + offsets[::-1][1::2]  # from the end, every other one first
    c = connect(srv)
    s = c.open_sftp()
    s.get_channel().settimeout(SSH_TIMEOUT)
    with s.open("/far.bin", "wb") as f:
        for at in order:
            f.seek(at)
            f.write(data[at:at + block])
            f.flush()
    s.close()
    c.close()
    body = home.client.get_object(Bucket=home.bucket, Key="alice/far.bin")["Body"].read()
    assert len(body) == size
    assert body == data
    assert multipart_uploads(home) == []
    assert spool_names(spool_dir) == []


def test_a_full_spool_is_refused_and_nothing_appears(spool_server):
    srv, home, spool_dir = spool_server(limit="4MiB")
    c = connect(srv)
    s = c.open_sftp()
    s.get_channel().settimeout(SSH_TIMEOUT)
    f = s.open("/full.bin", "wb")
    f.write(os.urandom(64 * 1024))
    f.flush()
    f.seek(40 * MiB)  # far beyond the window: the spool would need 40 MiB
    with pytest.raises(IOError) as e:
        f.write(os.urandom(64 * 1024))
        f.flush()
    assert "no space" in str(e.value).lower(), e.value
    f.close()  # refused (the upload misses bytes), but paramiko ignores a CLOSE's status
    assert "full.bin" not in s.listdir("/")
    s.close()
    c.close()
    listed = home.client.list_objects_v2(Bucket=home.bucket).get("Contents", [])
    assert listed == []
    assert multipart_uploads(home) == []
    assert spool_names(spool_dir) == []
