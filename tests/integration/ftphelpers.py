"""Shared helpers for berth integration tests: server process management,
config writing and low-level FTP control/data connection utilities."""

import contextlib
import ftplib
import hashlib
import itertools
import os
import queue
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
CTRL_TIMEOUT = 15
DATA_TIMEOUT = 30
MiB = 1024 * 1024

PASSWORDS = {"alice": "s3cret-Alice", "bob": "Bob-pw-42"}


def berth_bin():
    env = os.environ.get("BERTH_BIN")
    # resolved: servers start in their own working directory
    return Path(env).resolve() if env else REPO_ROOT / "build" / "berth"


# ---------------------------------------------------------------- ports

_instance_counter = itertools.count()


def worker_slot():
    """0-9: which tenth of the port windows of the tests (passive ranges in
    10000-29999, active data ports in 30000-30999, all below the Linux
    ephemeral range 32768+) this pytest process takes.  The workers of one
    pytest-xdist run (PYTEST_XDIST_WORKER "gw0", "gw1"...) take consecutive
    slots from an offset drawn from the run's id, so they never share one;
    a run without xdist takes the last digit of its pid."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        return os.getpid() % 10
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    assert count <= 10, "at most 10 workers have port windows of their own, not %d" % count
    run = zlib.crc32(os.environ.get("PYTEST_XDIST_TESTRUNUID", "").encode())
    return (run + int(worker[len("gw"):])) % 10


def _run_base():
    # Each pytest process gets its own 2000-port window; each server
    # instance a 400-port slice of it.
    return 10000 + worker_slot() * 2000


def next_passive_range():
    i = next(_instance_counter) % 5
    lo = _run_base() + i * 400
    return lo, lo + 399


def free_port(host="127.0.0.1", lo=None, hi=None):
    """Find a currently free TCP port (optionally within [lo, hi])."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    candidates = range(lo, hi + 1) if lo is not None else [0]
    for p in candidates:
        s = socket.socket(fam, socket.SOCK_STREAM)
        try:
            s.bind((host, p))
            return s.getsockname()[1]
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port")


# ---------------------------------------------------------------- config

def toml_str(s):
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return toml_str(v)


def render_config(state_dir, listen, passive_ports, users, extra_ftp=None,
                  passive_address=None, active_data_port=0, idle_timeout=300,
                  login_timeout=60, data_timeout=30, ftp_tls=None, ftps=None, tls=None,
                  sftp=None, sections=None, server=None, shutdown_timeout=5):
    """server: further [server] keys ({"user": "nobody"}); shutdown_timeout:
    [server] shutdown_timeout, short by default so that a server stopped with
    a transfer still running exits within BerthServer.stop()'s wait (None:
    berth's default); ftp_tls: [ftp] tls policy ("off"/"optional"/"required"); ftps, tls:
    dicts of key -> Python value for the [ftps] and [tls] sections; sftp:
    likewise for an [sftp] section; sections: {"name": {key: value}} for
    further tables ("limits", "defender", "ftp.anonymous"...).  A user entry
    may carry "authorized_keys" (list of OpenSSH public key lines) and no
    password, and "rules" ({key: value} added to its [[user]] table)."""
    lines = ["[server]", "state_dir = " + toml_str(state_dir)]
    if shutdown_timeout is not None:
        lines.append("shutdown_timeout = %d" % shutdown_timeout)
    lines += ["%s = %s" % (k, toml_value(v)) for k, v in (server or {}).items()]
    lines += ["", "[ftp]",
             "listen = [" + ", ".join(toml_str(a) for a in listen) + "]",
             "passive_ports = " + toml_str(passive_ports)]
    if passive_address is not None:
        lines.append("passive_address = " + toml_str(passive_address))
    if active_data_port is not None:
        lines.append("active_data_port = %d" % active_data_port)
    if idle_timeout is not None:
        lines.append("idle_timeout = %d" % idle_timeout)
    if login_timeout is not None:
        lines.append("login_timeout = %d" % login_timeout)
    if data_timeout is not None:
        lines.append("data_timeout = %d" % data_timeout)
    for k, v in (extra_ftp or {}).items():
        lines.append("%s = %s" % (k, v))
    if ftp_tls is not None:
        lines.append("tls = " + toml_str(ftp_tls))
    for name, section in (("ftps", ftps), ("tls", tls), ("sftp", sftp)) + tuple(
            (sections or {}).items()):
        if section is not None:
            lines += ["", "[%s]" % name]
            lines += ["%s = %s" % (k, toml_value(v)) for k, v in section.items()]
    for u in users:
        lines += ["", "[[user]]", "name = " + toml_str(u["name"])]
        if "password_hash" in u:
            lines.append("password_hash = " + toml_str(u["password_hash"]))
        elif "password" in u:
            lines.append("password = " + toml_str(u["password"]))
        lines.append("home = " + toml_str(u["home"]))
        if "authorized_keys" in u:
            lines.append("authorized_keys = " + toml_value(list(u["authorized_keys"])))
        for k, v in u.get("rules", {}).items():
            lines.append("%s = %s" % (k, toml_value(v)))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- server

