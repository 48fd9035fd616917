"""Object-storage cases of S3 homes: the real berth binary and real clients
(ftplib, paramiko) against the tests' radosgw, the bucket checked with boto3.

- a folder rename of 1,000 objects over FTP and SFTP, and the refusal above
  [s3] max_rename_objects;
- a large folder listed over MLSD, NLST and SFTP readdir with bounded memory:
  up to 100,000 empty objects, as many as curl's parallel PUTs (32 at once)
  make in CREATE_SECONDS. The test radosgw (memstore, no debug logging) spends
  about 2.5 ms of CPU per PUT (rgw 1.5, OSD 0.9, curl 0.3; boto3 would add
  2.2 ms of Python under the GIL), so two cores make some 500-800 a second:
  30,000-60,000 objects rather than 100,000. Holding that many entries would
  grow the server by far more than the 8 MiB the test allows;
- kill -9 of berth mid-upload leaves the previous object whole;
- radosgw stopped mid-transfer: a clear failure, other users keep being served;
- operations object storage does not have, MFMT times, quotas;
- back-pressure: 20 concurrent FTP uploads of 128 MiB each within a 16 MiB
  memory budget."""

import ftplib
import io
import hashlib
import os
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import s3helpers
from ftphelpers import (MiB, BerthServer, cmd, ftp_login, listing, sftp_close, sftp_login,
                        stor_refused)

pytestmark = pytest.mark.s3


class Home(s3helpers.S3Home):
    """S3 homes with further [s3] keys."""

    def __init__(self, rgw, bucket, extra):
        super().__init__(rgw, bucket)
        self.extra = extra
        import boto3
        from botocore.config import Config
        # a connection per thread of put_many/get_many
        self.client = boto3.client(
            "s3", endpoint_url=rgw.endpoint, region_name=rgw.region,
            aws_access_key_id=rgw.access_key, aws_secret_access_key=rgw.secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2},
                          signature_version="s3v4", max_pool_connections=64))

    def section(self):
        return dict(super().section(), **self.extra)


@pytest.fixture
def s3srv(radosgw, s3_bucket, tmp_path):
    """Factory: s3srv(s3={...}, local_users=(), **cfg) -> a running berth whose
    users' homes are s3://BUCKET/USER (users in local_users get a local
    folder), with FTP and SFTP on 127.0.0.1."""
    made = []

    def _make(s3=None, local_users=(), **cfg):
        home = Home(radosgw, s3_bucket(), s3 or {})
        srv = BerthServer(tmp_path / ("srv%d" % len(made)), listen=("127.0.0.1:0",),
                          sftp={"listen": ["127.0.0.1:0"]}, s3_home=home, **cfg)
        for user in local_users:
            folder = srv.home_root / user
            folder.mkdir(parents=True, exist_ok=True)
            srv.config_text = srv.config_text.replace(
                'home = "%s"' % home.url(user), 'home = "%s"' % folder)
            srv.users[user]["home"] = folder
        srv.config_path.write_text(srv.config_text)
        srv.s3 = home
        made.append(srv)
        return srv.start()

    yield _make
    for srv in made:
        srv.stop()
        assert srv.proc.returncode == 0, srv.stderr_text()[-2000:]


def keys_below(client, bucket, prefix):
    out = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out += [o["Key"] for o in page.get("Contents", [])]
    return out


def put_many(client, bucket, keys_bodies, threads=32, deadline=None):
    """PUTs (key, body) pairs in parallel; with a deadline, stops starting new
    PUTs after it. Returns the keys written."""
    done = []
    lock = threading.Lock()
    todo = iter(keys_bodies)

    def worker():
        while deadline is None or time.monotonic() < deadline:
            with lock:
                kb = next(todo, None)
            if kb is None:
                return
            client.put_object(Bucket=bucket, Key=kb[0], Body=kb[1])
            with lock:
                done.append(kb[0])

    with ThreadPoolExecutor(threads) as ex:
        for f in [ex.submit(worker) for _ in range(threads)]:
            f.result()
    return done


def etags_below(client, bucket, prefix):
    """{name below prefix: ETag} (the MD5 of the bytes of an object PUT in
    one piece, kept by a server-side copy)."""
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            out[o["Key"][len(prefix):]] = o["ETag"].strip('"')
    return out


def md5(data):
    return hashlib.md5(data).hexdigest()


def status_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(field + " not in /proc/%d/status" % pid)


def body(i):
    return (b"object %06d " % i) * (1 + i % 7)


# ------------------------------------------------------------------ renames

