"""curl and lftp against berth over plain FTP, explicit FTPS (ftp:// with
--ssl-reqd / ftp:ssl-force) and implicit FTPS (ftps://), selected by the
`kind` fixture: downloads, uploads, listings, resume and mirrors, passive
and active, all sha256-checked."""

import os
import shutil
import subprocess

import pytest

from ftphelpers import MiB, parse_ls, sha256_file

CURL = shutil.which("curl") or "curl"
LFTP = shutil.which("lftp") or "lftp"


@pytest.fixture
def env(tmp_path):
    home = tmp_path / "client-home"
    home.mkdir()
    e = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    e["HOME"] = str(home)
    e["LC_ALL"] = "C.UTF-8"
    return e


# ------------------------------------------------------------------ curl

def curl_url(server, kind, path=""):
    if kind == "implicit":
        return "ftps://127.0.0.1:%d/%s" % (server.ftps_port, path)
    return "ftp://127.0.0.1:%d/%s" % (server.port, path)


def curl(server, kind, env, *args, check=True):
    tls = {"plain": [], "explicit": ["--ssl-reqd", "-k"], "implicit": ["-k"]}[kind]
    argv = [CURL, "-sS", "-v", "--noproxy", "*", "--max-time", "100", "--connect-timeout", "10",
            "-u", "alice:%s" % server.users["alice"]["password"], *tls, *args]
    r = subprocess.run(argv, capture_output=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
    if check:
        assert r.returncode == 0, "curl %r failed rc=%d: %s" % (
            args, r.returncode, r.stderr[-3000:].decode(errors="replace"))
        check_curl_security(kind, r.stderr)
    return r


def check_curl_security(kind, log):
    """The verbose log shows the connection really is what `kind` says."""
    if kind == "plain":
        assert b"> AUTH" not in log and b"SSL connection using" not in log
        return
    assert b"SSL connection using TLSv1." in log, log[-2000:]
    if kind == "explicit":
        assert b"> AUTH TLS" in log or b"> AUTH SSL" in log
    else:
        assert b"> AUTH" not in log
    assert b"> PROT C" not in log


CURL_MODES = {"passive": [], "active": ["-P", "-"]}


def curl_version():
    try:
        out = subprocess.run([CURL, "--version"], capture_output=True, text=True, timeout=10,
                             stdin=subprocess.DEVNULL).stdout
        return tuple(int(x) for x in out.split()[1].split("-")[0].split(".")[:3])
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return (0, 0, 0)


# curl 7.87.0 - 7.88.x never start TLS on an accepted (active mode) data
# connection: they wait for plain data while the server waits for the
# ClientHello (curl/curl#10666, fixed in 8.0.0).
CURL_ACTIVE_TLS_BROKEN = (7, 87, 0) <= curl_version() < (8, 0, 0)


def curl_mode(kind, mode):
    if kind != "plain" and mode == "active" and CURL_ACTIVE_TLS_BROKEN:
        pytest.skip("this curl cannot do FTPS active mode (curl/curl#10666, fixed in 8.0.0)")
    return CURL_MODES[mode]


@pytest.mark.parametrize("mode", sorted(CURL_MODES))
def test_curl_download(ftps_server, kind, env, payloads, tmp_path, mode):
    pl = payloads["1MiB"]
    pl.copy_to(ftps_server.home() / "c.bin")
    out = tmp_path / "c.out"
    curl(ftps_server, kind, env, *curl_mode(kind, mode), "-o", str(out),
         curl_url(ftps_server, kind, "c.bin"))
    assert sha256_file(out) == pl.sha256


@pytest.mark.parametrize("mode", sorted(CURL_MODES))
def test_curl_upload(ftps_server, kind, env, payloads, mode):
    pl = payloads["1MiB"]
    curl(ftps_server, kind, env, *curl_mode(kind, mode), "-T", str(pl.path),
         curl_url(ftps_server, kind, "cu.bin"))
    assert sha256_file(ftps_server.home() / "cu.bin") == pl.sha256


@pytest.mark.parametrize("size", ["0B", "100MiB"])
def test_curl_roundtrip_sizes(ftps_server, kind, env, payloads, tmp_path, size):
    pl = payloads[size]
    curl(ftps_server, kind, env, "-T", str(pl.path), curl_url(ftps_server, kind, "r.bin"))
    assert sha256_file(ftps_server.home() / "r.bin") == pl.sha256
    out = tmp_path / "r.out"
    down = ["--disable-epsv"] if kind != "plain" and CURL_ACTIVE_TLS_BROKEN else ["-P", "-"]
    curl(ftps_server, kind, env, *down, "-o", str(out), curl_url(ftps_server, kind, "r.bin"))
    assert out.stat().st_size == pl.size and sha256_file(out) == pl.sha256


@pytest.mark.parametrize("mode", sorted(CURL_MODES))
def test_curl_listing(ftps_server, kind, env, mode):
    (ftps_server.home() / "a.txt").write_bytes(b"aaa")
    (ftps_server.home() / "dir1").mkdir()
    (ftps_server.home() / "dir1" / "in.txt").write_bytes(b"i")
    r = curl(ftps_server, kind, env, *curl_mode(kind, mode), curl_url(ftps_server, kind, ""))
    entries = parse_ls(r.stdout.decode())
    assert set(entries) - {".", ".."} == {"a.txt", "dir1"}
    assert entries["a.txt"]["size"] == "3" and entries["dir1"]["type"] == "d"
    r = curl(ftps_server, kind, env, *curl_mode(kind, mode), "--list-only",
             curl_url(ftps_server, kind, ""))
    assert sorted(r.stdout.decode().split()) == ["a.txt", "dir1"]
    r = curl(ftps_server, kind, env, *curl_mode(kind, mode), "--list-only",
             curl_url(ftps_server, kind, "dir1/"))
    assert r.stdout.decode().split() == ["in.txt"]


def test_curl_resume_download(ftps_server, kind, env, payloads, tmp_path):
    pl = payloads["1MiB"]
    pl.copy_to(ftps_server.home() / "big.bin")
    out = tmp_path / "big.part"
    with open(pl.path, "rb") as f, open(out, "wb") as o:
        o.write(f.read(400003))
    r = curl(ftps_server, kind, env, "-C", "-", "-o", str(out),
             curl_url(ftps_server, kind, "big.bin"))
    assert sha256_file(out) == pl.sha256
    assert b"> REST 400003" in r.stderr, "curl did not resume"


# ------------------------------------------------------------------ lftp

def lftp(server, kind, env, script, passive=True, timeout=180):
    settings = ("set cmd:fail-exit yes; set net:max-retries 1; set net:timeout 10; "
                "set net:reconnect-interval-base 1; set net:persist-retries 0; "
                "set xfer:clobber on; set ftp:passive-mode %s; set ftp:auto-passive-mode no; "
                % ("on" if passive else "off"))
    if kind == "plain":
        settings += "set ftp:ssl-allow no; "
        target = "ftp://127.0.0.1:%d" % server.port
    else:
        settings += ("set ftp:ssl-force yes; set ftp:ssl-protect-data yes; "
                     "set ftp:ssl-protect-list yes; set ssl:verify-certificate no; ")
        target = ("ftps://127.0.0.1:%d" % server.ftps_port if kind == "implicit"
                  else "ftp://127.0.0.1:%d" % server.port)
    script = settings + "open -u alice,%s %s; %s" % (
        server.users["alice"]["password"], target, script)
    r = subprocess.run([LFTP, "-d", "-c", script], capture_output=True, timeout=timeout,
                       env=env, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, "lftp failed rc=%d stdout=%s stderr=%s" % (
        r.returncode, r.stdout[-2000:], r.stderr[-3000:])
    log = r.stderr
    if kind == "plain":
        assert b"---> AUTH" not in log and b"---> PROT P" not in log
    elif kind == "explicit":
        assert b"---> AUTH TLS" in log and b"---> PROT P" in log, log[-3000:]
    else:
        assert b"---> AUTH" not in log
    if kind != "plain":
        assert b"---> PROT C" not in log
    if passive:
        assert b"---> PASV" in log or b"---> EPSV" in log
    else:
        assert b"---> PORT" in log or b"---> EPRT" in log
    return r


def make_tree(root):
    files = {
        "top.txt": b"top level\n",
        "empty.bin": b"",
        "with space.dat": os.urandom(1000),
        "d1/a.bin": os.urandom(300000),
        "d1/d2/b.bin": os.urandom(2 * MiB + 17),
        "d1/d2/d3/c.txt": b"deep",
    }
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (root / "emptydir").mkdir()
    return files


def snapshot(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = "dir"
        for f in filenames:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = sha256_file(p)
    return out


@pytest.mark.parametrize("passive", [True, False], ids=["passive", "active"])
def test_lftp_get_put(ftps_server, kind, env, payloads, tmp_path, passive):
    pl = payloads["1MiB"]
    pl.copy_to(ftps_server.home() / "g.bin")
    local = tmp_path / "g.bin"
    lftp(ftps_server, kind, env, "get /g.bin -o %s; put %s -o /p.bin; put %s -o /zero.bin"
         % (local, pl.path, payloads["0B"].path), passive=passive)
    assert sha256_file(local) == pl.sha256
    assert sha256_file(ftps_server.home() / "p.bin") == pl.sha256
    assert (ftps_server.home() / "zero.bin").stat().st_size == 0


def test_lftp_100mib_both_ways(ftps_server, kind, env, payloads, tmp_path):
    pl = payloads["100MiB"]
    local = tmp_path / "big.bin"
    lftp(ftps_server, kind, env, "put %s -o /big.bin; get /big.bin -o %s" % (pl.path, local))
    assert sha256_file(ftps_server.home() / "big.bin") == pl.sha256
    assert sha256_file(local) == pl.sha256


@pytest.mark.parametrize("passive", [True, False], ids=["passive", "active"])
def test_lftp_mirror_both_ways(ftps_server, kind, env, tmp_path, passive):
    src = tmp_path / "local-tree"
    make_tree(src)
    lftp(ftps_server, kind, env,
         "set mirror:parallel-transfer-count 3; mirror -R %s /uploaded" % src, passive=passive)
    assert snapshot(ftps_server.home() / "uploaded") == snapshot(src)
    back = tmp_path / "back"
    lftp(ftps_server, kind, env,
         "set mirror:parallel-transfer-count 3; mirror /uploaded %s" % back, passive=passive)
    assert snapshot(back) == snapshot(src)


def test_lftp_resume(ftps_server, kind, env, payloads, tmp_path):
    pl = payloads["1MiB"]
    pl.copy_to(ftps_server.home() / "r.bin")
    local = tmp_path / "r.bin"
    with open(pl.path, "rb") as f:
        local.write_bytes(f.read(500001))
        f.seek(0)
        (ftps_server.home() / "u.bin").write_bytes(f.read(123457))
    r = lftp(ftps_server, kind, env, "get -c /r.bin -o %s; put -c %s -o /u.bin" % (local, pl.path))
    assert sha256_file(local) == pl.sha256
    assert sha256_file(ftps_server.home() / "u.bin") == pl.sha256
    assert b"---> REST 500001" in r.stderr
    assert b"---> REST 123457" in r.stderr or b"---> APPE" in r.stderr