LISTEN_RE = re.compile(r"ftp listening on (\[[0-9a-fA-F:.]+\]|[0-9.]+):(\d+)")
FTPS_LISTEN_RE = re.compile(r"ftps listening on (\[[0-9a-fA-F:.]+\]|[0-9.]+):(\d+)")
SFTP_LISTEN_RE = re.compile(r"sftp listening on (\[[0-9a-fA-F:.]+\]|[0-9.]+):(\d+)")
SSH_HOSTKEY_RE = re.compile(r"ssh host key (\S+) (SHA256:\S+)")
FINGERPRINT_RE = re.compile(
    r"tls certificate( \(generated\))? SHA-256 fingerprint ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})$")


class BerthServer:
    """A running `berth serve` process started from a generated config."""

    def __init__(self, workdir, users=None, listen=("127.0.0.1:0", "[::1]:0"),
                 password_hashes=None, authorized_keys=None, no_password=(), user_rules=None,
                 s3_home=None, **cfg):
        """authorized_keys: {user: [public key lines]}; no_password: users
        configured without any password (key-only); user_rules: {user: {key:
        value}} for permissions, quotas, limits of [[user]] tables; s3_home:
        an s3helpers.S3Home: the users' homes are s3://BUCKET/USER (home()
        gives an S3Path) and the config has its [s3] section."""
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.state_dir = self.workdir / "state"
        self.home_root = self.workdir / "home"
        self.users = {}
        names = users if users is not None else ["alice", "bob"]
        user_entries = []
        for name in names:
            if s3_home is not None:
                home, location = s3_home.path(name), s3_home.url(name)
            else:
                home = self.home_root / name
                home.mkdir(parents=True, exist_ok=True)
                location = str(home)
            pw = PASSWORDS.get(name, name + "-pw")
            self.users[name] = {"password": pw, "home": home}
            entry = {"name": name, "home": location}
            if password_hashes and name in password_hashes:
                entry["password_hash"] = password_hashes[name]
            elif name not in no_password:
                entry["password"] = pw
            if authorized_keys and name in authorized_keys:
                entry["authorized_keys"] = authorized_keys[name]
            if user_rules and name in user_rules:
                entry["rules"] = user_rules[name]
            user_entries.append(entry)
        if s3_home is not None:
            cfg["sections"] = dict(cfg.get("sections") or {}, s3=s3_home.section())
        lo, hi = cfg.pop("passive_range", None) or next_passive_range()
        self.passive_lo, self.passive_hi = lo, hi
        self.config_text = render_config(
            str(self.state_dir), list(listen), "%d-%d" % (lo, hi), user_entries, **cfg)
        self.config_path = self.workdir / "berth.toml"
        self.config_path.write_text(self.config_text)
        self.proc = None
        self.stdout_lines = []
        self.listeners = []
        self.host = "127.0.0.1"
        self.port = None
        self.host6 = "::1"
        self.port6 = None
        self.ftps_listeners = []
        self.ftps_port = None
        self.fingerprint = None          # from "tls certificate ... fingerprint"
        self.cert_generated = None
        self.sftp_listeners = []
        self.sftp_port = None
        self.ssh_host_keys = []          # (type, "SHA256:...") from "ssh host key"

    def start(self, timeout=60, preexec_fn=None):
        """preexec_fn: run in the child before berth starts (e.g. setrlimit).
        Also after stop(): the new process's listeners replace the old ones."""
        self.stdout_lines, self.listeners, self.ftps_listeners = [], [], []
        self.sftp_listeners, self.ssh_host_keys = [], []
        self.port = self.port6 = self.ftps_port = self.sftp_port = None
        self.stderr_path = self.workdir / "berth.stderr"
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [str(berth_bin()), "serve", "--config", str(self.config_path)],
            stdout=subprocess.PIPE, stderr=self._stderr, stdin=subprocess.DEVNULL,
            cwd=str(self.workdir), preexec_fn=preexec_fn)
        q = queue.Queue()

        def reader():
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                self.stdout_lines.append(line)
                q.put(line)
            q.put(None)

        threading.Thread(target=reader, daemon=True).start()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                raise AssertionError("berth did not print 'berth ready' in %ss; stdout=%r stderr=%r"
                                     % (timeout, self.stdout_lines, self.stderr_text()))
            try:
                line = q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                rc = self.proc.wait(timeout=5)
                raise AssertionError("berth exited early rc=%s stdout=%r stderr=%r"
                                     % (rc, self.stdout_lines, self.stderr_text()))
            m = FINGERPRINT_RE.search(line)
            if m:
                self.cert_generated = m.group(1) is not None
                self.fingerprint = m.group(2)
            m = SFTP_LISTEN_RE.search(line)
            if m:
                self.sftp_listeners.append((m.group(1).strip("[]"), int(m.group(2))))
                self.sftp_port = self.sftp_port or int(m.group(2))
                continue
            m = SSH_HOSTKEY_RE.search(line)
            if m:
                self.ssh_host_keys.append((m.group(1), m.group(2)))
            m = FTPS_LISTEN_RE.search(line)
            if m:
                host, port = m.group(1).strip("[]"), int(m.group(2))
                self.ftps_listeners.append((host, port))
                self.ftps_port = self.ftps_port or port
            m = LISTEN_RE.search(line)
            if m:
                host, port = m.group(1), int(m.group(2))
                self.listeners.append((host.strip("[]"), port))
                if host.startswith("["):
                    self.port6 = self.port6 or port
                else:
                    self.port = self.port or port
            if line.strip() == "berth ready":
                break
        return self

    def stderr_text(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        try:
            self._stderr.close()
        except Exception:
            pass

    def home(self, user="alice"):
        return self.users[user]["home"]

    def login(self, user="alice", ipv6=False, password=None, timeout=CTRL_TIMEOUT):
        ftp = ftplib.FTP(timeout=timeout)
        if ipv6:
            ftp.connect(self.host6, self.port6)
        else:
            ftp.connect(self.host, self.port)
        ftp.login(user, password if password is not None else self.users[user]["password"])
        return ftp

    def connect(self, ipv6=False, timeout=CTRL_TIMEOUT):
        ftp = ftplib.FTP(timeout=timeout)
        if ipv6:
            ftp.connect(self.host6, self.port6)
        else:
            ftp.connect(self.host, self.port)
        return ftp

    # ------------------------------------------------------------ FTPS

    def connect_kind(self, kind, ipv6=False, timeout=CTRL_TIMEOUT, context=None,
                     reuse_session=True):
        """Connected, not logged in client of `kind`: "plain" (PlainFTP),
        "explicit" (ExplicitFTPS, AUTH TLS done, no PBSZ/PROT yet) or
        "implicit" (ImplicitFTPS on the [ftps] port)."""
        host, port = (self.host6, self.port6) if ipv6 else (self.host, self.port)
        if kind == "plain":
            ftp = PlainFTP(timeout=timeout)
            ftp.connect(host, port)
        elif kind == "explicit":
            ftp = ExplicitFTPS(context=context or client_context(), timeout=timeout)
            ftp.reuse_session = reuse_session
            ftp.connect(host, port)
            ftp.auth()
        elif kind == "implicit":
            assert self.ftps_port, "server has no implicit FTPS listener"
            ftp = ImplicitFTPS(context=context or client_context(), timeout=timeout)
            ftp.reuse_session = reuse_session
            ftp.connect(self.host, self.ftps_port)
        else:
            raise ValueError(kind)
        ftp.kind = kind
        return ftp

    def login_kind(self, kind, user="alice", ipv6=False, prot_p=True, **kw):
        """Logged-in client of `kind`, binary type; explicit: PBSZ 0 + PROT P."""
        ftp = self.connect_kind(kind, ipv6=ipv6, **kw)
        try:
            ftplib.FTP.login(ftp, user, self.users[user]["password"])
            if kind == "explicit" and prot_p:
                ftp.prot_p()
            ftp.voidcmd("TYPE I")
        except BaseException:
            ftp.close()
            raise
        return ftp


# ---------------------------------------------------------------- control

def cmd(ftp, line):
    """Send one command, return (code, full reply text) without raising."""
    ftp.putcmd(line)
    return read_reply(ftp)


def read_reply(ftp):
    resp = ftp.getmultiline()
    return int(resp[:3]), resp


def raw_cmd(ftp, data):
    """Send raw bytes on the control connection, return (code, text)."""
    ftp.sock.sendall(data)
    return read_reply(ftp)


def quit_quietly(ftp):
    try:
        ftp.quit()
    except Exception:
        pass
    try:
        ftp.close()
    except Exception:
        pass


# ---------------------------------------------------------------- data

def parse_pasv(text):
    m = re.search(r"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", text)
    assert m, "unparseable PASV reply %r" % text
    nums = [int(x) for x in m.groups()]
    return "%d.%d.%d.%d" % tuple(nums[:4]), nums[4] * 256 + nums[5]


def parse_epsv(text):
    m = re.search(r"\(\|\|\|(\d+)\|\)", text)
    assert m, "unparseable EPSV reply %r" % text
    return int(m.group(1))


def peer_host(ftp):
    return ftp.sock.getpeername()[0]


def local_host(ftp):
    return ftp.sock.getsockname()[0]


def connect_data(host, port, source=None, timeout=DATA_TIMEOUT):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if source:
        s.bind((source, 0))
    s.connect((host, port))
    return s


class DataChannel:
    """Prepares a data connection in one of the four modes, then yields a
    connected socket after the transfer command has been sent."""

    def __init__(self, ftp, mode):
        self.ftp = ftp
        self.mode = mode.lower()
        self.sock = None
        self.listener = None
        if self.mode == "pasv":
            code, text = cmd(ftp, "PASV")
            assert code == 227, text
            self.announced, self.port = parse_pasv(text)
            self.sock = connect_data(peer_host(ftp), self.port)
        elif self.mode == "epsv":
            code, text = cmd(ftp, "EPSV")
            assert code == 229, text
            self.port = parse_epsv(text)
            self.sock = connect_data(peer_host(ftp), self.port)
        elif self.mode in ("port", "eprt"):
            host = local_host(ftp)
            fam = socket.AF_INET6 if ":" in host else socket.AF_INET
            self.listener = socket.socket(fam, socket.SOCK_STREAM)
            self.listener.settimeout(DATA_TIMEOUT)
            self.listener.bind((host, 0))
            self.listener.listen(1)
            port = self.listener.getsockname()[1]
            if self.mode == "port":
                line = "PORT %s,%d,%d" % (host.replace(".", ","), port >> 8, port & 255)
            else:
                line = "EPRT |%d|%s|%d|" % (2 if fam == socket.AF_INET6 else 1, host, port)
            code, text = cmd(ftp, line)
            assert code == 200, "%s -> %s" % (line, text)
        else:
            raise ValueError(mode)

    def start(self, command, expect_prelim=True):
        """Send the transfer command; return (code, text) of the 1xx reply."""
        code, text = cmd(self.ftp, command)
        if expect_prelim:
            assert code in (125, 150), "%s -> %s" % (command, text)
        if code in (125, 150) and self.listener is not None:
            conn, addr = self.listener.accept()
            conn.settimeout(DATA_TIMEOUT)
            self.peer = addr
            self.sock = conn
        return code, text

    def close(self):
        for s in (self.sock, self.listener):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass


def set_binary(ftp):
    code, text = cmd(ftp, "TYPE I")
    assert code == 200, text


def download(ftp, path, mode="pasv", rest=None, sink=None):
    """RETR path; returns (bytes or sha256 hexdigest if sink == 'hash', size)."""
    dc = DataChannel(ftp, mode)
    try:
        if rest is not None:
            code, text = cmd(ftp, "REST %d" % rest)
            assert code == 350, text
        dc.start("RETR " + path)
        h = hashlib.sha256()
        chunks = []
        size = 0
        while True:
            b = dc.sock.recv(1 << 20)
            if not b:
                break
            size += len(b)
            if sink == "hash":
                h.update(b)
            else:
                chunks.append(b)
    finally:
        dc.close()
    code, text = read_reply(ftp)
    assert code == 226 or code == 250, "RETR %s final reply %s" % (path, text)
    if sink == "hash":
        return h.hexdigest(), size
    return b"".join(chunks)


def upload(ftp, path, data=None, src=None, mode="pasv", command="STOR", rest=None):
    """STOR/APPE/STOU from bytes or a file path; returns (prelim, final) texts."""
    dc = DataChannel(ftp, mode)
    try:
        if rest is not None:
            code, text = cmd(ftp, "REST %d" % rest)
            assert code == 350, text
        prelim = dc.start(command + (" " + path if path else ""))[1]
        if src is not None:
            with open(src, "rb") as f:
                if rest:
                    f.seek(rest)
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        break
                    dc.sock.sendall(b)
        elif data:
            dc.sock.sendall(data)
        dc.sock.shutdown(socket.SHUT_WR)
        dc.sock.close()
    finally:
        dc.close()
    code, text = read_reply(ftp)
    assert code == 226 or code == 250, "%s %s final reply %s" % (command, path, text)
    return prelim, text


def listing(ftp, command, mode="pasv"):
    dc = DataChannel(ftp, mode)
    try:
        code, text = dc.start(command, expect_prelim=False)
        if code not in (125, 150):
            return code, text, None
        chunks = []
        while True:
            b = dc.sock.recv(65536)
            if not b:
                break
            chunks.append(b)
    finally:
        dc.close()
    code, text = read_reply(ftp)
    return code, text, b"".join(chunks)


def sha256_file(path):
    if hasattr(path, "sha256"):  # an s3helpers.S3Path
        return path.sha256()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def recv_all(sock):
    """Everything `sock` delivers until the peer ends the stream."""
    chunks = []
    while True:
        b = sock.recv(1 << 16)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def wait_closed(sock, timeout):
    """Read from sock until EOF/reset; returns (closed, data_read, seconds)."""
    sock.settimeout(0.5)
    start = time.monotonic()
    got = b""
    while time.monotonic() - start < timeout:
        try:
            b = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError, OSError):
            return True, got, time.monotonic() - start
        if not b:
            return True, got, time.monotonic() - start
        got += b
    return False, got, time.monotonic() - start


