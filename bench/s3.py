#!/usr/bin/env python3
"""berth with an S3 home (s3://BUCKET/PREFIX) against boto3 talking to the same
Ceph radosgw directly, in one run:

  1. a 1 GiB file: upload and download over FTP (curl) and SFTP (OpenSSH
     sftp -b, aes128-gcm@openssh.com) through berth, and boto3's upload_file /
     download_fileobj (its default TransferConfig: 8 MiB parts, 10 threads)
  2. 2,000 files of 4 KiB: uploaded, then downloaded, in one session (lftp
     mput/mget, sftp -b put/get) and with one boto3 client (put_object /
     get_object, one after another)
  3. berth's memory per upload: its peak RSS growth during one 1 GiB upload
     (FTP and SFTP), next to part_size x (upload_concurrency + 1)

Starts its own radosgw (tests/support/radosgw.py: one monitor, one memstore
OSD, the objects in RAM) and berth (BERTH, default build/berth) on loopback.
The OSD keeps objects in memory, so at most one 1 GiB object (plus the parts of
one upload) is stored at a time: each upload's object is deleted after it is
checked. Downloads go to /dev/null (boto3: a writer that drops the bytes).

    python3 bench/s3.py [--size-mib 1024] [--files 2000] [--runs 1] [--out DIR]

Prints a Markdown report (also DIR/report.md); raw figures in DIR/results.json.
Runs as root on Debian with radosgw, ceph-mon, ceph-osd, curl, lftp,
openssh-client and python3-boto3 installed.
"""

import argparse
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests" / "support"))

import radosgw  # noqa: E402  (tests/support)

USER = "bench"
PASSWORD = "bench-s3-password"
CIPHER = "aes128-gcm@openssh.com"
PART_SIZE = 8 << 20
UPLOAD_CONCURRENCY = 4


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def run(cmd, **kw):
    kw.setdefault("check", True)
    kw.setdefault("stdout", subprocess.DEVNULL)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(cmd, **kw)


class NullWriter:
    """A seekable sink for boto3's download_fileobj: drops the bytes."""

    def __init__(self):
        self.pos = 0
        self.written = 0

    def write(self, b):
        self.pos += len(b)
        self.written += len(b)
        return len(b)

    def seek(self, off, whence=0):
        self.pos = off if whence == 0 else self.pos + off
        return self.pos

    def tell(self):
        return self.pos

    def seekable(self):
        return True

    def flush(self):
        pass


class RssWatch:
    """Peak RSS of a process while the block runs: VmHWM after clear_refs 5
    (the kernel's own peak), and a 10 ms sampling of VmRSS as a check."""

    def __init__(self, pid):
        self.pid = pid
        self.peak_sampled = 0
        self._stop = threading.Event()

    def _field(self, name):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1]) * 1024
        return 0

    def _loop(self):
        while not self._stop.is_set():
            self.peak_sampled = max(self.peak_sampled, self._field("VmRSS"))
            time.sleep(0.01)

    def __enter__(self):
        with open("/proc/%d/clear_refs" % self.pid, "w") as f:
            f.write("5")
        self.before = self._field("VmRSS")
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.after = self._field("VmRSS")
        self.hwm = self._field("VmHWM")
        self.growth = max(self.hwm, self.peak_sampled) - self.before