def test_folder_rename_of_1000_objects_over_ftp_and_sftp(s3srv):
    srv = s3srv(s3={"max_rename_objects": 1000})
    c, b = srv.s3.client, srv.s3.bucket
    n = 1000
    put_many(c, b, [("alice/d1/f%04d" % i, body(i)) for i in range(n)])
    want = {"f%04d" % i: md5(body(i)) for i in range(n)}
    assert etags_below(c, b, "alice/d1/") == want

    ftp = ftp_login(srv)
    ftp.rename("d1", "d2")
    assert keys_below(c, b, "alice/d1/") == []
    assert etags_below(c, b, "alice/d2/") == want

    s = sftp_login(srv)
    s.rename("/d2", "/d3")
    assert keys_below(c, b, "alice/d2/") == []
    assert etags_below(c, b, "alice/d3/") == want

    # one object more than max_rename_objects: refused, nothing moves
    c.put_object(Bucket=b, Key="alice/d3/f%04d" % n, Body=body(n))
    with pytest.raises(ftplib.error_perm) as e:
        ftp.rename("d3", "d4")
    assert str(e.value) == "504 Not supported by this storage.", e.value
    with pytest.raises(IOError) as e:
        s.rename("/d3", "/d4")
    assert "not supported" in str(e.value).lower(), e.value
    assert keys_below(c, b, "alice/d4") == []
    assert len(keys_below(c, b, "alice/d3/")) == n + 1
    ftp.quit()
    sftp_close(s)


# ------------------------------------------------------------------ listings

CREATE_SECONDS = 75
MAX_OBJECTS = 100000
MIN_OBJECTS = 10000
CURL_BATCH = 2000
LISTING_GROWTH_KIB = 8 * 1024


