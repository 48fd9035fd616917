#!/usr/bin/env python3
"""Logins per second: CLIENTS processes, each logging in and out in a loop
for SECONDS, against one FTP or SFTP server.

Usage: login_rate.py --proto ftp|sftp --port P --user U (--password PW | --key KEY)
                     [--clients 4] [--seconds 10]

FTP: connect, USER, PASS (230), QUIT (ftplib). SFTP: connect, key
exchange, public-key login, the "sftp" subsystem and INIT/VERSION, close
(paramiko). Each client is a process of its own, so the clients' Python does
not share one GIL. Prints one JSON object: logins, failures (by message),
seconds, logins_per_s. Part of bench/run.sh.
"""
import argparse
import ftplib
import json
import multiprocessing
import sys
import time

import clients


def ftp_login(a) -> None:
    f = ftplib.FTP(timeout=a.timeout)
    f.connect(a.host, a.port)
    f.login(a.user, a.password)
    f.quit()


def sftp_login_factory(a):
    key = clients.sftp_key(a)

    def login(_a) -> None:
        t, s = clients.sftp_open(a, key)
        s.close()
        t.close()

    return login


def client(a, start_at: float, queue) -> None:
    login = ftp_login if a.proto == "ftp" else sftp_login_factory(a)
    while time.time() < start_at:
        time.sleep(0.01)
    end_at = start_at + a.seconds
    done, errors = 0, {}
    while time.time() < end_at:
        try:
            login(a)
            done += 1
        except Exception as e:  # noqa: BLE001 - every failure is counted
            msg = f"{type(e).__name__}: {e}"[:160]
            errors[msg] = errors.get(msg, 0) + 1
    queue.put((done, errors, time.time() - start_at))


def main() -> int:
    ap = argparse.ArgumentParser()
    clients.login_args(ap)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10.0)
    a = clients.parse(ap)

    queue = multiprocessing.Queue()
    start_at = time.time() + 0.5  # every client starts together
    procs = [multiprocessing.Process(target=client, args=(a, start_at, queue))
             for _ in range(a.clients)]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    logins = sum(r[0] for r in results)
    errors: dict[str, int] = {}
    for r in results:
        for k, v in r[1].items():
            errors[k] = errors.get(k, 0) + v
    seconds = max(r[2] for r in results)
    print(json.dumps({"proto": a.proto, "clients": a.clients, "logins": logins,
                      "failures": sum(errors.values()), "errors": errors,
                      "seconds": round(seconds, 2),
                      "logins_per_s": round(logins / seconds, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
