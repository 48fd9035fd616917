#!/usr/bin/env python3
"""Logins per second over FTP with the verified-login cache off and on.

Usage: python3 bench/login_rate.py [BERTH_BINARY] [N]
Starts berth on 127.0.0.1 (a temporary state folder, one user added with
`berth user add`), then makes N sequential connect+USER+PASS+QUIT logins for
each setting of [users] login_cache. Not a test: it asserts nothing.
"""

import ftplib
import pathlib
import re
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def rate(berth, cache, n):
    with tempfile.TemporaryDirectory() as tmp:
        d = pathlib.Path(tmp)
        (d / "home").mkdir()
        cfg = d / "berth.toml"
        cfg.write_text('[server]\nstate_dir = "%s"\n[ftp]\nlisten = ["127.0.0.1:0"]\n'
                       '[users]\nlogin_cache = %d\n' % (d / "state", cache))
        subprocess.run([berth, "user", "add", "bench", "--home", str(d / "home"),
                        "--password-stdin", "--config", str(cfg)],
                       input="bench-pw-1\n", text=True, check=True, capture_output=True)
        proc = subprocess.Popen([berth, "serve", "--config", str(cfg)], text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            port = None
            for line in proc.stdout:
                m = re.search(r"ftp listening on [0-9.]+:(\d+)", line)
                if m:
                    port = int(m.group(1))
                if line.strip() == "berth ready":
                    break
            t0 = time.monotonic()
            for _ in range(n):
                f = ftplib.FTP()
                f.connect("127.0.0.1", port)
                f.login("bench", "bench-pw-1")
                f.quit()
            return n / (time.monotonic() - t0)
        finally:
            proc.terminate()
            proc.wait()


def main():
    berth = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "build" / "berth")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    for cache in (0, 300):
        print("login_cache = %-3d  %6.0f logins/s  (%d sequential FTP logins)"
              % (cache, rate(berth, cache, n), n))


if __name__ == "__main__":
    main()
