"""Real clients against berth: curl (passive/active, upload/download, resume,
listing, IPv6, --ftp-create-dirs, -Q) and lftp (mirror both ways, active
mode, get -c / put -c resume, IPv6)."""

import os
import shutil
import subprocess

import pytest

from ftphelpers import MiB, parse_ls, sha256_file
from s3helpers import is_s3

CURL = shutil.which("curl") or "curl"
LFTP = shutil.which("lftp") or "lftp"


@pytest.fixture
def client_env(tmp_path):
    home = tmp_path / "client-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["HOME"] = str(home)
    env["LC_ALL"] = "C.UTF-8"
    return env


def curl(server, client_env, *args, user="alice", timeout=120, check=True):
    argv = [CURL, "-sS", "--noproxy", "*", "--max-time", "100", "--connect-timeout", "10",
            "-u", "%s:%s" % (user, server.users[user]["password"] if user in server.users
                             else "x"), *args]
    r = subprocess.run(argv, capture_output=True, timeout=timeout, env=client_env,
                       stdin=subprocess.DEVNULL)
    if check:
        assert r.returncode == 0, "curl %r failed rc=%d: %s" % (args, r.returncode, r.stderr)
    return r


def url(server, path="", ipv6=False):
    if ipv6:
        return "ftp://[::1]:%d/%s" % (server.port6, path)
    return "ftp://127.0.0.1:%d/%s" % (server.port, path)


# ------------------------------------------------------------------ curl

CURL_MODES = {
    "epsv": ["--ftp-pasv"],
    "pasv": ["--ftp-pasv", "--disable-epsv"],
    "eprt": ["-P", "-"],
    "port": ["-P", "-", "--disable-eprt"],
    "port-ip": ["-P", "127.0.0.1", "--disable-eprt"],
}


@pytest.mark.parametrize("mode", sorted(CURL_MODES))
def test_curl_download(server, client_env, payloads, tmp_path, mode, home_kind):
    pl = payloads["1MiB"]
    pl.copy_to(server.home() / "c.bin")
    out = tmp_path / "c.out"
    curl(server, client_env, *CURL_MODES[mode], "-o", str(out), url(server, "c.bin"))
    assert sha256_file(out) == pl.sha256


@pytest.mark.parametrize("mode", sorted(CURL_MODES))
def test_curl_upload(server, client_env, payloads, mode, home_kind):
    pl = payloads["1MiB"]
    curl(server, client_env, *CURL_MODES[mode], "-T", str(pl.path), url(server, "cu.bin"))
    assert sha256_file(server.home() / "cu.bin") == pl.sha256


@pytest.mark.parametrize("size", ["0B", "1B", "100MiB"])
def test_curl_roundtrip_sizes(server, client_env, payloads, tmp_path, size):
    pl = payloads[size]
    curl(server, client_env, "-T", str(pl.path), url(server, "r.bin"))
    assert sha256_file(server.home() / "r.bin") == pl.sha256
    out = tmp_path / "r.out"
    curl(server, client_env, "-P", "-", "-o", str(out), url(server, "r.bin"))
    assert out.stat().st_size == pl.size and sha256_file(out) == pl.sha256


def test_curl_resume_download(server, client_env, payloads, tmp_path):
    pl = payloads["100MiB"]
    pl.copy_to(server.home() / "big.bin")
    out = tmp_path / "big.part"
    with open(pl.path, "rb") as f, open(out, "wb") as o:
        o.write(f.read(40 * MiB + 3))
    r = curl(server, client_env, "-v", "-C", "-", "-o", str(out), url(server, "big.bin"))
    assert sha256_file(out) == pl.sha256
    assert b"> REST %d" % (40 * MiB + 3) in r.stderr, "curl did not resume"


def test_curl_resume_upload(server, client_env, payloads):
    pl = payloads["1MiB"]
    with open(pl.path, "rb") as f:
        (server.home() / "up.bin").write_bytes(f.read(333333))
    r = curl(server, client_env, "-v", "-C", "-", "-T", str(pl.path), url(server, "up.bin"))
    assert sha256_file(server.home() / "up.bin") == pl.sha256
    assert b"> APPE" in r.stderr or b"> REST 333333" in r.stderr, "curl did not resume"


def test_curl_list_and_nlst(server, client_env, home_kind):
    (server.home() / "a.txt").write_bytes(b"aaa")
    (server.home() / "dir1").mkdir()
    r = curl(server, client_env, url(server, ""))
    entries = parse_ls(r.stdout.decode())
    assert set(entries) - {".", ".."} == {"a.txt", "dir1"}
    assert entries["a.txt"]["size"] == "3" and entries["dir1"]["type"] == "d"
    r = curl(server, client_env, "--list-only", url(server, ""))
    assert sorted(r.stdout.decode().split()) == ["a.txt", "dir1"]
    r = curl(server, client_env, "-P", "-", url(server, "dir1/"))
    assert r.stdout.strip() == b""


