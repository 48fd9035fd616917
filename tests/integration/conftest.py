"""pytest fixtures for berth's integration tests.

Run from the repository root:  /usr/bin/python3 -m pytest tests/integration
(ctest adds -n 2 --dist loadgroup: two pytest-xdist workers, each with its
own temp folders and port windows, see ftphelpers.worker_slot).
The binary is $BERTH_BIN if set, else <repo>/build/berth.  Needs curl, lftp
and loopback IPv4 (127.0.0.1-3) and IPv6 (::1).
"""

import hashlib
import mmap
import os
import resource
import shutil

import pytest

import s3helpers
from ftphelpers import MiB, BerthServer, berth_bin, quit_quietly


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "s3: runs with a user home in an S3 bucket on the tests' radosgw "
        "(select with -m s3, leave out with -m 'not s3')")
    # Many sockets are used by some tests (1000 sessions); allow them, and let
    # the servers we spawn inherit the higher limit as well.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


@pytest.fixture(scope="session")
def berth():
    path = berth_bin()
    assert path.is_file() and os.access(path, os.X_OK), (
        "berth binary not found at %s (build it or set BERTH_BIN)" % path)
    return path


@pytest.fixture(scope="session")
def sanitized(berth):
    """True for a binary built with AddressSanitizer (BERTH_SANITIZE): memory
    figures there include redzones around every allocation and freed memory
    held in quarantine."""
    with open(berth, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        return m.find(b"__asan_init") != -1


# ------------------------------------------------------------------ S3 homes

@pytest.fixture(scope="session")
def radosgw():
    """A real Ceph radosgw on loopback, one per xdist worker, started the
    first time a test asks (about 15 s) and stopped when the session ends. With
    $BERTH_TEST_S3_ENV set (the env file of `tests/support/radosgw.py run
    DIR`), that running radosgw instead."""
    env = s3helpers.external_env()
    if env is not None:
        yield s3helpers.ExternalRadosgw(env)
        return
    import tempfile
    rgw = s3helpers.radosgw.Radosgw().start(tempfile.mkdtemp(prefix="berth-rgw-"))
    yield rgw
    rgw.stop()


@pytest.fixture
def s3_bucket(radosgw):
    """Factory: s3_bucket() -> the name of a fresh, empty bucket; the bucket
    and everything in it are deleted after the test. s3_bucket.leave(name):
    a bucket of very many objects is left to the radosgw the tests started
    (it goes when the session stops it; deleting 50,000 objects one by one
    would take radosgw a minute); on any other radosgw it is deleted too."""
    client = radosgw.boto3_client()
    made = []
    left = set()

    def _make():
        made.append(radosgw.make_bucket(s3helpers.bucket_name()))
        return made[-1]

    def _leave(name):
        if getattr(radosgw, "procs", None):
            left.add(name)

    _make.leave = _leave
    yield _make
    for b in made:
        if b not in left:
            s3helpers.empty_bucket(client, b)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def home_kind(request):
    """Where the users' homes of the servers a test starts live: "local" (a
    folder) or "s3" (s3://BUCKET/USER in a fresh bucket on the tests'
    radosgw, with an [s3] section in the config). A test opts in by taking
    this fixture; srv.home() is then a Path or an s3helpers.S3Path."""
    return request.param


@pytest.fixture
def start_server(berth, tmp_path, request):
    """Factory: start_server(**config_overrides) -> running BerthServer. In a
    test that takes `home_kind`, "s3" gives every server S3 homes."""
    servers = []
    counter = [0]
    s3_home = None
    if "home_kind" in request.fixturenames and request.getfixturevalue("home_kind") == "s3":
        rgw = request.getfixturevalue("radosgw")
        s3_home = s3helpers.S3Home(rgw, request.getfixturevalue("s3_bucket")())

    def _start(preexec_fn=None, **kw):
        counter[0] += 1
        if s3_home is not None:
            kw.setdefault("s3_home", s3_home)
        srv = BerthServer(tmp_path / ("srv%d" % counter[0]), **kw)
        servers.append(srv)
        return srv.start(preexec_fn=preexec_fn)

    yield _start
    for s in servers:
        died_early = s.proc is not None and s.proc.poll() is not None
        s.stop()
        # homes may hold several 100 MiB files: don't let them pile up in
        # pytest's retained temp dirs (config and server stderr are kept)
        shutil.rmtree(s.home_root, ignore_errors=True)
        check_clean_exit(s, died_early)


SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "AddressSanitizer:DEADLYSIGNAL")


