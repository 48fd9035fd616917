#!/usr/bin/env python3
"""Holds many idle, logged-in SFTP sessions on one server and measures the
server's processes meanwhile: memory (RSS and PSS of the server process and
all its descendants, from /proc/PID/smaps_rollup), CPU used while the
sessions sit idle, and the round trip of one request per session afterwards.

Usage: sftp_sessions.py --port P --user U --key KEY --server-pid PID
                        [--count 200] [--parallel 8] [--hold 10] [--deadline 120]

Each session is a paramiko Transport: key exchange, public-key login, an
"sftp" subsystem channel and the SFTP INIT/VERSION exchange; then nothing
until the hold is over. At most --parallel logins run at once (OpenSSH's
MaxStartups refuses more than 10 unauthenticated connections by default);
no new session is started after --deadline seconds. Prints one JSON object.
A yardstick for bench/sftp_throughput.sh; needs paramiko.
"""
import argparse
import json
import logging
import os
import socket
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import paramiko

CLK_TCK = os.sysconf("SC_CLK_TCK")


def stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    # the command name may hold spaces and parentheses: split after the last ")"
    return text[text.rindex(")") + 2:].split()


def tree(root: int) -> list[int]:
    """root and all its live descendants."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        f = stat_fields(int(name))
        if f:
            children.setdefault(int(f[1]), []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def memory(root: int) -> dict:
    """Process count and summed Rss/Pss (KiB) of the tree."""
    procs = rss = pss = 0
    for pid in tree(root):
        vals = {}
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 2 and parts[0] in ("Rss:", "Pss:"):
                        vals[parts[0]] = int(parts[1])
        except OSError:
            continue
        procs += 1
        rss += vals.get("Rss:", 0)
        pss += vals.get("Pss:", 0)
    return {"procs": procs, "rss_kib": rss, "pss_kib": pss}


def cpu_ticks(root: int) -> dict[int, int]:
    """utime + stime per live process of the tree."""
    out = {}
    for pid in tree(root):
        f = stat_fields(pid)
        if f:
            out[pid] = int(f[11]) + int(f[12])
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--server-pid", type=int, required=True)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument("--hold", type=float, default=10.0)
    ap.add_argument("--deadline", type=float, default=120.0)
    ap.add_argument("--timeout", type=float, default=30.0)
    a = ap.parse_args()
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    key = paramiko.Ed25519Key.from_private_key_file(a.key)

    before = memory(a.server_pid)
    sessions: list[tuple[paramiko.Transport, paramiko.SFTPClient]] = []
    errors: dict[str, int] = {}
    first_error_after = None
    lock = threading.Lock()
    t_start = time.monotonic()
    stop_at = t_start + a.deadline

    def open_one(_i: int) -> None:
        nonlocal first_error_after
        if time.monotonic() > stop_at:
            return
        t = None
        try:
            sock = socket.create_connection((a.host, a.port), timeout=a.timeout)
            t = paramiko.Transport(sock)
            t.banner_timeout = a.timeout
            t.auth_timeout = a.timeout
            t.start_client(timeout=a.timeout)
            t.auth_publickey(a.user, key)
            s = paramiko.SFTPClient.from_transport(t)
            s.get_channel().settimeout(a.timeout)
            with lock:
                sessions.append((t, s))
        except Exception as e:  # noqa: BLE001 - every failure is counted
            if t is not None:
                t.close()
            msg = f"{type(e).__name__}: {e}"[:160]
            with lock:
                errors[msg] = errors.get(msg, 0) + 1
                if first_error_after is None:
                    first_error_after = len(sessions)

    with ThreadPoolExecutor(max_workers=a.parallel) as pool:
        list(pool.map(open_one, range(a.count)))
    open_seconds = time.monotonic() - t_start
    opened = len(sessions)

    time.sleep(2.0)  # let the server settle (lazy allocations, reaped helpers)
    held = memory(a.server_pid)
    c0, t0 = cpu_ticks(a.server_pid), time.monotonic()
    time.sleep(a.hold)
    c1, t1 = cpu_ticks(a.server_pid), time.monotonic()
    idle_cpu = sum(c1[p] - c0[p] for p in c1 if p in c0) / CLK_TCK

    # One request per session: is each still there, and how fast does it answer?
    # A stalled server is given a minute in all, not a timeout per session.
    rtts, alive, unchecked = [], 0, 0
    check_until = time.monotonic() + 60
    for _t, s in sessions:
        if time.monotonic() > check_until:
            unchecked += 1
            continue
        r0 = time.monotonic()
        try:
            s.stat(".")
        except Exception:  # noqa: BLE001 - a dead session is what is counted
            continue
        rtts.append((time.monotonic() - r0) * 1000)
        alive += 1
    for t, s in sessions:
        try:
            s.close()
            t.close()
        except Exception:  # noqa: BLE001
            pass

    per = (lambda k: (held[k] - before[k]) / opened if opened else None)
    print(json.dumps({
        "requested": a.count,
        "opened": opened,
        "alive_after_hold": alive,
        "unchecked": unchecked,
        "open_seconds": round(open_seconds, 2),
        "deadline_seconds": a.deadline,
        "errors": errors,
        "first_error_after": first_error_after,
        "before": before,
        "held": held,
        "rss_kib_per_session": per("rss_kib"),
        "pss_kib_per_session": per("pss_kib"),
        "hold_seconds": round(t1 - t0, 2),
        "idle_cpu_seconds": round(idle_cpu, 2),
        "stat_ms_median": round(statistics.median(rtts), 2) if rtts else None,
        "stat_ms_max": round(max(rtts), 2) if rtts else None,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
