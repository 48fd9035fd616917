"""Resume into object storage: an FTP upload to an S3 home cut mid-way (the
connection reset, or berth killed with SIGKILL) keeps its finished parts in a
multipart upload recorded in the node's database; SIZE shows their bytes, and
REST + STOR at that offset, APPE, OpenSSH sftp's reput and an SFTP open for
appending (paramiko "a") continue the same upload, sending only the rest. A new
upload of the name instead aborts the interrupted one.

Appending to a finished object keeps its bytes: from 5 MiB they are copied
inside the storage (UploadPartCopy: radosgw sends berth none of them), below
that berth reads them back (a GET) and uploads them with the new ones.

What radosgw received and sent is read from its perf counters (put_b, get_b)
over its admin socket."""

import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import time

import pytest

import s3helpers
from ftphelpers import BerthServer, DataChannel, cmd, ftp_login, sftp_close, sftp_login, upload

pytestmark = pytest.mark.s3

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


@pytest.fixture(scope="module")
def client_key(tmp_path_factory):
    """An ed25519 key pair for OpenSSH sftp: the private key's path."""
    key = tmp_path_factory.mktemp("key") / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


@pytest.fixture
def server(radosgw, s3_bucket, tmp_path, client_key):
    home = PartSizedHome(radosgw, s3_bucket())
    pub = client_key.with_suffix(".pub").read_text().strip()
    srv = BerthServer(tmp_path / "srv", s3_home=home, sftp={"listen": ["127.0.0.1:0"]},
                      authorized_keys={"alice": [pub]})
    srv.start(timeout=60)  # SFTP host keys are made at the first start
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
    srv.start(timeout=60)
    code, text = cmd(ftp_login(srv), "SIZE k9.bin")
    assert code == 213 and int(text.split()[1]) == FINISHED, text
    resume_rest(srv, home, "k9.bin", data)



# ------------------------------------------------------------------ radosgw's view