def test_curl_ipv6(server, client_env, payloads, tmp_path):
    pl = payloads["1MiB"]
    curl(server, client_env, "-g", "-T", str(pl.path), url(server, "six.bin", ipv6=True))
    assert sha256_file(server.home() / "six.bin") == pl.sha256
    for extra in ([], ["-P", "-"]):
        out = tmp_path / "six.out"
        curl(server, client_env, "-g", *extra, "-o", str(out), url(server, "six.bin", ipv6=True))
        assert sha256_file(out) == pl.sha256
    r = curl(server, client_env, "-g", "--list-only", url(server, "", ipv6=True))
    assert r.stdout.decode().split() == ["six.bin"]


def test_curl_create_dirs(server, client_env, payloads):
    pl = payloads["1B"]
    curl(server, client_env, "--ftp-create-dirs", "-T", str(pl.path),
         url(server, "a/b/c/deep.bin"))
    assert sha256_file(server.home() / "a" / "b" / "c" / "deep.bin") == pl.sha256
    # without the flag, uploading into a missing directory fails
    r = curl(server, client_env, "-T", str(pl.path), url(server, "x/y/z.bin"), check=False)
    assert r.returncode != 0
    assert not (server.home() / "x").exists()


@pytest.mark.parametrize("method", ["multicwd", "singlecwd", "nocwd"])
def test_curl_ftp_methods_nested(server, client_env, tmp_path, method):
    (server.home() / "p" / "q").mkdir(parents=True)
    (server.home() / "p" / "q" / "n.txt").write_bytes(b"nested")
    out = tmp_path / "n.out"
    curl(server, client_env, "--ftp-method", method, "-o", str(out), url(server, "p/q/n.txt"))
    assert out.read_bytes() == b"nested"


def test_curl_quote_commands(server, client_env, home_kind):
    (server.home() / "del.txt").write_bytes(b"d")
    (server.home() / "old.txt").write_bytes(b"o")
    curl(server, client_env, "-Q", "MKD qdir", "-Q", "RNFR old.txt", "-Q", "RNTO new.txt",
         "-Q", "-DELE del.txt", "--list-only", url(server, ""))
    assert (server.home() / "qdir").is_dir()
    assert (server.home() / "new.txt").read_bytes() == b"o"
    assert not (server.home() / "old.txt").exists()
    assert not (server.home() / "del.txt").exists()
    # a failing quote command makes curl fail
    r = curl(server, client_env, "-Q", "DELE no-such-file", url(server, ""), check=False)
    assert r.returncode != 0