LS_RE = re.compile(
    r"^(?P<type>[-dlcbps])(?P<perm>[-rwxsStT]{9})[.+@]?\s+\d+\s+\S+\s+\S+\s+(?P<size>\d+)\s+"
    r"(?P<date>[A-Z][a-z]{2}\s+\d{1,2}\s+(?:\d{1,2}:\d{2}|\d{4}))\s(?P<name>.+)$")


def parse_ls(text):
    """Parse ls -l style lines; returns dict name -> match groupdict."""
    out = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("total "):
            continue
        m = LS_RE.match(line)
        assert m, "not an ls -l line: %r" % line
        d = m.groupdict()
        name = d["name"]
        if d["type"] == "l" and " -> " in name:
            name = name.split(" -> ", 1)[0]
        out[name] = d
    return out


def parse_facts(line):
    """Parse an MLSx entry line 'fact=val;fact=val; name' -> (facts, name)."""
    facts_part, sep, name = line.partition(" ")
    assert sep, "bad MLSx line %r" % line
    facts = {}
    for f in facts_part.split(";"):
        if not f:
            continue
        k, eq, v = f.partition("=")
        assert eq, "bad fact %r in %r" % (f, line)
        facts[k.lower()] = v
    return facts, name


# ---------------------------------------------------------------- FTPS clients

