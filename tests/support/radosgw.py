#!/usr/bin/env python3
"""A real Ceph radosgw (S3) on loopback for the tests.

One monitor, one OSD on memstore (objects live in the OSD's memory), no
manager, and radosgw with the beast frontend on 127.0.0.1.  Every file (config,
keyrings, monitor store, logs, sockets) lives in one folder; the daemons run in
the foreground (-f) as child processes whose PIDs are recorded in DIR/pids, and
are stopped by PID (SIGTERM, then SIGKILL after a timeout).  The monitor binds a
free port of its own, so several instances coexist.

Python:
    rgw = Radosgw().start(folder)      # .endpoint .access_key .secret_key .region
    rgw.make_bucket("name"); rgw.boto3_client(); rgw.stop()

Command line:
    radosgw.py run DIR     start, write DIR/env, stay in the foreground until
                           SIGTERM/SIGINT, then stop the daemons and remove DIR
    radosgw.py start DIR   start, write DIR/env, leave the daemons running
    radosgw.py stop DIR    stop the daemons recorded in DIR/pids, remove DIR

DIR/env holds shell-style lines BERTH_TEST_S3_ENDPOINT, _ACCESS_KEY,
_SECRET_KEY, _REGION and _BUCKET: a bucket that exists (empty at the start),
whose name is also the prefix of the buckets tests make for themselves.
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

READY_TIMEOUT = 90.0
STOP_TIMEOUT = 10.0
REGION = "us-east-1"
BUCKET_PREFIX = "berth-test"
DAEMONS = ("mon", "osd", "rgw")


class RadosgwError(RuntimeError):
    pass


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path, lines=40):
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return "(no %s)" % path
    return "\n".join(text.splitlines()[-lines:])


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as gone
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop_pids(pids, timeout=STOP_TIMEOUT):
    """SIGTERM each PID in turn (radosgw before the OSD before the monitor,
    so that none waits for one already gone), SIGKILL one still alive after
    `timeout`."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.05)
        if pid_alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _reap(pid, block=True)


