"""Many simultaneous sessions and parallel transfers."""

import ftplib
import os
import resource
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ftphelpers import MiB, cmd, download, quit_quietly, sha256_file, upload

SESSIONS = 1000


def _raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft >= need, "cannot raise RLIMIT_NOFILE to %d (hard limit)" % need


def test_1000_concurrent_logged_in_sessions(start_server):
    _raise_nofile(SESSIONS * 2 + 256)  # the server inherits this limit too
    # 500 sessions each for two users: past the default of 128 per user.
    srv = start_server(sections={"limits": {"max_sessions_per_user": 0}})
    (srv.home() / "marker.txt").write_bytes(b"m")

    def open_session(i):
        ftp = ftplib.FTP(timeout=30)
        ftp.connect(srv.host, srv.port)
        user = "alice" if i % 2 == 0 else "bob"
        resp = ftp.login(user, srv.users[user]["password"])
        return ftp, resp

    sessions = []
    errors = []
    with ThreadPoolExecutor(max_workers=32) as pool:
        futures = [pool.submit(open_session, i) for i in range(SESSIONS)]
        for f in futures:
            try:
                sessions.append(f.result())
            except Exception as e:  # collected so every session gets closed
                errors.append(repr(e))
    try:
        assert not errors, "%d sessions failed, first: %s" % (len(errors), errors[:3])
        assert len(sessions) == SESSIONS
        assert all(resp.startswith("230") for _, resp in sessions)
        # all 1000 are open at the same time: each answers NOOP now
        bad = []
        for ftp, _ in sessions:
            code, text = cmd(ftp, "NOOP")
            if code != 200:
                bad.append(text)
        assert not bad, bad[:3]
        # and the server still serves a new session with a data transfer
        extra = srv.login("alice")
        assert download(extra, "marker.txt") == b"m"
        quit_quietly(extra)
    finally:
        def q(item):
            ftp, _ = item
            try:
                code = cmd(ftp, "QUIT")[0]
            except Exception:
                code = None
            ftp.close()
            return code
        with ThreadPoolExecutor(max_workers=32) as pool:
            codes = list(pool.map(q, sessions))
    assert codes.count(221) == len(sessions)
    assert srv.alive()


def test_parallel_transfers(server, payloads):
    pl = payloads["1MiB"]
    modes = ["pasv", "epsv", "port", "eprt"]

    def worker(i):
        ipv6 = i % 3 == 0
        mode = modes[i % 4] if not ipv6 else ("epsv" if i % 2 else "eprt")
        ftp = server.login("alice" if i % 2 else "bob", ipv6=ipv6)
        try:
            ftp.voidcmd("TYPE I")
            name = "par-%d.bin" % i
            for _ in range(3):
                upload(ftp, name, src=pl.path, mode=mode)
                digest, n = download(ftp, name, mode=mode, sink="hash")
                assert (digest, n) == (pl.sha256, pl.size)
        finally:
            quit_quietly(ftp)
        return name

    with ThreadPoolExecutor(max_workers=16) as pool:
        names = list(pool.map(worker, range(16)))
    for i, name in enumerate(names):
        home = server.home("alice" if i % 2 else "bob")
        assert sha256_file(home / name) == pl.sha256


def test_parallel_big_downloads(server, payloads):
    pl = payloads["100MiB"]
    pl.copy_to(server.home() / "big.bin")

    def worker(i):
        ftp = server.login("alice")
        try:
            ftp.voidcmd("TYPE I")
            return download(ftp, "big.bin", mode=["pasv", "port", "epsv", "eprt"][i], sink="hash")
        finally:
            quit_quietly(ftp)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(worker, range(4)))
    assert all(r == (pl.sha256, pl.size) for r in results)


def test_same_file_concurrent_readers_and_writer_isolation(server, payloads):
    """Uploads to different names by the same user in parallel don't mix."""
    blobs = [os.urandom(MiB // 2 + i) for i in range(8)]

    def worker(i):
        ftp = server.login("alice")
        try:
            ftp.voidcmd("TYPE I")
            upload(ftp, "blob%d" % i, data=blobs[i], mode="pasv" if i % 2 else "epsv")
        finally:
            quit_quietly(ftp)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(worker, range(8)))
    for i, b in enumerate(blobs):
        assert (server.home() / ("blob%d" % i)).read_bytes() == b


def test_failed_login_delay_does_not_block_other_sessions(start_server):
    # A delay long enough that a login slowed by a busy machine (the suite
    # runs in parallel) still takes well under it.
    delay = 3.0
    server = start_server(extra_ftp={"failed_login_delay_ms": int(delay * 1000)})

    def bad_login():
        ftp = server.connect()
        try:
            cmd(ftp, "USER alice")
            cmd(ftp, "PASS wrong")
        finally:
            quit_quietly(ftp)

    threads = [threading.Thread(target=bad_login) for _ in range(6)]
    for t in threads:
        t.start()
    time.sleep(0.1)  # the bad PASS commands are now waiting out their delay
    t0 = time.monotonic()
    ftp = server.login("bob")
    assert cmd(ftp, "NOOP")[0] == 200
    elapsed = time.monotonic() - t0
    quit_quietly(ftp)
    for t in threads:
        t.join(10)
    assert elapsed < delay / 2, (
        "a good login took %.2fs while others sat in the %.0f s 530 delay" % (elapsed, delay))