def client_context(min_version=None, max_version=None):
    """TLS client context that accepts berth's (self-signed) certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if min_version is not None:
        ctx.minimum_version = min_version
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx


class ModeMixin:
    """ftplib data-connection setup in a chosen mode (pasv/epsv/port/eprt);
    active mode listens on the control connection's local address only."""

    data_mode = "pasv"

    def set_mode(self, mode):
        assert mode in ("pasv", "epsv", "port", "eprt"), mode
        self.data_mode = mode
        self.passiveserver = mode in ("pasv", "epsv")

    def makepasv(self):
        if self.data_mode == "epsv" or self.af == socket.AF_INET6:
            return ftplib.parse229(self.sendcmd("EPSV"), self.sock.getpeername())
        _, port = ftplib.parse227(self.sendcmd("PASV"))
        return self.sock.getpeername()[0], port

    def makeport(self):
        host = self.sock.getsockname()[0]
        sock = socket.socket(self.af, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout or DATA_TIMEOUT)
            sock.bind((host, 0))
            sock.listen(1)
            port = sock.getsockname()[1]
            if self.data_mode == "eprt" or self.af == socket.AF_INET6:
                self.sendeprt(host, port)
            else:
                self.sendport(host, port)
        except BaseException:
            sock.close()
            raise
        return sock


