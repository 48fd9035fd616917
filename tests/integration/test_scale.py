"""Scale: a directory of 100,000 entries and a tree 200 levels deep over plain
FTP, explicit FTPS and SFTP, paths past PATH_MAX, and a soak of 200 sessions
x 50 transfers that must leave the server's descriptors and memory where they
were.

Memory is VmRSS of the server process.  Under AddressSanitizer (detected by
its __asan_init symbol in the binary) RSS says little about the server: freed
blocks sit in a quarantine of up to 256 MiB by design and its allocator keeps
what leaves the quarantine, so RSS only climbs (from 170 MiB idle to over
600 MiB in this module).  There the RSS bounds are not asserted, only
printed; LeakSanitizer (conftest's check_clean_exit at server exit) and the
descriptor counts are the leak checks."""

import collections
import hashlib
import os
import random
import shutil
import stat
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import check_clean_exit
from ftphelpers import (LS_RE, BerthServer, cmd, fd_count, fd_targets, parse_facts,
                        quit_quietly, rss_kib, settled_fd_count, ssh_password_client)

import paramiko  # a test dependency (scripts/install-deps.sh --test): its absence fails
from paramiko.sftp import CMD_CLOSE, CMD_HANDLE, CMD_OPENDIR  # noqa: E402

MiB = 1024 * 1024
BIG_DIR_ENTRIES = 100_000
# A listing of BIG_DIR_ENTRIES holds every entry (and for FTP its formatted
# text) at once: measured in a release build, +28 to +96 MiB for one listing
# and +162 MiB with five SFTP directory handles open (the entry budget; +122
# before an entry carried its atime, owner and link text: 128 bytes, not 80,
# and up to twice that in a vector's spare room), and
# up to 33 MiB more when the tests run beside others (pytest-xdist): glibc
# keeps freed memory in per-thread arenas, and which threads serve a listing
# varies from run to run. More than the bound, or growth that stays after the
# listings, means memory proportional to the work done (one listing per
# handle would be gigabytes).
LISTING_RSS_BOUND = 240 * MiB
SOAK_RSS_BOUND = 64 * MiB
DEEP_LEVELS = 200
SOAK_SESSIONS = 200
SOAK_TRANSFERS = 50
SOAK_CONCURRENCY = 32
SSH_TIMEOUT = 60
LFTP = shutil.which("lftp") or "lftp"
SSH_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR"]


# ------------------------------------------------------------------ process figures



class RssPeak:
    """Samples the server's VmRSS every 20 ms while the block runs."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = 1024 * rss_kib(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.02):
            try:
                self.peak = max(self.peak, 1024 * rss_kib(self.pid))
            except (OSError, AssertionError):
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, 1024 * rss_kib(self.pid))


def wait_fd_count(pid, want, timeout=60):
    """Polls until the server holds `want` descriptors; returns the last count."""
    deadline = time.monotonic() + timeout
    while True:
        n = fd_count(pid)
        if n == want or time.monotonic() > deadline:
            return n
        time.sleep(0.1)


def open_fds(pid):
    return collections.Counter(
        "socket" if t.startswith("socket:") else "pipe" if t.startswith("pipe:") else t
        for t in fd_targets(pid))


# ------------------------------------------------------------------ clients

@pytest.fixture(scope="module")
def ssh_key(tmp_path_factory):
    d = tmp_path_factory.mktemp("scale-keys")
    key = d / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "scale",
                    "-f", str(key)], check=True, timeout=30,
                   stdin=subprocess.DEVNULL, capture_output=True)
    return key, key.with_name(key.name + ".pub").read_text().strip()


def server_kw(ssh_key, **kw):
    """Plain and explicit FTPS on 127.0.0.1 and SFTP, alice's key authorized."""
    return dict(listen=("127.0.0.1:0",), sftp={"listen": ["127.0.0.1:0"]},
                authorized_keys={"alice": [ssh_key[1]]}, **kw)


def open_sftp(srv, user="alice"):
    c = ssh_password_client(srv, user)
    s = c.open_sftp()
    s.get_channel().settimeout(SSH_TIMEOUT)
    return c, s