def test_curl_wrong_password(server, client_env):
    argv = [CURL, "-sS", "--noproxy", "*", "--max-time", "30", "-u", "alice:wrong",
            url(server, "")]
    r = subprocess.run(argv, capture_output=True, timeout=60, env=client_env,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 67, r.stderr  # CURLE_LOGIN_DENIED


def test_curl_missing_file(server, client_env, tmp_path):
    r = curl(server, client_env, "-o", str(tmp_path / "x"), url(server, "nope.bin"), check=False)
    assert r.returncode == 78, r.stderr  # CURLE_REMOTE_FILE_NOT_FOUND


# ------------------------------------------------------------------ lftp

def lftp(server, client_env, script, ipv6=False, passive=True, user="alice", timeout=180,
         debug=False):
    host = "[::1]:%d" % server.port6 if ipv6 else "127.0.0.1:%d" % server.port
    prefix = ("set cmd:fail-exit yes; set net:max-retries 1; set net:timeout 10; "
              "set net:reconnect-interval-base 1; set net:persist-retries 0; "
              "set ftp:ssl-allow no; set xfer:clobber on; "
              "set ftp:passive-mode %s; set ftp:auto-passive-mode no; "
              "open -u %s,%s ftp://%s; " % ("on" if passive else "off", user,
                                            server.users[user]["password"], host))
    argv = [LFTP] + (["-d"] if debug else []) + ["-c", prefix + script]
    r = subprocess.run(argv, capture_output=True, timeout=timeout,
                       env=client_env, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, "lftp failed rc=%d stdout=%s stderr=%s" % (
        r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    return r


def make_tree(root):
    files = {
        "top.txt": b"top level\n",
        "empty.bin": b"",
        "with space.dat": os.urandom(1000),
        "naïve-ü.txt": "unicode ✓".encode(),
        "d1/a.bin": os.urandom(300000),
        "d1/d2/b.bin": os.urandom(2 * MiB + 17),
        "d1/d2/d3/c.txt": b"deep",
        "other/x.bin": os.urandom(1),
    }
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (root / "emptydir").mkdir()
    return files


def snapshot(root):
    if is_s3(root):
        return {str(p.key[len(root.key) + 1:]): "dir" if p.is_dir() else sha256_file(p)
                for p in root.rglob("*")}
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = "dir"
        for f in filenames:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = sha256_file(p)
    return out


@pytest.mark.parametrize("passive", [True, False], ids=["passive", "active"])
def test_lftp_mirror_download(server, client_env, tmp_path, passive, home_kind):
    src = server.home() / "tree"
    make_tree(src)
    dest = tmp_path / "mirror-down"
    lftp(server, client_env, "set mirror:parallel-transfer-count 3; mirror /tree %s" % dest,
         passive=passive)
    assert snapshot(dest) == snapshot(src)


def test_lftp_rm_r_never_deletes_through_a_link(server, client_env):
    """Issue 17: a listing that showed victim/link (-> ../keep) as a directory
    let a recursive delete descend through it; links are listed as links."""
    home = server.home()
    (home / "keep").mkdir()
    (home / "keep" / "important.txt").write_bytes(b"keep me")
    (home / "victim" / "sub").mkdir(parents=True)
    (home / "victim" / "sub" / "f").write_bytes(b"x")
    os.symlink("../keep", home / "victim" / "link")
    lftp(server, client_env, "rm -r /victim")
    assert (home / "keep" / "important.txt").read_bytes() == b"keep me"
    assert not (home / "victim").exists()


@pytest.mark.parametrize("passive", [True, False], ids=["passive", "active"])
def test_lftp_mirror_upload(server, client_env, tmp_path, passive, home_kind):
    src = tmp_path / "local-tree"
    make_tree(src)
    lftp(server, client_env, "set mirror:parallel-transfer-count 3; mirror -R %s /uploaded" % src,
         passive=passive)
    assert snapshot(server.home() / "uploaded") == snapshot(src)


def test_lftp_mirror_ipv6_both_ways(server, client_env, tmp_path):
    # passive (EPSV) only: lftp's active mode over IPv6 announces "EPRT |2|::|p|"
    # (unspecified address), which the contract requires berth to refuse.
    src = tmp_path / "v6-tree"
    make_tree(src)
    lftp(server, client_env, "mirror -R %s /v6up" % src, ipv6=True)
    assert snapshot(server.home() / "v6up") == snapshot(src)
    back = tmp_path / "v6-back"
    lftp(server, client_env, "mirror /v6up %s" % back, ipv6=True)
    assert snapshot(back) == snapshot(src)


@pytest.mark.parametrize("passive", [True, False], ids=["passive", "active"])
def test_lftp_get_resume(server, client_env, payloads, tmp_path, passive):
    pl = payloads["100MiB"]
    pl.copy_to(server.home() / "big.bin")
    local = tmp_path / "big.bin"
    with open(pl.path, "rb") as f, open(local, "wb") as o:
        o.write(f.read(55 * MiB + 1))
    r = lftp(server, client_env, "get -c /big.bin -o %s" % local, passive=passive, debug=True)
    assert local.stat().st_size == pl.size and sha256_file(local) == pl.sha256
    assert b"---> REST %d" % (55 * MiB + 1) in r.stderr, "lftp did not resume"
    assert b"---> PORT" in r.stderr if not passive else b"---> PASV" in r.stderr


@pytest.mark.parametrize("passive", [True, False], ids=["passive", "active"])
def test_lftp_put_resume(server, client_env, payloads, passive):
    pl = payloads["100MiB"]
    with open(pl.path, "rb") as f, open(server.home() / "big.bin", "wb") as o:
        o.write(f.read(23 * MiB + 9))
    r = lftp(server, client_env, "put -c %s -o /big.bin" % pl.path, passive=passive, debug=True)
    remote = server.home() / "big.bin"
    assert remote.stat().st_size == pl.size and sha256_file(remote) == pl.sha256
    assert (b"---> REST %d" % (23 * MiB + 9) in r.stderr
            or b"---> APPE" in r.stderr), "lftp did not resume"


def test_lftp_basic_commands(server, client_env, tmp_path):
    (server.home() / "f.txt").write_bytes(b"hello lftp")
    r = lftp(server, client_env,
             "mkdir newdir; mv f.txt newdir/g.txt; cls -1 newdir; cat newdir/g.txt; "
             "rm newdir/g.txt; rmdir newdir; pwd")
    out = r.stdout.decode()
    assert "g.txt" in out and "hello lftp" in out
    assert not (server.home() / "newdir").exists()


def test_lftp_wrong_password_fails(server, client_env):
    script = ("set cmd:fail-exit yes; set net:max-retries 1; set net:timeout 5; "
              "set ftp:ssl-allow no; open -u alice,wrong ftp://127.0.0.1:%d; ls" % server.port)
    r = subprocess.run([LFTP, "-c", script], capture_output=True, timeout=60, env=client_env,
                       stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    assert b"530" in r.stderr or b"Login" in r.stderr, r.stderr
