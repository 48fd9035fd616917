#!/usr/bin/env python3
"""Holds many idle, logged-in FTP or SFTP sessions on one server and measures
the server's processes meanwhile: memory (RSS and PSS of the server process
and all its descendants, from /proc/PID/smaps_rollup), CPU used while the
sessions sit idle, and the round trip of one request per session afterwards.

Usage: sessions.py --proto ftp|sftp --port P --user U (--password PW | --key KEY)
                   --server-pid PID [--count 200] [--parallel 8] [--hold 10]
                   [--deadline 120]

FTP: each session is a TCP connection with USER/PASS answered 230, then
nothing; afterwards one NOOP each (asyncio: 10,000 sessions in one thread).
SFTP: each session is a paramiko Transport: key exchange, public-key login,
an "sftp" subsystem channel and the SFTP INIT/VERSION exchange; afterwards
one `stat .` each. At most --parallel logins run at once (OpenSSH's
MaxStartups refuses more than 10 unauthenticated connections by default); no
new session is started after --deadline seconds. Prints one JSON object.
Part of bench/run.sh.
"""
import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import clients

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


class Tally:
    """Errors by message, and how many sessions were open at the first."""

    def __init__(self) -> None:
        self.errors: dict[str, int] = {}
        self.first_error_after: int | None = None
        self.lock = threading.Lock()

    def add(self, e: BaseException, open_now: int) -> None:
        msg = f"{type(e).__name__}: {e}"[:160]
        with self.lock:
            self.errors[msg] = self.errors.get(msg, 0) + 1
            if self.first_error_after is None:
                self.first_error_after = open_now


# ---------------------------------------------------------------- FTP
async def ftp_reply(reader: asyncio.StreamReader) -> str:
    """One FTP reply (multi-line replies: up to "NNN " on a line); its code."""
    line = (await reader.readline()).decode("latin-1")
    if len(line) < 4:
        raise ConnectionError("connection closed")
    code = line[:3]
    if line[3] == "-":
        while True:
            more = (await reader.readline()).decode("latin-1")
            if not more:
                raise ConnectionError("connection closed")
            if more.startswith(code + " "):
                break
    return code


async def ftp_expect(reader, writer, command: str | None, want: str) -> None:
    if command is not None:
        writer.write(command.encode() + b"\r\n")
        await writer.drain()
    code = await ftp_reply(reader)
    if not code.startswith(want):
        raise ConnectionError(f"{command.split()[0] if command else 'greeting'}: {code}")


def check_all(sessions: list, probe) -> tuple[list[float], int, int]:
    """One request per session (probe raises if it failed): the round trips
    in ms, how many answered, how many were not asked. A stalled server is
    given a minute in all, not a timeout per session."""
    rtts, alive, unchecked = [], 0, 0
    check_until = time.monotonic() + 60
    for sess in sessions:
        if time.monotonic() > check_until:
            unchecked += 1
            continue
        r0 = time.monotonic()
        try:
            probe(sess)
        except Exception:  # noqa: BLE001 - a dead session is what is counted
            continue
        rtts.append((time.monotonic() - r0) * 1000)
        alive += 1
    return rtts, alive, unchecked


# Each run_* opens the sessions, calls hold(), checks and closes them; returns
# (opened, round trips in ms, alive, unchecked, seconds to open).
def run_ftp(a, tally: Tally, stop_at: float, hold):
    loop = asyncio.new_event_loop()
    sessions = []
    sem = asyncio.Semaphore(a.parallel)

    async def login(rw: list) -> None:
        reader, writer = await asyncio.open_connection(a.host, a.port)
        rw += [reader, writer]
        await ftp_expect(reader, writer, None, "220")
        await ftp_expect(reader, writer, f"USER {a.user}", "331")
        await ftp_expect(reader, writer, f"PASS {a.password}", "230")

    async def open_one():
        async with sem:
            if time.monotonic() > stop_at:
                return
            rw: list = []
            try:
                await asyncio.wait_for(login(rw), a.timeout)
                sessions.append(tuple(rw))
            except Exception as e:  # noqa: BLE001 - every failure is counted
                if rw:
                    rw[1].close()
                tally.add(e, len(sessions))

    async def open_all():
        await asyncio.gather(*(open_one() for _ in range(a.count)))

    t0 = time.monotonic()
    loop.run_until_complete(open_all())
    open_seconds = time.monotonic() - t0
    hold()
    rtts, alive, unchecked = check_all(sessions, lambda rw: loop.run_until_complete(
        asyncio.wait_for(ftp_expect(rw[0], rw[1], "NOOP", "200"), 10)))
    for _reader, writer in sessions:
        writer.close()
    loop.close()
    return len(sessions), rtts, alive, unchecked, open_seconds


def run_sftp(a, tally: Tally, stop_at: float, hold):
    key = clients.sftp_key(a)
    sessions = []
    lock = threading.Lock()

    def open_one(_i: int) -> None:
        if time.monotonic() > stop_at:
            return
        try:
            ts = clients.sftp_open(a, key)
            with lock:
                sessions.append(ts)
        except Exception as e:  # noqa: BLE001 - every failure is counted
            tally.add(e, len(sessions))

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=a.parallel) as pool:
        list(pool.map(open_one, range(a.count)))
    open_seconds = time.monotonic() - t0
    hold()
    rtts, alive, unchecked = check_all(sessions, lambda ts: ts[1].stat("."))
    for t, s in sessions:
        try:
            s.close()
            t.close()
        except Exception:  # noqa: BLE001
            pass
    return len(sessions), rtts, alive, unchecked, open_seconds


def main() -> int:
    ap = argparse.ArgumentParser()
    clients.login_args(ap)
    ap.add_argument("--server-pid", type=int, required=True)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument("--hold", type=float, default=10.0)
    ap.add_argument("--deadline", type=float, default=120.0)
    a = clients.parse(ap)

    before = memory(a.server_pid)
    tally = Tally()
    stop_at = time.monotonic() + a.deadline
    measured = {}

    def hold() -> None:
        time.sleep(2.0)  # let the server settle (lazy allocations, reaped helpers)
        measured["held"] = memory(a.server_pid)
        c0, t0 = cpu_ticks(a.server_pid), time.monotonic()
        time.sleep(a.hold)
        c1, t1 = cpu_ticks(a.server_pid), time.monotonic()
        measured["idle_cpu"] = sum(c1[p] - c0[p] for p in c1 if p in c0) / CLK_TCK
        measured["hold_seconds"] = t1 - t0

    run = run_ftp if a.proto == "ftp" else run_sftp
    opened, rtts, alive, unchecked, open_seconds = run(a, tally, stop_at, hold)
    held = measured["held"]
    per = (lambda k: (held[k] - before[k]) / opened if opened else None)
    print(json.dumps({
        "proto": a.proto,
        "requested": a.count,
        "opened": opened,
        "alive_after_hold": alive,
        "unchecked": unchecked,
        "open_seconds": round(open_seconds, 2),
        "deadline_seconds": a.deadline,
        "errors": tally.errors,
        "first_error_after": tally.first_error_after,
        "before": before,
        "held": held,
        "rss_kib_per_session": per("rss_kib"),
        "pss_kib_per_session": per("pss_kib"),
        "hold_seconds": round(measured["hold_seconds"], 2),
        "idle_cpu_seconds": round(measured["idle_cpu"], 2),
        "rtt_ms_median": round(statistics.median(rtts), 2) if rtts else None,
        "rtt_ms_max": round(max(rtts), 2) if rtts else None,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