def _reap(pid, block=False):
    try:
        os.waitpid(pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        pass


class Radosgw:
    """One throw-away Ceph cluster with radosgw; see the module docstring."""

    def __init__(self):
        self.dir = None
        self.endpoint = None
        self.access_key = None
        self.secret_key = None
        self.region = REGION
        self.procs = {}
        self.start_seconds = None
        self._owns_dir = False

    # ------------------------------------------------------------ start

    def start(self, folder=None, timeout=READY_TIMEOUT, attempts=3):
        """Start every daemon in `folder` (created; a temporary one if None)
        and return self once S3 answers.  A port taken between choosing and
        binding it is retried with fresh ports."""
        if folder is None:
            folder = tempfile.mkdtemp(prefix="radosgw-")
            self._owns_dir = True
        self.dir = Path(folder).resolve()
        t0 = time.monotonic()
        for attempt in range(attempts):
            try:
                self._start_once(timeout)
                break
            except _PortTaken:
                self.stop(remove=False)
                if attempt + 1 == attempts:
                    raise RadosgwError("radosgw: ports kept being taken by others")
            except BaseException:
                self.stop(remove=False)
                raise
        self.start_seconds = time.monotonic() - t0
        return self

    def _start_once(self, timeout):
        self._ready_timeout = timeout
        if self.dir.exists():
            stop_recorded(self.dir)
            shutil.rmtree(self.dir)
        for sub in ("mon/a", "osd/0", "rgw", "run", "log"):
            (self.dir / sub).mkdir(parents=True)
        self.mon_port = free_port()
        self.rgw_port = free_port()
        self.conf = self.dir / "ceph.conf"
        self.keyring = self.dir / "keyring"
        self._write_conf()
        self._make_keyring()
        deadline = time.monotonic() + timeout

        monmap = self.dir / "monmap"
        self._run(["monmaptool", "--create", "--fsid", self.fsid,
                   "--addv", "a", "[v2:127.0.0.1:%d]" % self.mon_port, str(monmap)])
        self._run(["ceph-mon", "--mkfs", "-i", "a", "--monmap", str(monmap),
                   "--keyring", str(self.keyring)] + self._c())
        self._spawn("mon", ["ceph-mon", "-f", "-i", "a"] + self._c())

        osd_uuid = str(uuid.uuid4())
        out = self._ceph(["osd", "new", osd_uuid], deadline, "mon")
        osd_id = out.strip()
        if osd_id != "0":
            raise RadosgwError("radosgw: unexpected OSD id %r" % osd_id)
        self._run(["ceph-osd", "--mkfs", "-i", "0", "--osd-uuid", osd_uuid] + self._c())
        self._spawn("osd", ["ceph-osd", "-f", "-i", "0"] + self._c())

        self._spawn("rgw", ["radosgw", "-f", "-n", "client.rgw"] + self._c())
        self._wait_http(deadline)
        self._create_user(deadline)
        self.make_bucket(BUCKET_PREFIX)
        self._write_pids()

    def _c(self):
        return ["-c", str(self.conf)]

    def _write_conf(self):
        self.fsid = str(uuid.uuid4())
        d = self.dir
        self.conf.write_text("""\
[global]
fsid = {fsid}
mon_host = v2:127.0.0.1:{mon_port}
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_msgr1 = false
ms_bind_ipv6 = false
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
keyring = {d}/keyring
run_dir = {d}/run
admin_socket = {d}/run/$name.asok
pid_file = {d}/run/$name.pid
log_file = {d}/log/$name.log
log_to_stderr = false
err_to_stderr = true
crash_dir = {d}/run/crash
exporter_sock_dir = {d}/run
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_max_pg_per_osd = 1000
mon_warn_on_pool_no_redundancy = false
mon_data_avail_warn = 1
mon_data_avail_crit = 0
# no debug logging, not even gathered in memory: a test creating many
# objects spends much of its CPU there otherwise
debug_ms = 0/0
debug_osd = 0/0
debug_rgw = 0/0
debug_rgw_sync = 0/0
debug_objecter = 0/0
debug_rados = 0/0
debug_auth = 0/0
debug_monc = 0/0
debug_mon = 0/0
debug_paxos = 0/0
debug_memdb = 0/0
debug_rocksdb = 0/0
debug_leveldb = 0/0
debug_finisher = 0/0
debug_objclass = 0/0
debug_filestore = 0/0
debug_memstore = 0/0
debug_asok = 0/0
debug_throttle = 0/0
debug_heartbeatmap = 0/0
debug_optracker = 0/0
debug_tp = 0/0
debug_crypto = 0/0
debug_context = 0/0
debug_buffer = 0/0
debug_timer = 0/0
debug_perfcounter = 0/0
debug_crush = 0/0
debug_reserver = 0/0
debug_journal = 0/0
debug_bluestore = 0/0
debug_bluefs = 0/0
debug_bdev = 0/0
debug_kstore = 0/0
debug_prioritycache = 0/0
debug_mgrc = 0/0
debug_none = 0/0

[mon]
mon_data = {d}/mon/$id
mon_initial_members = a
mon_cluster_log_file = {d}/log/cluster.log

[osd]
osd_data = {d}/osd/$id
osd_objectstore = memstore
memstore_device_bytes = {mem}
osd_max_object_size = 1073741824
osd_memory_target = 939524096
osd_enable_op_tracker = false

[client.rgw]
rgw_data = {d}/rgw
rgw_frontends = beast endpoint=127.0.0.1:{rgw_port}
rgw_dns_name = localhost
rgw_enable_usage_log = false
rgw_enable_ops_log = false
rgw_dynamic_resharding = false
rgw_run_sync_thread = false
""".format(fsid=self.fsid, d=d, mon_port=self.mon_port, rgw_port=self.rgw_port,
           mem=int(os.environ.get("BERTH_TEST_S3_MEMSTORE_BYTES", 8 << 30))))

    def _make_keyring(self):
        k = str(self.keyring)
        self._run(["ceph-authtool", "--create-keyring", k, "--gen-key", "-n", "mon.",
                   "--cap", "mon", "allow *"])
        for name, caps in (
                ("client.admin", ["mon", "allow *", "osd", "allow *", "mgr", "allow *"]),
                ("osd.0", ["mon", "allow profile osd", "osd", "allow *"]),
                ("client.rgw", ["mon", "allow rw", "osd", "allow rwx"])):
            cmd = ["ceph-authtool", k, "--gen-key", "-n", name]
            for i in range(0, len(caps), 2):
                cmd += ["--cap", caps[i], caps[i + 1]]
            self._run(cmd)
        os.chmod(k, 0o600)

    def _env(self):
        env = dict(os.environ)
        env["CEPH_CONF"] = str(self.conf)
        return env

    def _run(self, cmd, timeout=60):
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=self._env(), timeout=timeout,
                           cwd=str(self.dir))
        if p.returncode != 0:
            raise RadosgwError("radosgw: %s failed (%d):\n%s" % (
                " ".join(cmd), p.returncode, p.stdout.decode(errors="replace")[-4000:]))
        return p.stdout.decode(errors="replace")

    def _spawn(self, name, cmd):
        out = open(self.dir / "log" / (name + ".stderr"), "wb")
        # own session: a Ctrl-C aimed at a test run reaches us, and we stop them
        self.procs[name] = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=self._env(), cwd=str(self.dir), start_new_session=True)
        out.close()
        self._write_pids()

    def _write_pids(self):
        (self.dir / "pids").write_text(
            "".join("%s %d\n" % (n, p.pid) for n, p in self.procs.items()))

    def _check_alive(self):
        for name, p in self.procs.items():
            if p.poll() is not None:
                log = self._log_path(name)
                err = tail(self.dir / "log" / (name + ".stderr"), 20)
                text = tail(log)
                if "Address already in use" in text + err:
                    raise _PortTaken()
                raise RadosgwError("radosgw: %s exited with %s\n--- %s:\n%s\n--- stderr:\n%s" % (
                    name, p.returncode, log, text, err))

    def _log_path(self, name):
        return self.dir / "log" / {"mon": "mon.a.log", "osd": "osd.0.log",
                                   "rgw": "client.rgw.log"}[name]

    def _timeout(self, what):
        parts = ["radosgw: %s did not happen in %.0f s" % (what, self._ready_timeout)]
        for name in self.procs:
            parts.append("--- %s:\n%s" % (self._log_path(name), tail(self._log_path(name))))
        raise RadosgwError("\n".join(parts))

    def _ceph(self, args, deadline, what):
        cmd = ["ceph", "--connect-timeout", "5", "-n", "client.admin"] + self._c() + args
        last = ""
        while time.monotonic() < deadline:
            self._check_alive()
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=self._env(), timeout=60)
            if p.returncode == 0:
                return p.stdout.decode()
            last = p.stderr.decode(errors="replace")
            time.sleep(0.2)
        self._timeout("%s answering (%s)" % (what, last.strip()))

    def _wait_http(self, deadline):
        self.endpoint = "http://127.0.0.1:%d" % self.rgw_port
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with urllib.request.urlopen(self.endpoint + "/", timeout=2) as r:
                    if r.status == 200:
                        return
            except urllib.error.HTTPError:
                return  # an S3 error reply: it answers
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.2)
        self._timeout("radosgw answering on %s" % self.endpoint)

    def _create_user(self, deadline):
        self.access_key = secrets.token_hex(10).upper()
        self.secret_key = secrets.token_urlsafe(30)
        out = self._run(["radosgw-admin", "-n", "client.admin"] + self._c() + [
            "user", "create", "--uid", "berth-test", "--display-name", "berth tests",
            "--access-key", self.access_key, "--secret", self.secret_key])
        info = json.loads(out)
        keys = info["keys"][0]
        assert keys["access_key"] == self.access_key and keys["secret_key"] == self.secret_key

    # ------------------------------------------------------------ use

    def env_lines(self):
        return {
            "BERTH_TEST_S3_ENDPOINT": self.endpoint,
            "BERTH_TEST_S3_ACCESS_KEY": self.access_key,
            "BERTH_TEST_S3_SECRET_KEY": self.secret_key,
            "BERTH_TEST_S3_REGION": self.region,
            "BERTH_TEST_S3_BUCKET": BUCKET_PREFIX,
        }

    def write_env(self, path=None):
        path = Path(path or self.dir / "env")
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join("%s=%s\n" % kv for kv in self.env_lines().items()))
        tmp.rename(path)
        return path

    def boto3_client(self):
        import boto3
        from botocore.config import Config
        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=self.region,
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2},
                          signature_version="s3v4"))

    def make_bucket(self, name):
        self.boto3_client().create_bucket(Bucket=name)
        return name

    def rss_bytes(self):
        """Resident memory of the three daemons together."""
        total = 0
        for p in self.procs.values():
            try:
                with open("/proc/%d/status" % p.pid) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1]) * 1024
            except OSError:
                pass
        return total

    # ------------------------------------------------------------ stop

    def stop(self, remove=True):
        """Stop the daemons (radosgw first) and remove the folder if `remove`."""
        order = [n for n in ("rgw", "osd", "mon") if n in self.procs]
        stop_pids([self.procs[n].pid for n in order])
        for p in self.procs.values():
            try:
                p.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
        self.procs = {}
        if self.dir is not None:
            try:
                (self.dir / "pids").unlink()
            except OSError:
                pass
            if remove:
                shutil.rmtree(self.dir, ignore_errors=True)