def check_clean_exit(srv, died_early):
    """A server must survive its test and stop cleanly on SIGTERM: exit code 0
    and, in sanitizer builds, no report on stderr (leaks included)."""
    if srv.proc is None:
        return
    err = srv.stderr_text()
    for marker in SANITIZER_MARKERS:
        assert marker not in err, "sanitizer report from berth:\n" + err[-4000:]
    if getattr(srv, "expect_exit", False):
        return
    # A test may stop the server itself (SIGTERM); either way the exit must be clean.
    assert srv.proc.returncode == 0, "berth exited with %s%s:\n%s" % (
        srv.proc.returncode, " during the test" if died_early else " after SIGTERM",
        err[-2000:])


@pytest.fixture(autouse=True)
def _drop_big_temp_files(tmp_path):
    yield
    for dirpath, _, files in os.walk(tmp_path):
        for f in files:
            p = os.path.join(dirpath, f)
            try:
                if os.path.getsize(p) > 8 * 1024 * 1024:
                    os.unlink(p)
            except OSError:
                pass


@pytest.fixture
def server(start_server):
    """A fresh berth with users alice and bob, IPv4 + IPv6 listeners."""
    return start_server()


@pytest.fixture
def ftp(server):
    """Logged-in (alice) ftplib session over IPv4, binary type."""
    conn = server.login("alice")
    conn.voidcmd("TYPE I")
    yield conn
    try:
        conn.close()
    except Exception:
        pass


# ------------------------------------------------------------------ FTPS

KINDS = ["plain", "explicit", "implicit"]


@pytest.fixture
def ftps_server(start_server):
    """A fresh berth (tls = "optional", generated certificate) with the plain /
    explicit-FTPS listeners on 127.0.0.1 and ::1 plus an implicit FTPS
    listener on 127.0.0.1."""
    return start_server(ftps={"listen": ["127.0.0.1:0"], "active_data_port": 0})


@pytest.fixture(params=KINDS)
def kind(request):
    """The connection kind every FTP test runs with: "plain" FTP, "explicit"
    FTPS (AUTH TLS, PBSZ 0, PROT P, data resuming the control TLS session) or
    "implicit" FTPS (TLS from the first byte on the [ftps] port)."""
    return request.param


@pytest.fixture
def client_factory(ftps_server, kind):
    """Factory: client_factory(user="alice", **kw) -> logged-in client of
    `kind` (binary type); kw go to BerthServer.login_kind (e.g. context)."""
    conns = []

    def _make(user="alice", **kw):
        c = ftps_server.login_kind(kind, user=user, **kw)
        conns.append(c)
        return c

    yield _make
    for c in conns:
        quit_quietly(c)


@pytest.fixture
def client(client_factory):
    """Logged-in alice of the parameterized `kind`."""
    return client_factory()


class Payload:
    def __init__(self, path):
        self.path = path
        self.size = path.stat().st_size
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for b in iter(lambda: f.read(1 << 20), b""):
                h.update(b)
        self.sha256 = h.hexdigest()

    def copy_to(self, dest):
        if hasattr(dest, "upload_from"):  # an s3helpers.S3Path
            dest.upload_from(self.path)
        else:
            shutil.copyfile(self.path, dest)
        return dest


PAYLOAD_SIZES = {"0B": 0, "1B": 1, "1MiB": MiB, "100MiB": 100 * MiB}


@pytest.fixture(scope="session")
def payloads(tmp_path_factory):
    """Random files of 0 B, 1 B, 1 MiB, 100 MiB (generated once)."""
    d = tmp_path_factory.mktemp("payloads")
    out = {}
    for name, size in PAYLOAD_SIZES.items():
        p = d / ("payload-%s.bin" % name)
        with open(p, "wb") as f:
            left = size
            while left:
                n = min(left, 8 * MiB)
                f.write(os.urandom(n))
                left -= n
        out[name] = Payload(p)
    return out