class Bench:
    def __init__(self, args):
        self.args = args
        self.size = args.size_mib << 20
        self.work = Path(tempfile.mkdtemp(prefix="berth-s3bench-", dir="/dev/shm"))
        self.out = Path(args.out) if args.out else HERE / "out" / ("s3-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
        self.out.mkdir(parents=True, exist_ok=True)
        self.results = {}
        self.memory = {}
        self.cpu_use = {}
        self.rgw = None
        self.berth = None

    # ------------------------------------------------------------ setup

    def start(self):
        log("starting radosgw (memstore OSD)")
        self.rgw = radosgw.Radosgw().start(str(self.work / "rgw"))
        self.bucket = self.rgw.make_bucket("berth-bench-%d" % os.getpid())
        self.s3 = self.rgw.boto3_client()
        log("radosgw at %s, bucket %s" % (self.rgw.endpoint, self.bucket))
        self.big = self.work / "big.bin"
        with open(self.big, "wb") as f:
            left = self.size
            while left:
                n = min(left, 16 << 20)
                f.write(os.urandom(n))
                left -= n
        self.small = self.work / "small"
        self.small.mkdir()
        for i in range(self.args.files):
            (self.small / ("f%05d.bin" % i)).write_bytes(os.urandom(4096))
        self.start_berth()

    def start_berth(self):
        key = self.work / "client_key"
        host = self.work / "host_key"
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)])
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host)])
        self.client_key = key
        pw_hash = subprocess.run(["openssl", "passwd", "-6", PASSWORD], check=True,
                                 capture_output=True, text=True).stdout.strip()
        cfg = self.work / "berth.toml"
        cfg.write_text("""[server]
state_dir = "{state}"

[ftp]
listen = ["127.0.0.1:0"]
passive_ports = "30000-30199"
active_data_port = 0

[sftp]
listen = ["127.0.0.1:0"]
host_keys = ["{host}"]

[s3]
endpoint = "{ep}"
region = "{region}"
access_key = "{ak}"
secret_key = "{sk}"
path_style = true
part_size = {part}
upload_concurrency = {conc}

[[user]]
name = "{user}"
password_hash = "{hash}"
home = "s3://{bucket}/{user}"
authorized_keys = ["{pub}"]
""".format(state=self.work / "state", host=host, ep=self.rgw.endpoint, region=self.rgw.region,
           ak=self.rgw.access_key, sk=self.rgw.secret_key, part=PART_SIZE,
           conc=UPLOAD_CONCURRENCY, user=USER, hash=pw_hash, bucket=self.bucket,
           pub=Path(str(key) + ".pub").read_text().strip()))
        shutil.copy(cfg, self.out / "berth.toml")
        self.berth_log = open(self.out / "berth.log", "w")
        self.berth = subprocess.Popen([self.args.berth, "serve", "--config", str(cfg)],
                                      stdout=self.berth_log, stderr=subprocess.STDOUT)
        deadline = time.time() + 15
        text = ""
        while time.time() < deadline:
            text = (self.out / "berth.log").read_text()
            if re.search(r"^berth ready", text, re.M):
                break
            if self.berth.poll() is not None:
                raise SystemExit("berth exited at start:\n" + text[-2000:])
            time.sleep(0.1)
        else:
            raise SystemExit("berth not ready after 15 s:\n" + text[-2000:])
        self.ftp_port = int(re.search(r"^ftp listening on 127\.0\.0\.1:(\d+)$", text, re.M).group(1))
        self.sftp_port = int(re.search(r"^sftp listening on 127\.0\.0\.1:(\d+)$", text, re.M).group(1))
        log("berth pid %d, ftp %d, sftp %d" % (self.berth.pid, self.ftp_port, self.sftp_port))

    def stop(self):
        if self.berth is not None and self.berth.poll() is None:
            self.berth.terminate()
            try:
                self.berth.wait(10)
            except subprocess.TimeoutExpired:
                self.berth.kill()
                self.berth.wait()
        if self.rgw is not None:
            try:
                self.empty_bucket()
            except Exception as e:  # noqa: BLE001  (the daemons go anyway)
                log("emptying the bucket failed: %s" % e)
            self.rgw.stop()
        shutil.rmtree(self.work, ignore_errors=True)

    # ------------------------------------------------------------ helpers

    def key(self, name):
        return "%s/%s" % (USER, name)

    def size_of(self, name):
        return self.s3.head_object(Bucket=self.bucket, Key=self.key(name))["ContentLength"]

    def check_big(self, name):
        """The object is the file: its size, and its multipart ETag (MD5 of
        the parts' MD5s, "-N") or plain MD5 against the local file's."""
        head = self.s3.head_object(Bucket=self.bucket, Key=self.key(name))
        if head["ContentLength"] != self.size:
            raise SystemExit("%s: %d bytes stored, %d sent" % (name, head["ContentLength"], self.size))
        etag = head["ETag"].strip('"')
        if etag != self.etag(int(etag.split("-")[1]) if "-" in etag else 0):
            raise SystemExit("%s: ETag %s differs from the file's" % (name, etag))

    def etag(self, parts):
        if not parts:
            return hashlib.md5(self.big.read_bytes()).hexdigest()
        part = -(-self.size // parts)
        part = ((part + (1 << 20) - 1) >> 20) << 20  # whole MiB, as both senders cut
        digests = b""
        with open(self.big, "rb") as f:
            while True:
                chunk = f.read(part)
                if not chunk:
                    break
                digests += hashlib.md5(chunk).digest()
        return "%s-%d" % (hashlib.md5(digests).hexdigest(), len(digests) // 16)

    def delete(self, name):
        self.s3.delete_object(Bucket=self.bucket, Key=self.key(name))

    def empty_bucket(self):
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
        for u in self.s3.list_multipart_uploads(Bucket=self.bucket).get("Uploads", []):
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=u["Key"], UploadId=u["UploadId"])

    def ssh_opts(self):
        return ["-F", "/dev/null", "-i", str(self.client_key), "-o", "IdentitiesOnly=yes",
                "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                "-c", CIPHER, "-P", str(self.sftp_port)]

    def sftp(self, lines):
        batch = self.work / "batch"
        batch.write_text("\n".join(lines) + "\n")
        run(["sftp", "-b", str(batch)] + self.ssh_opts() + ["%s@127.0.0.1" % USER])

    def ftp_url(self, path=""):
        return "ftp://%s:%s@127.0.0.1:%d/%s" % (USER, PASSWORD, self.ftp_port, path)

    def lftp(self, lines):
        script = self.work / "lftp.script"
        script.write_text("\n".join(
            ["set cmd:fail-exit yes", "set ftp:passive-mode on", "set ftp:ssl-allow no",
             "set net:max-retries 1",
             "open -u %s,%s -p %d 127.0.0.1" % (USER, PASSWORD, self.ftp_port)] + lines) + "\n")
        run(["lftp", "-f", str(script)])

    def cpu(self):
        """CPU seconds so far of berth, radosgw and the OSD (and the monitor)."""
        pids = {"berth": self.berth.pid, "radosgw": self.rgw.procs["rgw"].pid,
                "osd": self.rgw.procs["osd"].pid}
        tick = os.sysconf("SC_CLK_TCK")
        out = {}
        for name, pid in pids.items():
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[name] = (int(fields[11]) + int(fields[12])) / tick
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # curl, sftp, lftp (waited for)
        out["client"] = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
        return out

    def timed(self, fn, row=None, who=None):
        before = self.cpu()
        t = time.perf_counter()
        fn()
        s = time.perf_counter() - t
        if row is not None:
            after = self.cpu()
            self.cpu_use.setdefault(row, {})[who] = {
                k: round(after[k] - before[k], 2) for k in after} | {"wall": round(s, 2)}
        return s

    def record(self, row, who, value):
        self.results.setdefault(row, {}).setdefault(who, []).append(value)

    # ------------------------------------------------------------ 1 GiB

    def big_uploads(self):
        mb = self.size / 1e6
        # boto3
        log("boto3 upload")
        s = self.timed(lambda: self.s3.upload_file(str(self.big), self.bucket, self.key("big.bin")), "big_up", "boto3")
        self.check_big("big.bin")
        self.record("big_up", "boto3", mb / s)
        self.delete("big.bin")
        # FTP (curl), with the server's RSS watched
        log("FTP upload (curl)")
        with RssWatch(self.berth.pid) as w:
            s = self.timed(lambda: run(["curl", "-sS", "--fail", "-T", str(self.big),
                                        self.ftp_url("big.bin")]), "big_up", "ftp")
        self.check_big("big.bin")
        self.record("big_up", "ftp", mb / s)
        self.memory.setdefault("ftp", []).append(w.growth)
        self.delete("big.bin")
        # SFTP
        log("SFTP upload (sftp -b)")
        with RssWatch(self.berth.pid) as w:
            s = self.timed(lambda: self.sftp(["put %s big.bin" % self.big]), "big_up", "sftp")
        self.check_big("big.bin")
        self.record("big_up", "sftp", mb / s)
        self.memory.setdefault("sftp", []).append(w.growth)
        self.delete("big.bin")

    def big_downloads(self):
        mb = self.size / 1e6
        self.s3.upload_file(str(self.big), self.bucket, self.key("big.bin"))
        log("boto3 download")
        sink = NullWriter()
        s = self.timed(lambda: self.s3.download_fileobj(self.bucket, self.key("big.bin"), sink), "big_down", "boto3")
        assert sink.written == self.size, sink.written
        self.record("big_down", "boto3", mb / s)
        log("FTP download (curl)")
        p = []
        s = self.timed(lambda: p.append(run(["curl", "-sS", "--fail", "-o", "/dev/null",
                                             "-w", "%{size_download}", self.ftp_url("big.bin")],
                                            stdout=subprocess.PIPE, text=True)), "big_down", "ftp")
        assert int(p[0].stdout) == self.size, p[0].stdout
        self.record("big_down", "ftp", mb / s)
        log("SFTP download (sftp -b)")
        s = self.timed(lambda: self.sftp(["get big.bin /dev/null"]), "big_down", "sftp")
        self.record("big_down", "sftp", mb / s)
        self.delete("big.bin")

    # ------------------------------------------------------------ small files

    def small_files(self):
        n = self.args.files
        names = sorted(p.name for p in self.small.iterdir())
        back = self.work / "back"

        def fresh_back():
            shutil.rmtree(back, ignore_errors=True)
            back.mkdir()

        def check(folder):
            for name in names:
                if (folder / name).read_bytes() != (self.small / name).read_bytes():
                    raise SystemExit("small file %s differs" % name)

        def clear(prefix):
            keys = []
            for page in self.s3.get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=self.key(prefix) + "/"):
                keys += [{"Key": o["Key"]} for o in page.get("Contents", [])]
            for i in range(0, len(keys), 1000):
                self.s3.delete_objects(Bucket=self.bucket,
                                       Delete={"Objects": keys[i:i + 1000], "Quiet": True})
            try:
                self.s3.delete_object(Bucket=self.bucket, Key=self.key(prefix) + "/")
            except Exception:  # noqa: BLE001
                pass

        # boto3: one client, one request after another
        log("boto3 small files")
        blobs = {name: (self.small / name).read_bytes() for name in names}

        def put_all():
            for name in names:
                self.s3.put_object(Bucket=self.bucket, Key=self.key("sb/" + name), Body=blobs[name])

        def get_all():
            for name in names:
                data = self.s3.get_object(Bucket=self.bucket, Key=self.key("sb/" + name))["Body"].read()
                (back / name).write_bytes(data)

        fresh_back()
        self.record("small_up", "boto3", n / self.timed(put_all))
        self.record("small_down", "boto3", n / self.timed(get_all))
        check(back)
        clear("sb")

        log("FTP small files (lftp)")
        fresh_back()
        self.record("small_up", "ftp", n / self.timed(
            lambda: self.lftp(["mkdir sf", "cd sf", "lcd %s" % self.small, "mput *"])))
        self.record("small_down", "ftp", n / self.timed(
            lambda: self.lftp(["cd sf", "lcd %s" % back, "mget *"])))
        check(back)
        clear("sf")

        log("SFTP small files (sftp -b)")
        fresh_back()
        self.record("small_up", "sftp", n / self.timed(
            lambda: self.sftp(["mkdir ss", "cd ss", "lcd %s" % self.small, "put *"])))
        self.record("small_down", "sftp", n / self.timed(
            lambda: self.sftp(["cd ss", "lcd %s" % back, "get *"])))
        check(back)
        clear("ss")

    # ------------------------------------------------------------ report

    def report(self):
        med = {row: {who: statistics.median(v) for who, v in d.items()} for row, d in self.results.items()}
        lines = []
        if "big_up" in med:
            self.report_big(lines, med)
        if "small_up" in med:
            self.report_small(lines, med)
        text = "\n".join(lines) + "\n"
        (self.out / "report.md").write_text(text)
        (self.out / "results.json").write_text(json.dumps(
            {"results": self.results, "memory": self.memory, "cpu": self.cpu_use, "size": self.size,
             "files": self.args.files, "part_size": PART_SIZE,
             "upload_concurrency": UPLOAD_CONCURRENCY, "machine": platform.uname()._asdict(),
             "cpus": os.cpu_count()}, indent=1))
        print(text)

    @staticmethod
    def ratio_rows(lines, med, rows):
        for row, label in rows:
            m = med[row]
            lines.append("| %s | %.0f | %.0f | %.0f | %.2f | %.2f |" % (
                label, m["ftp"], m["sftp"], m["boto3"], m["ftp"] / m["boto3"], m["sftp"] / m["boto3"]))

    def report_big(self, lines, med):
        mib = self.args.size_mib
        lines.append("### %d MiB file (MB/s)\n" % mib)
        lines.append("|  | berth FTP (curl) | berth SFTP (sftp -b) | boto3 | FTP / boto3 | SFTP / boto3 |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        self.ratio_rows(lines, med, (("big_up", "upload"), ("big_down", "download")))
        budget = PART_SIZE * (UPLOAD_CONCURRENCY + 1)
        lines.append("\n### berth's memory per %d MiB upload (peak RSS growth, MiB)\n" % mib)
        lines.append("| upload | peak RSS growth | part_size x (upload_concurrency + 1) | ratio |")
        lines.append("|---|---:|---:|---:|")
        for who, label in (("ftp", "FTP (curl)"), ("sftp", "SFTP (sftp -b)")):
            g = max(self.memory[who])
            lines.append("| %s | %.1f | %.0f | %.2f |" % (label, g / 2**20, budget / 2**20, g / budget))
        lines.append("\n### CPU seconds during each %d MiB transfer (last run)\n" % mib)
        lines.append("| transfer | berth | radosgw | ceph-osd | client | wall (s) |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        for row, label in (("big_up", "upload"), ("big_down", "download")):
            for who in ("ftp", "sftp", "boto3"):
                c = self.cpu_use.get(row, {}).get(who)
                if c:
                    lines.append("| %s %s | %.1f | %.1f | %.1f | %.1f | %.1f |" % (
                        who, label, c["berth"], c["radosgw"], c["osd"], c["client"], c["wall"]))

    def report_small(self, lines, med):
        lines.append("\n### %d files of 4 KiB, one session (files/s)\n" % self.args.files)
        lines.append("|  | berth FTP (lftp) | berth SFTP (sftp -b) | boto3 (one client, sequential) | FTP / boto3 | SFTP / boto3 |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        self.ratio_rows(lines, med, (("small_up", "upload"), ("small_down", "download")))

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--berth", default=str(REPO / "build" / "berth"))
    ap.add_argument("--out")
    ap.add_argument("--only", choices=("big", "small"), help="run one section")
    args = ap.parse_args()
    b = Bench(args)
    try:
        b.start()
        for i in range(args.runs):
            log("run %d of %d" % (i + 1, args.runs))
            if args.only != "small":
                b.big_uploads()
                b.big_downloads()
            if args.only != "big":
                b.small_files()
        b.report()
    finally:
        b.stop()


if __name__ == "__main__":
    main()