def run_sftp(srv, key, workdir, commands, check=True, timeout=300):
    """OpenSSH sftp in batch mode as alice; the CompletedProcess."""
    batch = workdir / "batch.txt"
    batch.write_text("".join(c + "\n" for c in commands))
    r = subprocess.run(["sftp", "-b", str(batch), "-i", str(key)] + SSH_OPTS +
                       ["-P", str(srv.sftp_port), "alice@127.0.0.1"],
                       capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL, cwd=str(workdir))
    if check:
        assert r.returncode == 0, "sftp failed rc=%s\nstdout=%s\nstderr=%s" % (
            r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    return r


def lftp(srv, workdir, script, timeout=300):
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["HOME"] = str(workdir)
    env["LC_ALL"] = "C.UTF-8"
    prefix = ("set cmd:fail-exit yes; set net:max-retries 1; set net:timeout 20; "
              "set net:persist-retries 0; set ftp:ssl-allow no; set xfer:clobber on; "
              "set ftp:passive-mode on; open -u alice,%s ftp://127.0.0.1:%d; "
              % (srv.users["alice"]["password"], srv.port))
    r = subprocess.run([LFTP, "-c", prefix + script], capture_output=True, timeout=timeout,
                       env=env, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, "lftp failed rc=%d stdout=%s stderr=%s" % (
        r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    return r


def retrieve(ftp, command):
    """The whole data of a listing command, through ftplib (TLS when PROT P)."""
    chunks = []
    ftp.retrbinary(command, chunks.append, blocksize=1 << 16)
    return b"".join(chunks)



def warm_up(srv):
    """Serves one session of each protocol (the user database, TLS and SSH
    state open on first use and stay open), then returns the server's
    descriptor count once it has settled: its idle baseline."""
    for kind in ("plain", "explicit"):
        ftp = srv.login_kind(kind)
        retrieve(ftp, "NLST /")
        quit_quietly(ftp)
    c, s = open_sftp(srv)
    s.listdir("/")
    s.close()
    c.close()
    return settled_fd_count(srv.proc.pid, quiet=1.0, deadline=30)


# ------------------------------------------------------------------ a directory of 100,000

def big_names():
    return ["entry-%06d.dat" % i for i in range(BIG_DIR_ENTRIES)]


@pytest.fixture(scope="module")
def big_dir(berth, tmp_path_factory, ssh_key):
    """One server for the module's huge-directory tests (xdist_group
    "big_dir": one worker runs them all, in order); alice's /big holds
    BIG_DIR_ENTRIES empty files (about 8 s of kernel time on ext4, the most
    of this module's release run after the soak).  fds0, rss0: the server's
    descriptors and VmRSS at idle, before any listing."""
    srv = BerthServer(tmp_path_factory.mktemp("bigdir"), **server_kw(ssh_key))
    big = srv.home() / "big"
    big.mkdir()
    dfd = os.open(big, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in big_names():
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=dfd))
    finally:
        os.close(dfd)
    srv.start()
    srv.fds0 = warm_up(srv)
    srv.rss0 = 1024 * rss_kib(srv.proc.pid)
    srv.key = ssh_key[0]
    yield srv
    died_early = srv.proc.poll() is not None
    srv.stop()
    shutil.rmtree(srv.home_root, ignore_errors=True)
    check_clean_exit(srv, died_early)


def assert_each_once(names, what):
    want = set(big_names())
    counts = collections.Counter(names)
    dupes = [n for n, c in counts.items() if c > 1]
    assert not dupes, "%s: %d names more than once, e.g. %s" % (what, len(dupes), dupes[:3])
    missing = want - counts.keys()
    extra = counts.keys() - want
    assert not missing and not extra, "%s: %d missing (e.g. %s), %d unexpected (e.g. %s)" % (
        what, len(missing), sorted(missing)[:3], len(extra), sorted(extra)[:3])
    assert len(names) == BIG_DIR_ENTRIES


def names_of(body, command):
    text = body.decode("utf-8")
    assert text.endswith("\r\n"), "%s: lines end with CRLF" % command
    lines = text[:-2].split("\r\n")
    if command == "NLST":
        return lines
    if command == "LIST":
        out = []
        for line in lines:
            if line.startswith("total "):
                continue
            m = LS_RE.match(line)
            assert m, "not an ls -l line: %r" % line
            assert m["type"] == "-" and m["size"] == "0", line
            out.append(m["name"])
        return out
    out = []
    for line in lines:
        facts, name = parse_facts(line)
        if facts.get("type") in ("cdir", "pdir"):
            continue
        assert facts.get("type") == "file" and facts.get("size") == "0", line
        out.append(name)
    return out


def check_rss(srv, peak, sanitized, what):
    after = 1024 * rss_kib(srv.proc.pid)
    print("%s: VmRSS idle %.1f MiB, peak %.1f MiB, after %.1f MiB" % (
        what, srv.rss0 / MiB, peak / MiB, after / MiB))
    if sanitized:
        return
    for figure in (peak, after):
        assert figure - srv.rss0 < LISTING_RSS_BOUND, (
            "%s: VmRSS grew by %.1f MiB (bound %d MiB)" % (
                what, (figure - srv.rss0) / MiB, LISTING_RSS_BOUND // MiB))


@pytest.mark.xdist_group("big_dir")
@pytest.mark.parametrize("kind,command", [
    ("plain", "LIST"), ("plain", "NLST"), ("plain", "MLSD"),
    ("explicit", "MLSD"), ("explicit", "LIST")])
def test_big_directory_ftp(big_dir, sanitized, kind, command):
    ftp = big_dir.login_kind(kind, timeout=120)
    try:
        assert ftp.sendcmd("CWD /big").startswith("250")
        with RssPeak(big_dir.proc.pid) as rss:
            body = retrieve(ftp, command)
        assert_each_once(names_of(body, command), "%s %s" % (kind, command))
        assert cmd(ftp, "NOOP")[0] == 200
    finally:
        quit_quietly(ftp)
    check_rss(big_dir, rss.peak, sanitized, "%s %s" % (kind, command))


@pytest.mark.xdist_group("big_dir")
def test_big_directory_sftp_paramiko(big_dir, sanitized):
    c, s = open_sftp(big_dir)
    try:
        with RssPeak(big_dir.proc.pid) as rss:
            attrs = s.listdir_attr("/big")
        assert_each_once([a.filename for a in attrs], "paramiko listdir_attr")
        assert all(stat.S_ISREG(a.st_mode) and a.st_size == 0 for a in attrs)
    finally:
        s.close()
        c.close()
    check_rss(big_dir, rss.peak, sanitized, "sftp listdir")


@pytest.mark.xdist_group("big_dir")
def test_big_directory_sftp_open_handles_are_bounded(big_dir, sanitized):
    # Each open directory handle holds its entries until closed: a session
    # opening /big again and again must be refused before memory runs away
    # (it could hold 1,024 handles of 100,000 entries each), while every
    # directory still lists once the others are closed.
    c, s = open_sftp(big_dir)
    handles, refused = [], []
    try:
        with RssPeak(big_dir.proc.pid) as rss:
            for _ in range(8):
                try:
                    t, msg = s._request(CMD_OPENDIR, "/big")
                except IOError as e:
                    refused.append(str(e))
                    continue
                assert t == CMD_HANDLE
                handles.append(msg.get_binary())
        assert handles and refused, "%d opened, %d refused" % (len(handles), len(refused))
        assert len(handles) + len(refused) == 8
        for h in handles:
            s._request(CMD_CLOSE, h)
        assert_each_once(s.listdir("/big"), "paramiko listdir after closing")
    finally:
        s.close()
        c.close()
    check_rss(big_dir, rss.peak, sanitized, "%d open directory handles" % len(handles))


@pytest.mark.xdist_group("big_dir")
def test_big_directory_openssh_sftp(big_dir, sanitized, tmp_path):
    with RssPeak(big_dir.proc.pid) as rss:
        r = run_sftp(big_dir, big_dir.key, tmp_path, ["cd /big", "ls -1"])
    lines = [l for l in r.stdout.splitlines() if not l.startswith("sftp>")]
    assert_each_once(lines, "OpenSSH sftp ls -1")
    check_rss(big_dir, rss.peak, sanitized, "OpenSSH sftp ls -1")


@pytest.mark.xdist_group("big_dir")
def test_big_directory_fds_back_to_idle(big_dir):
    # Runs after the listings: every data connection, directory descriptor
    # and session of the listings is gone.
    n = wait_fd_count(big_dir.proc.pid, big_dir.fds0)
    assert n == big_dir.fds0, "server holds %d descriptors, %d at idle: %s" % (
        n, big_dir.fds0, open_fds(big_dir.proc.pid))


# ------------------------------------------------------------------ a tree 200 levels deep

DEEP_NAMES = ["level-%04d" % i for i in range(DEEP_LEVELS)]  # 10 characters each
DEEP_PATH = "/deep/" + "/".join(DEEP_NAMES)


@pytest.fixture
def deep(start_server, ssh_key):
    """A server whose alice has /deep/level-0000/.../level-0199/bottom.bin."""
    srv = start_server(**server_kw(ssh_key))
    bottom = srv.home() / DEEP_PATH.lstrip("/")
    bottom.mkdir(parents=True)
    srv.bottom_data = os.urandom(100_000)
    (bottom / "bottom.bin").write_bytes(srv.bottom_data)
    srv.key = ssh_key[0]
    return srv


def tree_snapshot(root):
    """{relative path: None for a directory, sha256 for a file} below root."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for d in dirs:
            out[os.path.normpath(os.path.join(rel, d))] = None
        for f in files:
            with open(os.path.join(dirpath, f), "rb") as fh:
                out[os.path.normpath(os.path.join(rel, f))] = hashlib.sha256(
                    fh.read()).hexdigest()
    return out


@pytest.mark.parametrize("kind", ["plain", "explicit"])
def test_deep_tree_ftp_cwd_and_retr(deep, kind):
    assert len(DEEP_PATH) > 2000
    ftp = deep.login_kind(kind)
    try:
        assert ftp.sendcmd("CWD " + DEEP_PATH).startswith("250")
        assert ftp.pwd() == DEEP_PATH
        assert retrieve(ftp, "RETR bottom.bin") == deep.bottom_data
        # one level at a time, down and back up
        ftp.cwd("/deep")
        for name in DEEP_NAMES:
            assert ftp.sendcmd("CWD " + name).startswith("250"), name
        assert ftp.pwd() == DEEP_PATH
        assert ftp.size("bottom.bin") == len(deep.bottom_data)
        for _ in DEEP_NAMES:
            assert ftp.sendcmd("CDUP").startswith("2")
        assert ftp.pwd() == "/deep"
        assert retrieve(ftp, "RETR %s/bottom.bin" % DEEP_PATH[len("/deep/"):]) == \
            deep.bottom_data
    finally:
        quit_quietly(ftp)


def test_deep_tree_lftp_mirror(deep, tmp_path):
    dest = tmp_path / "mirror"
    lftp(deep, tmp_path, "mirror /deep %s" % dest)
    snap = tree_snapshot(dest)
    assert snap == tree_snapshot(deep.home() / "deep")
    assert len(snap) == DEEP_LEVELS + 1
    assert (dest / DEEP_PATH[len("/deep/"):] / "bottom.bin").read_bytes() == deep.bottom_data


def sftp_walk(s, top):
    """{path relative to top: None for a directory, sha256 for a file}."""
    out = {}
    stack = [""]
    while stack:
        rel = stack.pop()
        for a in s.listdir_attr(top + ("/" + rel if rel else "")):
            child = rel + "/" + a.filename if rel else a.filename
            if stat.S_ISDIR(a.st_mode):
                out[child] = None
                stack.append(child)
            else:
                with s.open(top + "/" + child, "rb") as f:
                    out[child] = hashlib.sha256(f.read()).hexdigest()
    return out


def test_deep_tree_sftp(deep, tmp_path):
    c, s = open_sftp(deep)
    try:
        s.chdir(DEEP_PATH)
        assert s.getcwd() == DEEP_PATH
        with s.open("bottom.bin", "rb") as f:
            assert f.read() == deep.bottom_data
        s.chdir("/deep")
        for name in DEEP_NAMES:
            s.chdir(name)
        assert s.getcwd() == DEEP_PATH
        assert s.stat("bottom.bin").st_size == len(deep.bottom_data)
        assert sftp_walk(s, "/deep") == tree_snapshot(deep.home() / "deep")
    finally:
        s.close()
        c.close()
    # OpenSSH sftp reads batch lines into 2048 bytes: cd 20 levels at a time
    steps = ["cd " + "/".join(DEEP_NAMES[i:i + 20]) for i in range(0, DEEP_LEVELS, 20)]
    r = run_sftp(deep, deep.key, tmp_path, ["cd /deep"] + steps + ["pwd", "get bottom.bin"])
    assert "Remote working directory: " + DEEP_PATH in r.stdout
    assert (tmp_path / "bottom.bin").read_bytes() == deep.bottom_data


# ------------------------------------------------------------------ past PATH_MAX

PATH_MAX = 4096
LONG_NAMES = ["long-%05d" % i for i in range(400)]  # 10 characters each
LONG_PATH = "/long/" + "/".join(LONG_NAMES)


@pytest.fixture
def past_path_max(start_server, ssh_key):
    """A server whose alice has /long/... 400 levels deep (4405 characters)
    with past.bin at the bottom; control lines of up to 16 KiB, so that the
    long paths reach the filesystem."""
    assert len(LONG_PATH) > PATH_MAX + 256
    srv = start_server(extra_ftp={"max_line": 16384}, **server_kw(ssh_key))
    (srv.home() / "long").mkdir()
    (srv.home() / "marker.txt").write_bytes(b"still here")
    fd = os.open(srv.home() / "long", os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in LONG_NAMES:  # host paths past PATH_MAX: relative to a descriptor
            os.mkdir(name, dir_fd=fd)
            nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        wfd = os.open("past.bin", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(wfd, b"past PATH_MAX")
        os.close(wfd)
    finally:
        os.close(fd)
    return srv


def assert_refused_ftp(code, text, srv):
    assert code in (550, 553), text
    assert str(srv.home_root) not in text


def test_path_past_path_max_ftp(past_path_max):
    srv = past_path_max
    ftp = srv.login_kind("plain")
    try:
        assert_refused_ftp(*cmd(ftp, "CWD " + LONG_PATH), srv)
        assert_refused_ftp(*cmd(ftp, "SIZE %s/past.bin" % LONG_PATH), srv)
        assert_refused_ftp(*cmd(ftp, "MKD %s/new" % LONG_PATH), srv)
        assert ftp.pwd() == "/"
        # Down one level at a time: every directory short of PATH_MAX is
        # reachable, the first one past it is refused and the session stays
        # where it was.
        ftp.cwd("/long")
        here = "/long"
        for name in LONG_NAMES:
            code, text = cmd(ftp, "CWD " + name)
            if code != 250:
                break
            here += "/" + name
        else:
            raise AssertionError("CWD went %d characters deep" % len(here))
        assert_refused_ftp(code, text, srv)
        assert len(here) > PATH_MAX - 64, "refused at %d characters: %s" % (len(here), text)
        assert ftp.pwd() == here
        assert cmd(ftp, "NOOP")[0] == 200
    finally:
        quit_quietly(ftp)
    again = srv.login_kind("plain")
    try:
        assert retrieve(again, "RETR marker.txt") == b"still here"
    finally:
        quit_quietly(again)
    assert srv.alive()


def test_path_past_path_max_sftp(past_path_max):
    srv = past_path_max
    c, s = open_sftp(srv)
    try:
        for op in (s.stat, s.listdir, s.chdir, lambda p: s.open(p + "/past.bin", "rb"),
                   lambda p: s.mkdir(p + "/new")):
            with pytest.raises(IOError) as e:
                op(LONG_PATH)
            assert str(srv.home_root) not in str(e.value)
        # every path short of PATH_MAX still works
        here = "/long"
        for name in LONG_NAMES:
            if len(here) + 1 + len(name) >= PATH_MAX - 64:
                break
            here += "/" + name
        assert stat.S_ISDIR(s.stat(here).st_mode)
        with s.open("/marker.txt", "rb") as f:
            assert f.read() == b"still here"
    finally:
        s.close()
        c.close()
    assert srv.alive()


# ------------------------------------------------------------------ soak

SOAK_KINDS = ["plain", "explicit", "sftp"]
FTP_MODES = ["pasv", "epsv", "port"]
POOL_FILES = 16


def soak_data(rng):
    return rng.randbytes(rng.randint(1024, 64 * 1024))


def soak_transfers(who, pool, rng, put, get):
    """SOAK_TRANSFERS uploads (put(name, data)) of fresh data and downloads
    (get(path)) of pool files, in a random order, each download checked;
    returns {upload name: bytes}."""
    uploads = {}
    for j in range(SOAK_TRANSFERS):
        if rng.random() < 0.5:
            data = soak_data(rng)
            name = "u%02d.bin" % j
            put(name, data)
            uploads[name] = data
        else:
            n = rng.randrange(POOL_FILES)
            assert get("/pool/p%02d.bin" % n) == pool[n], "%s: download %d differs" % (who, j)
    return uploads


def ftp_session(srv, i, pool, rng):
    """One FTP or explicit FTPS session: SOAK_TRANSFERS uploads and downloads
    in a random order; returns {upload name: bytes}.  Every 10th session
    drops the connection without QUIT."""
    kind = SOAK_KINDS[i % 3]
    ftp = srv.login_kind(kind, timeout=60)
    ftp.set_mode(FTP_MODES[(i // 3) % len(FTP_MODES)])
    try:
        ftp.cwd("/soak/s%03d" % i)
        uploads = soak_transfers(
            "%s session %d" % (kind, i), pool, rng,
            put=lambda name, data: ftp.storbinary("STOR " + name, _BytesReader(data)),
            get=lambda path: retrieve(ftp, "RETR " + path))
    finally:
        if i % 10 == 0:
            ftp.close()
        else:
            quit_quietly(ftp)
    return uploads


class _BytesReader:
    """A file-like for storbinary without io.BytesIO's copy."""

    def __init__(self, data):
        self.view = memoryview(data)

    def read(self, n):
        chunk, self.view = self.view[:n], self.view[n:]
        return bytes(chunk)


def sftp_session(srv, i, pool, rng):
    c, s = open_sftp(srv)
    def put(name, data):
        with s.open(name, "wb") as f:
            f.write(data)

    def get(path):
        with s.open(path, "rb") as f:
            return f.read()

    try:
        s.chdir("/soak/s%03d" % i)
        uploads = soak_transfers("sftp session %d" % i, pool, rng, put, get)
    finally:
        if i % 10 == 0:
            c.get_transport().sock.close()  # gone without closing the channel
        else:
            s.close()
        c.close()
    return uploads


def run_soak_session(srv, i):
    rng = random.Random(i)
    if SOAK_KINDS[i % 3] == "sftp":
        uploads = sftp_session(srv, i, srv.pool, rng)
    else:
        uploads = ftp_session(srv, i, srv.pool, rng)
    home = srv.home() / "soak" / ("s%03d" % i)
    for name, data in uploads.items():
        assert (home / name).read_bytes() == data, "session %d: upload %s differs" % (i, name)
    return len(uploads)


def test_soak_sessions_leave_no_descriptors_or_memory(start_server, ssh_key, sanitized):
    srv = start_server(**server_kw(ssh_key))
    pid = srv.proc.pid
    rng = random.Random(-1)
    srv.pool = [soak_data(rng) for _ in range(POOL_FILES)]
    (srv.home() / "pool").mkdir()
    for n, data in enumerate(srv.pool):
        (srv.home() / "pool" / ("p%02d.bin" % n)).write_bytes(data)
    for i in range(SOAK_SESSIONS):
        (srv.home() / "soak" / ("s%03d" % i)).mkdir(parents=True)
    fds0 = warm_up(srv)
    rss0 = 1024 * rss_kib(pid)

    started = time.monotonic()
    errors = []
    uploads = 0
    with RssPeak(pid) as rss:
        with ThreadPoolExecutor(max_workers=SOAK_CONCURRENCY) as pool:
            futures = [pool.submit(run_soak_session, srv, i) for i in range(SOAK_SESSIONS)]
            for f in futures:
                try:
                    uploads += f.result()
                except Exception as e:  # every session runs; report them together
                    errors.append(repr(e))
    elapsed = time.monotonic() - started
    assert not errors, "%d of %d sessions failed, first: %s" % (
        len(errors), SOAK_SESSIONS, errors[:3])
    transfers = SOAK_SESSIONS * SOAK_TRANSFERS
    assert 0 < uploads < transfers

    fds = wait_fd_count(pid, fds0, timeout=120)
    rss1 = 1024 * rss_kib(pid)
    print("soak: %d transfers in %.1f s; descriptors %d idle, %d after; VmRSS idle %.1f MiB, "
          "peak %.1f MiB, after %.1f MiB" % (transfers, elapsed, fds0, fds, rss0 / MiB,
                                              rss.peak / MiB, rss1 / MiB))
    assert fds == fds0, "server holds %d descriptors, %d at idle: %s" % (
        fds, fds0, open_fds(pid))
    if not sanitized:
        assert rss1 - rss0 < SOAK_RSS_BOUND, "VmRSS grew by %.1f MiB (bound %d MiB)" % (
            (rss1 - rss0) / MiB, SOAK_RSS_BOUND // MiB)
    assert srv.alive()