def put_empty_objects(home, keys, deadline, folder, parallel=32):
    """PUTs an empty object at each key with curl --parallel (SigV4 signed
    by curl), CURL_BATCH keys a run, starting no run after `deadline`.
    Returns the keys written. curl needs no Python per request, so the
    PUTs cost radosgw's CPU and little more."""
    rgw = home.rgw
    done = []
    keys = list(keys)
    while keys and time.monotonic() < deadline:
        batch, keys = keys[:CURL_BATCH], keys[CURL_BATCH:]
        config = folder / "curl-put.cfg"
        lines = ['aws-sigv4 = "aws:amz:%s:s3"' % rgw.region,
                 'user = "%s:%s"' % (rgw.access_key, rgw.secret_key),
                 # curl 7.88 signs no payload hash of its own; radosgw wants one
                 'header = "x-amz-content-sha256: UNSIGNED-PAYLOAD"',
                 'request = "PUT"', 'data-binary = ""', "silent", "show-error", "fail"]
        for k in batch:
            lines += ['url = "%s/%s/%s"' % (rgw.endpoint, home.bucket, k), 'output = "/dev/null"']
        config.write_text("\n".join(lines) + "\n")
        r = subprocess.run(["curl", "--parallel", "--parallel-max", str(parallel), "-K",
                            str(config)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=300)
        assert r.returncode == 0, r.stdout.decode(errors="replace")[-2000:]
        done += batch
    return done


def test_large_folder_listing_with_bounded_memory(s3srv, s3_bucket, tmp_path):
    srv = s3srv()
    s3_bucket.leave(srv.s3.bucket)
    t0 = time.monotonic()
    made = put_empty_objects(srv.s3, ["alice/big/n%06d" % i for i in range(MAX_OBJECTS)],
                             t0 + CREATE_SECONDS, tmp_path)
    names = sorted(k.rsplit("/", 1)[1] for k in made)
    # the number created (printed: pytest -s shows it)
    print("large listing: %d objects in %.1fs" % (len(names), time.monotonic() - t0))
    assert len(names) >= MIN_OBJECTS, len(names)

    before = status_kib(srv.proc.pid, "VmHWM")
    t0 = time.monotonic()
    ftp = ftp_login(srv)
    lines = listing(ftp, "MLSD big")[2].decode().splitlines()
    got = [ln.split("; ", 1)[1] for ln in lines]
    assert got == names
    assert all("type=file" in ln and "size=0" in ln for ln in lines)
    assert [n.rsplit("/", 1)[-1] for n in listing(ftp, "NLST big")[2].decode().split()] == names
    ftp.quit()
    s = sftp_login(srv)
    got = [a.filename for a in s.listdir_iter("/big", read_aheads=4)]
    assert got == names
    sftp_close(s)
    growth = status_kib(srv.proc.pid, "VmHWM") - before
    print("listed 3 times in %.1fs, VmHWM growth %d KiB" % (time.monotonic() - t0, growth))
    # holding the entries would take well over 100 bytes each
    assert growth < LISTING_GROWTH_KIB, (growth, len(names))


# ------------------------------------------------------------------ kill -9

def stream(total, chunk=1 << 20):
    block = hashlib.sha256(b"new").digest() * (chunk // 32)
    for _ in range(total // chunk):
        yield block


def test_kill_9_mid_upload_keeps_the_previous_object(s3srv):
    srv = s3srv(s3={"part_size": "5MiB"})
    c, b = srv.s3.client, srv.s3.bucket
    old = os.urandom(3 * MiB)
    c.put_object(Bucket=b, Key="alice/f.bin", Body=old)
    want = hashlib.sha256(old).hexdigest()

    for proto in ("ftp", "sftp"):
        if proto == "ftp":
            ftp = ftp_login(srv)
            conn = ftp.transfercmd("STOR f.bin")
            sent = 0
            for block in stream(40 * MiB):
                conn.sendall(block)
                sent += len(block)
                if sent == 16 * MiB:
                    break
        else:
            s = sftp_login(srv)
            f = s.open("/f.bin", "wb")
            for block in stream(16 * MiB):
                f.write(block)
            f.flush()
        time.sleep(0.5)
        os.kill(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait(timeout=10)
        assert srv.s3.path("alice/f.bin").sha256() == want, proto
        assert keys_below(c, b, "alice/") == ["alice/f.bin"], proto
        # the new bytes were under way as a multipart upload, never an object
        uploads = c.list_multipart_uploads(Bucket=b).get("Uploads", [])
        assert "alice/f.bin" in [u["Key"] for u in uploads], proto
        srv.stop()
        srv.port = srv.sftp_port = None
        srv.listeners, srv.sftp_listeners = [], []
        srv.start()
        ftp = ftp_login(srv)
        assert ftp.size("f.bin") == len(old)
        ftp.storbinary("STOR g.bin", io.BytesIO(b"after restart"))
        ftp.quit()
        assert srv.s3.path("alice/g.bin").read_bytes() == b"after restart"
        c.delete_object(Bucket=b, Key="alice/g.bin")


# ------------------------------------------------------------------ radosgw stopped

def test_radosgw_stopped_mid_transfer(s3srv, radosgw):
    rgw = radosgw.procs["rgw"]
    srv = s3srv(s3={"request_timeout": 2}, local_users=("bob",))
    c, b = srv.s3.client, srv.s3.bucket
    data = os.urandom(24 * MiB)
    c.put_object(Bucket=b, Key="alice/big.bin", Body=data)

    ftp = ftp_login(srv)
    ftp.sock.settimeout(120)
    conn = ftp.transfercmd("RETR big.bin")
    conn.settimeout(120)
    got = conn.recv(1 << 20)
    s = sftp_login(srv)
    f = s.open("/big.bin", "rb")
    first = f.read(65536)
    os.kill(rgw.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        # another user, home on local disk: served meanwhile
        bob = ftp_login(srv, "bob")
        bob.storbinary("STOR local.bin", io.BytesIO(data[:MiB]))
        assert (srv.home("bob") / "local.bin").read_bytes() == data[:MiB]
        bob.quit()
        assert time.monotonic() - t0 < 5

        while True:
            chunk = conn.recv(1 << 20)
            if not chunk:
                break
            got += chunk
        conn.close()
        with pytest.raises(ftplib.Error) as e:
            ftp.voidresp()
        assert str(e.value)[:3] in ("451", "426"), e.value
        print("ftp failure:", e.value)
        assert len(got) < len(data)
        with pytest.raises(IOError) as e:
            while f.read(1 << 20):
                pass
        print("sftp failure:", e.value)
        assert str(e.value), e.value
    finally:
        os.kill(rgw.pid, signal.SIGCONT)
    ftp.quit()
    sftp_close(s)
    assert first == data[:65536]

    ftp = ftp_login(srv)
    ftp.storbinary("STOR back.bin", io.BytesIO(b"served again"))
    ftp.quit()
    assert srv.s3.path("alice/back.bin").read_bytes() == b"served again"


# ------------------------------------------------------------------ unsupported, times

def test_unsupported_operations_and_mfmt(s3srv):
    srv = s3srv()
    c, b = srv.s3.client, srv.s3.bucket
    c.put_object(Bucket=b, Key="alice/f.txt", Body=b"x")
    ftp = ftp_login(srv)
    code, text = cmd(ftp, "SITE CHMOD 600 f.txt")
    assert (code, text) == (504, "504 Not supported by this storage."), text
    code, text = cmd(ftp, "MFMT 20200102030405 f.txt")
    assert code == 213, text
    facts = [ln for ln in listing(ftp, "MLSD")[2].decode().splitlines() if ln.endswith(" f.txt")]
    assert len(facts) == 1 and "modify=20200102030405" in facts[0], facts
    ftp.quit()

    s = sftp_login(srv)
    assert s.stat("/f.txt").st_mtime == 1577934245
    codes = []
    convert = s._convert_status

    def record_status(msg):
        # the status code of each SSH_FXP_STATUS reply, before paramiko reads it
        at = msg.packet.tell()
        codes.append(msg.get_int())
        msg.packet.seek(at)
        return convert(msg)

    s._convert_status = record_status
    for op in (lambda: s.chmod("/f.txt", 0o600), lambda: s.symlink("/f.txt", "/l")):
        codes.clear()
        with pytest.raises(IOError) as e:
            op()
        assert codes == [8], codes  # SSH_FX_OP_UNSUPPORTED
        assert "not supported" in str(e.value).lower(), e.value
    s._convert_status = convert
    s.utime("/f.txt", (1600000000, 1600000000))
    assert s.stat("/f.txt").st_mtime == 1600000000
    sftp_close(s)
    assert keys_below(c, b, "alice/") == ["alice/f.txt"]


# ------------------------------------------------------------------ quota

def test_upload_past_the_quota_leaves_nothing(s3srv):
    srv = s3srv(user_rules={"alice": {"quota_bytes": 2 * MiB}})
    c, b = srv.s3.client, srv.s3.bucket
    ftp = ftp_login(srv)
    ftp.storbinary("STOR small.bin", io.BytesIO(b"s" * MiB))
    refused = stor_refused(ftp, "big.bin", b"b" * (3 * MiB))
    assert refused.startswith("552"), refused
    ftp.quit()
    assert keys_below(c, b, "alice/") == ["alice/small.bin"]


# ------------------------------------------------------------------ back-pressure

UPLOADS = 20
UPLOAD_SIZE = 128 * MiB
# Without the budget, 20 uploads x (upload_concurrency + 1) part buffers of
# 5 MiB would be 300 MiB; with it, 16 MiB of part buffers plus what the 20
# sessions hold of their own (socket and control buffers).
BUDGET_GROWTH_KIB = 64 * 1024


def upload_piece(seed, j):
    """MiB number j of upload `seed`: a block rotated by j, so that no two
    MiB of an upload (or of two uploads) are alike."""
    block = hashlib.sha256(b"%d" % seed).digest() * (MiB // 32)
    return block[j:] + block[:j]


def test_concurrent_uploads_within_the_memory_budget(s3srv):
    """20 FTP uploads at once of 128 MiB each within a 16 MiB budget (some
    45 s; 20 x 1 GiB would need 20 GiB in the test OSD's memory, memstore,
    and minutes of CPU). SFTP uploads: the next test."""
    srv = s3srv(s3={"memory_budget": "16MiB", "part_size": "5MiB", "upload_concurrency": 2})
    before = status_kib(srv.proc.pid, "VmRSS")

    def upload(i):
        h = hashlib.sha256()
        ftp = ftp_login(srv)
        ftp.sock.settimeout(300)
        conn = ftp.transfercmd("STOR u%d.bin" % i)
        conn.settimeout(300)
        for j in range(UPLOAD_SIZE // MiB):
            piece = upload_piece(i, j)
            h.update(piece)
            conn.sendall(piece)
        conn.close()
        ftp.voidresp()
        ftp.quit()
        return h.hexdigest()

    t0 = time.monotonic()
    with ThreadPoolExecutor(UPLOADS) as ex:
        sums = list(ex.map(upload, range(UPLOADS)))
    growth = status_kib(srv.proc.pid, "VmHWM") - before
    print("%d x %d MiB uploads in %.1fs: VmHWM - VmRSS before = %d KiB"
          % (UPLOADS, UPLOAD_SIZE // MiB, time.monotonic() - t0, growth))
    for i in range(UPLOADS):
        assert srv.s3.path("alice/u%d.bin" % i).sha256() == sums[i], i
    assert growth < BUDGET_GROWTH_KIB, growth


SFTP_UPLOADS = 12
SFTP_UPLOAD_SIZE = 16 * MiB


def test_concurrent_sftp_uploads_within_the_memory_budget(s3srv):
    """12 SFTP uploads at once (paramiko, pipelined writes) of one user,
    within a budget of 3 part buffers: each waits its turn for a buffer, and
    one waiting never keeps the user's other sessions from writing (they
    once all stalled for good: the waiting write held the user's quota
    critical section, which the sessions holding buffers needed)."""
    srv = s3srv(s3={"memory_budget": "16MiB", "part_size": "5MiB", "upload_concurrency": 2})

    def upload(i):
        h = hashlib.sha256()
        s = sftp_login(srv)
        s.get_channel().settimeout(120)
        with s.open("/s%d.bin" % i, "w") as f:
            f.set_pipelined(True)
            for j in range(SFTP_UPLOAD_SIZE // MiB):
                piece = upload_piece(100 + i, j)
                h.update(piece)
                f.write(piece)
        sftp_close(s)
        return h.hexdigest()

    with ThreadPoolExecutor(SFTP_UPLOADS) as ex:
        sums = list(ex.map(upload, range(SFTP_UPLOADS)))
    for i in range(SFTP_UPLOADS):
        assert srv.s3.path("alice/s%d.bin" % i).sha256() == sums[i], i