class _PortTaken(Exception):
    pass


def stop_recorded(folder):
    """Stop the daemons listed in FOLDER/pids (by a `start` run elsewhere)."""
    pids_file = Path(folder) / "pids"
    try:
        lines = pids_file.read_text().split("\n")
    except OSError:
        return
    order = {"rgw": 0, "osd": 1, "mon": 2}
    entries = []
    for line in lines:
        parts = line.split()
        if len(parts) == 2 and parts[0] in order:
            entries.append((order[parts[0]], int(parts[1]), parts[0]))
    pids = []
    for _, pid, name in sorted(entries):
        if _is_daemon(pid, name):
            pids.append(pid)
    stop_pids(pids)
    pids_file.unlink()


def _is_daemon(pid, name):
    """Only signal a PID that is still the daemon we started (PIDs are reused)."""
    exe = {"mon": "ceph-mon", "osd": "ceph-osd", "rgw": "radosgw"}[name]
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv0 = f.read().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return False
    return os.path.basename(argv0) == exe


def read_env(path):
    """The KEY=VALUE lines of an env file as a dict."""
    out = {}
    for line in Path(path).read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def main(argv):
    if len(argv) != 3 or argv[1] not in ("run", "start", "stop"):
        sys.stderr.write("usage: radosgw.py run|start|stop DIR\n")
        return 2
    cmd, folder = argv[1], Path(argv[2])
    if cmd == "stop":
        stop_recorded(folder)
        shutil.rmtree(folder, ignore_errors=True)
        return 0
    rgw = Radosgw()
    try:
        rgw.start(folder)
    except RadosgwError as e:
        sys.stderr.write("%s\n" % e)
        return 1
    env = rgw.write_env()
    print("radosgw ready at %s in %.1f s, %d MiB resident (mon+osd+rgw); env in %s"
          % (rgw.endpoint, rgw.start_seconds, rgw.rss_bytes() >> 20, env), flush=True)
    if cmd == "start":
        # the daemons outlive us (own sessions); `stop DIR` ends them by PID
        for p in rgw.procs.values():
            p.returncode = 0  # keep Popen.__del__ from tracking them
        return 0
    stopping = []

    def on_signal(signum, frame):
        stopping.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stopping:
        for name, p in rgw.procs.items():
            if p.poll() is not None:
                sys.stderr.write("radosgw: %s exited with %s\n%s\n" % (
                    name, p.returncode, tail(rgw._log_path(name))))
                rgw.stop(remove=False)
                return 1
        time.sleep(0.5)
    rgw.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
