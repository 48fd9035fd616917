"""Resume into object storage: an FTP upload to an S3 home cut mid-way (the
connection reset, or berth killed with SIGKILL) keeps its finished parts in a
multipart upload recorded in the node's database; SIZE shows their bytes, and
REST + STOR at that offset continues the same upload, sending only the rest."""

import hashlib
import os
import socket
import struct
import time

import pytest

import s3helpers
from ftphelpers import BerthServer, DataChannel, cmd, ftp_login, upload

MiB = 1 << 20
PART = 5 * MiB
TOTAL = 30 * MiB
CUT = 17 * MiB
FINISHED = 3 * PART  # parts 1-3 were sent; part 4 was still in memory


class PartSizedHome(s3helpers.S3Home):
    def section(self):
        s = super().section()
        s["part_size"] = "5MiB"
        return s


@pytest.fixture
def server(radosgw, s3_bucket, tmp_path):
    home = PartSizedHome(radosgw, s3_bucket())
    srv = BerthServer(tmp_path / "srv", s3_home=home)
    srv.start()
    yield srv, home
    srv.stop()


def payload():
    return os.urandom(TOTAL)


def cut_upload(srv, path, data):
    """Sends the first CUT bytes of a STOR, then resets both connections."""
    ftp = ftp_login(srv)
    dc = DataChannel(ftp, "pasv")
    dc.start("STOR " + path)
    dc.sock.sendall(data[:CUT])
    # Let berth read what is queued: a reset drops what it has not read.
    wait_size(srv, path, FINISHED)
    for s in (dc.sock, ftp.sock):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()


def wait_size(srv, path, want, timeout=30):
    """SIZE of `path` until it is `want`; returns the last answer."""
    deadline = time.time() + timeout
    got = None
    while time.time() < deadline:
        ftp = ftp_login(srv)
        try:
            code, text = cmd(ftp, "SIZE " + path)
            got = (code, text)
            if code == 213 and int(text.split()[1]) == want:
                return got
        finally:
            ftp.close()
        time.sleep(0.3)
    return got


def uploads_of(home, key):
    r = home.client.list_multipart_uploads(Bucket=home.bucket)
    return [u for u in r.get("Uploads", []) if u["Key"] == key]


def resume_rest(srv, home, path, data):
    key = "alice/" + path
    assert not [o for o in home.client.list_objects_v2(Bucket=home.bucket).get("Contents", [])
                if o["Key"] == key], "no object may appear before the upload completes"
    assert len(uploads_of(home, key)) == 1, "the interrupted upload is kept, not aborted"
    ftp = ftp_login(srv)
    upload(ftp, path, data=data[FINISHED:], rest=FINISHED)
    code, text = cmd(ftp, "SIZE " + path)
    assert code == 213 and int(text.split()[1]) == TOTAL, text
    ftp.close()
    body = home.client.get_object(Bucket=home.bucket, Key=key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(data).hexdigest()
    assert uploads_of(home, key) == [], "the completed upload left nothing behind"


def test_cut_connection_resumes_after_finished_parts(server):
    srv, home = server
    data = payload()
    cut_upload(srv, "big.bin", data)
    code, text = wait_size(srv, "big.bin", FINISHED)
    assert code == 213 and int(text.split()[1]) == FINISHED, text
    # Only the rest goes over the second connection: without the recorded
    # upload a REST past the (absent) object's end is refused.
    resume_rest(srv, home, "big.bin", data)


def test_resume_survives_kill_9(server):
    srv, home = server
    data = payload()
    ftp = ftp_login(srv)
    dc = DataChannel(ftp, "pasv")
    dc.start("STOR k9.bin")
    dc.sock.sendall(data[:CUT])
    code, text = wait_size(srv, "k9.bin", FINISHED)
    assert code == 213 and int(text.split()[1]) == FINISHED, text
    srv.proc.kill()
    srv.proc.wait(timeout=10)
    for s in (dc.sock, ftp.sock):
        s.close()
    srv.stop()
    srv.port = srv.port6 = srv.ftps_port = srv.sftp_port = None  # new ones at the restart
    srv.listeners, srv.ftps_listeners, srv.sftp_listeners = [], [], []
    srv.start()
    code, text = cmd(ftp_login(srv), "SIZE k9.bin")
    assert code == 213 and int(text.split()[1]) == FINISHED, text
    resume_rest(srv, home, "k9.bin", data)