class PlainFTP(ModeMixin, ftplib.FTP):
    kind = "plain"


class ExplicitFTPS(ModeMixin, ftplib.FTP_TLS):
    """FTP_TLS whose protected data connections resume the control
    connection's TLS session (RFC 4217 10.2), as servers requiring session
    reuse demand; reuse_session = False behaves like plain ftplib.FTP_TLS."""

    kind = "explicit"
    reuse_session = True

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            session = self.sock.session if self.reuse_session else None
            try:
                conn = self.context.wrap_socket(conn, server_hostname=self.host,
                                                session=session)
            except BaseException:
                conn.close()
                raise
        return conn, size


class ImplicitFTPS(ExplicitFTPS):
    """Implicit FTPS: TLS from the first byte, data protected by default."""

    kind = "implicit"

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self._prot_p = True

    def connect(self, host="", port=0, timeout=-999, source_address=None):
        if host:
            self.host = host
        if port > 0:
            self.port = port
        if timeout != -999:
            self.timeout = timeout
        raw = socket.create_connection((self.host, self.port), self.timeout,
                                       source_address=self.source_address)
        try:
            self.sock = self.context.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise
        self.af = self.sock.family
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome

    def login(self, user="", passwd="", acct="", secure=True):
        return ftplib.FTP.login(self, user, passwd, acct)