def rgw_counters(home):
    """(bytes radosgw received in PUT and UploadPart bodies, bytes it sent
    in GET bodies) so far: its perf counters put_b and get_b."""
    rgw = home.rgw
    if getattr(rgw, "dir", None) is None:
        raise AssertionError("radosgw's counters need its admin socket: start it with "
                             "tests/support/radosgw.py (a started or `run` one), not another S3")
    out = subprocess.run(
        ["ceph", "--admin-daemon", str(rgw.dir / "run" / "client.rgw.asok"), "perf", "dump"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, check=True, timeout=30).stdout
    c = json.loads(out)["rgw"]
    return c["put_b"], c["get_b"]


def etag_of_parts(data, sizes):
    """The ETag S3 gives an object of `data` stored in parts of `sizes`: the
    MD5 of the bytes for one PUT, else the MD5 of the parts' MD5s and -N."""
    if sizes is None:
        return hashlib.md5(data).hexdigest()
    assert sum(sizes) == len(data)
    digests, at = b"", 0
    for n in sizes:
        digests += hashlib.md5(data[at:at + n]).digest()
        at += n
    return "%s-%d" % (hashlib.md5(digests).hexdigest(), len(sizes))


def etag(home, key):
    return home.client.head_object(Bucket=home.bucket, Key=key)["ETag"].strip('"')


def check_object(home, path, data):
    key = "alice/" + path
    body = home.client.get_object(Bucket=home.bucket, Key=key)["Body"].read()
    assert len(body) == len(data)
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(data).hexdigest()
    assert uploads_of(home, key) == [], "the completed upload left nothing behind"


def cut_and_check(srv, home, path, data):
    """Cuts an upload of `data` after its 3 finished parts; returns radosgw's
    counters then, after checking that the interrupted upload is kept."""
    cut_upload(srv, path, data)
    code, text = wait_size(srv, path, FINISHED)
    assert code == 213 and int(text.split()[1]) == FINISHED, text
    parts = home.client.list_parts(Bucket=home.bucket, Key="alice/" + path,
                                   UploadId=uploads_of(home, "alice/" + path)[0]["UploadId"])
    assert [p["Size"] for p in parts["Parts"]] == [PART] * 3
    return rgw_counters(home)


def sent_since(home, before):
    put_b, get_b = rgw_counters(home)
    return put_b - before[0], get_b - before[1]


# ------------------------------------------------------------------ resume by APPE, reput, "a"

def test_appe_resumes_a_cut_upload(server):
    srv, home = server
    data = payload()
    before = cut_and_check(srv, home, "appe.bin", data)
    ftp = ftp_login(srv)
    upload(ftp, "appe.bin", data=data[FINISHED:], command="APPE")
    ftp.quit()
    # parts 4-6 went to radosgw, parts 1-3 were not sent again nor read back
    assert sent_since(home, before) == (TOTAL - FINISHED, 0)
    check_object(home, "appe.bin", data)
    assert etag(home, "alice/appe.bin") == etag_of_parts(data, [PART] * 6)


def test_openssh_reput_resumes_a_cut_upload(server, tmp_path, client_key):
    srv, home = server
    sftp = shutil.which("sftp")
    assert sftp, "OpenSSH sftp is needed"
    data = payload()
    local = tmp_path / "reput.bin"
    local.write_bytes(data)
    before = cut_and_check(srv, home, "reput.bin", data)
    batch = tmp_path / "batch"
    batch.write_text("reput %s reput.bin\n" % local)
    r = subprocess.run(
        [sftp, "-b", str(batch), "-i", str(client_key), "-P", str(srv.sftp_port),
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "IdentitiesOnly=yes", "alice@127.0.0.1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    assert r.returncode == 0, r.stdout.decode(errors="replace")
    assert sent_since(home, before) == (TOTAL - FINISHED, 0)
    check_object(home, "reput.bin", data)
    assert etag(home, "alice/reput.bin") == etag_of_parts(data, [PART] * 6)


def test_sftp_append_open_resumes_a_cut_upload(server):
    srv, home = server
    data = payload()
    before = cut_and_check(srv, home, "append.bin", data)
    s = sftp_login(srv)
    assert s.stat("/append.bin").st_size == FINISHED
    with s.open("/append.bin", "a") as f:  # SSH_FXF_APPEND: every write goes to the end
        f.set_pipelined(True)
        for at in range(FINISHED, TOTAL, 1 << 20):
            f.write(data[at:at + (1 << 20)])
    sftp_close(s)
    assert sent_since(home, before) == (TOTAL - FINISHED, 0)
    check_object(home, "append.bin", data)


def test_a_new_upload_of_the_name_aborts_the_cut_one(server):
    srv, home = server
    data = payload()
    cut_and_check(srv, home, "again.bin", data)
    new = data[::-1]
    ftp = ftp_login(srv)
    upload(ftp, "again.bin", data=new)
    ftp.quit()
    check_object(home, "again.bin", new)
    assert home.client.list_multipart_uploads(Bucket=home.bucket).get("Uploads", []) == []


# ------------------------------------------------------------------ append to a finished object

@pytest.mark.parametrize("proto", ["ftp", "sftp"])
@pytest.mark.parametrize("old_size", [7 * MiB + 3, 3 * MiB + 5])
def test_append_to_a_finished_object(server, proto, old_size):
    """From 5 MiB the object's bytes are copied by radosgw (UploadPartCopy,
    its first part), below they are read back and uploaded again."""
    srv, home = server
    old = os.urandom(old_size)
    more = os.urandom(MiB + 1)
    key = "alice/grow.bin"
    home.client.put_object(Bucket=home.bucket, Key=key, Body=old)
    before = rgw_counters(home)
    if proto == "ftp":
        ftp = ftp_login(srv)
        upload(ftp, "grow.bin", data=more, command="APPE")
        ftp.quit()
    else:
        s = sftp_login(srv)
        with s.open("/grow.bin", "a") as f:
            f.write(more)
        sftp_close(s)
    put_b, get_b = sent_since(home, before)
    check_object(home, "grow.bin", old + more)
    if old_size >= PART:
        # part 1 is the old object, copied by radosgw: berth read none of it
        assert get_b == 0
        assert etag(home, key) == etag_of_parts(old + more, [old_size, len(more)])
        assert put_b in (len(more), old_size + len(more)), put_b
    else:
        # radosgw counts a ranged GET of bytes 0-N as N bytes
        assert get_b in (old_size - 1, old_size), get_b
        assert put_b == old_size + len(more)
        assert etag(home, key) == etag_of_parts(old + more, None)