def cert_sha256(der):
    return hashlib.sha256(der).hexdigest()


def colon_fingerprint(der):
    h = hashlib.sha256(der).hexdigest().upper()
    return ":".join(h[i:i + 2] for i in range(0, len(h), 2))


def tls_peer_cert(host, port, explicit=False, context=None, timeout=CTRL_TIMEOUT):
    """DER certificate the server presents (implicit port, or after AUTH TLS)."""
    raw = socket.create_connection((host, port), timeout)
    try:
        if explicit:
            assert read_raw_reply(raw)[0] == 220
            raw.sendall(b"AUTH TLS\r\n")
            code, text = read_raw_reply(raw)
            assert code == 234, text
        s = (context or client_context()).wrap_socket(raw, server_hostname=host)
        try:
            return s.getpeercert(binary_form=True)
        finally:
            s.close()
    finally:
        raw.close()


def read_raw_reply(sock):
    """Read one (possibly multi-line) reply byte by byte from a socket, so
    nothing after it is consumed; returns (code, text)."""
    lines = []
    line = b""
    while True:
        b = sock.recv(1)
        if not b:
            raise EOFError("connection closed; got %r" % (b"".join(lines) + line))
        line += b
        if line.endswith(b"\n"):
            lines.append(line)
            first = lines[0]
            if line[:3] == first[:3] and line[3:4] == b" " and line[:3].isdigit():
                text = b"".join(lines).decode("utf-8", "replace")
                return int(first[:3]), text
            if len(lines) == 1 and first[3:4] != b"-":
                return int(first[:3]), first.decode("utf-8", "replace")
            line = b""


# ---------------------------------------------------------------- shared client helpers

def make_cert_pair(directory, name):
    """A fresh self-signed ECDSA P-256 certificate and key (PEM files)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / (name + "-cert.pem"), directory / (name + "-key.pem")
    r = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-subj", "/CN=" + name, "-days", "1", "-keyout", str(key), "-out", str(cert)],
        capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    return cert, key


SSH_TIMEOUT = 30


def ssh_password_client(srv, user="alice", password=None):
    """paramiko SSHClient logged in to srv's SFTP port with a password
    (default: the user's own)."""
    import paramiko  # only the SFTP tests need it
    c = paramiko.SSHClient()
    c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    c.connect(hostname="127.0.0.1", port=srv.sftp_port, username=user,
              password=password if password is not None else srv.users[user]["password"],
              timeout=SSH_TIMEOUT, banner_timeout=SSH_TIMEOUT, auth_timeout=SSH_TIMEOUT,
              allow_agent=False, look_for_keys=False)
    return c


def ftp_login(srv, user="alice", password=None, source=None):
    ftp = ftplib.FTP(timeout=15, source_address=(source, 0) if source else None)
    ftp.connect(srv.host, srv.port)
    ftp.login(user, password if password is not None else srv.users[user]["password"])
    ftp.voidcmd("TYPE I")
    return ftp


def sftp_login(srv, user="alice", password=None):
    c = ssh_password_client(srv, user, password)
    s = c.open_sftp()
    s.get_channel().settimeout(SSH_TIMEOUT)
    s.ssh_client = c
    return s


def sftp_close(s):
    s.close()
    s.ssh_client.close()


def stor_refused(ftp, name, data, rest=None):
    """STOR that the server stops: the data connection may break under the
    client (the server closes it unread); the final reply is returned."""
    conn = ftp.transfercmd("STOR " + name, rest)
    try:
        conn.sendall(data)
    except OSError:
        pass
    finally:
        conn.close()
    try:
        ftp.voidresp()
    except ftplib.Error as e:
        return str(e)
    raise AssertionError("the upload of %s was not refused" % name)


# ---------------------------------------------------------------- process figures

def fd_count(pid):
    """Open descriptors of process `pid`."""
    return len(os.listdir("/proc/%d/fd" % pid))


def fd_targets(pid):
    """What process `pid`'s descriptors name (paths, "socket:[inode]"...), sorted."""
    out = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            out.append(os.readlink("/proc/%d/fd/%s" % (pid, fd)))
        except OSError:
            pass
    return sorted(out)


def rss_kib(pid):
    """Resident set size (VmRSS) of process `pid` in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def wait_until(predicate, deadline, interval=0.1):
    """Polls `predicate` until it is true or `deadline` seconds passed;
    returns its last value."""
    end = time.monotonic() + deadline
    while True:
        v = predicate()
        if v or time.monotonic() >= end:
            return v
        time.sleep(interval)


def settled_fd_count(pid, quiet=0.5, deadline=20):
    """The descriptor count once it has not changed for `quiet` seconds."""
    end = time.monotonic() + deadline
    last, since = fd_count(pid), time.monotonic()
    while time.monotonic() < end:
        time.sleep(0.05)
        n = fd_count(pid)
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return n
    raise AssertionError("descriptor count of berth never settled (last %d)" % last)


SSHFS = shutil.which("sshfs")
FUSERMOUNT = shutil.which("fusermount3") or shutil.which("fusermount")


@contextlib.contextmanager
def sshfs_mounted(srv, user, key_file, mnt, ssh_opts, env):
    """`user`'s home on `srv` mounted with sshfs at `mnt` (a fresh folder) for
    the block. Skips only where the kernel offers no FUSE; a missing sshfs or
    a mount that fails is a test failure (berth may have refused it)."""
    import pytest
    assert SSHFS and FUSERMOUNT, "sshfs is not installed (scripts/install-deps.sh --test)"
    if not os.path.exists("/dev/fuse"):
        pytest.skip("the kernel offers no FUSE here (/dev/fuse): no sshfs mount possible")
    r = subprocess.run([SSHFS, "-p", str(srv.sftp_port), *ssh_opts,
                        "-o", "IdentityFile=%s" % key_file, "%s@127.0.0.1:/" % user, str(mnt)],
                       capture_output=True, text=True, timeout=120, env=env,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, "sshfs could not mount: rc=%s %s" % (r.returncode, r.stderr)
    try:
        yield mnt
    finally:
        subprocess.run([FUSERMOUNT, "-u", "-z", str(mnt)], capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)
