#!/usr/bin/env python3
"""Turns one run of a bench/ script into its section of docs/BENCHMARKS.md.

Usage: render_benchmarks.py ftp|sftp RUN_DIR OUTPUT.md

The section of that kind (from its "## " title to the next section's title)
is replaced; the other sections of OUTPUT.md are kept as they are.

ftp (bench/ftp_throughput.sh): RUN_DIR holds meta.env (KEY=VALUE lines),
scenarios.tsv (id, label), results.tsv (server, scenario, run, status, MB/s,
bytes, pretransfer s, total s) and limits.tsv (label, MB/s).

sftp (bench/sftp_throughput.sh): RUN_DIR holds meta.env, results.csv (one
row per 1 GiB transfer), login.csv, files.csv, limits.csv and
sessions-<server>-<count>.json (bench/sftp_sessions.py); the medians are also
written to RUN_DIR/summary.json.
"""
import csv
import json
import statistics
import sys
from pathlib import Path

SECTIONS = {
    "ftp": "## FTP and FTPS: berth and vsftpd",
    "sftp": "## SFTP: berth and OpenSSH",
}
PREAMBLE = [
    "# Benchmarks",
    "",
    "berth side by side with the servers it replaces, on loopback. Each section is",
    "written by one script in bench/ and replaced by that script's next run; the",
    "other sections stay as they are.",
    "",
]


def read_tsv(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    return [line.split("\t") for line in path.read_text().splitlines() if line.strip()]


def fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:,.0f}"


def read_meta(run_dir: Path) -> dict[str, str]:
    meta: dict[str, str] = {}
    for line in (run_dir / "meta.env").read_text().splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            meta[k] = v
    return meta


def read_problems(run_dir: Path) -> list[str]:
    path = run_dir / "problems.txt"
    return [p for p in path.read_text().splitlines() if p.strip()] if path.exists() else []


def render_ftp(run_dir: Path) -> list[str]:
    meta = read_meta(run_dir)
    scenarios = read_tsv(run_dir / "scenarios.tsv")
    results = read_tsv(run_dir / "results.tsv")
    limits = read_tsv(run_dir / "limits.tsv")
    problems = read_problems(run_dir)

    runs: dict[tuple[str, str], list[float]] = {}
    fails: dict[tuple[str, str], int] = {}
    pre: dict[tuple[str, str], list[float]] = {}
    phase: dict[tuple[str, str], list[float]] = {}
    for server, scen, _run, status, mbps, nbytes, pretransfer, total in results:
        key = (server, scen)
        if status == "ok":
            runs.setdefault(key, []).append(float(mbps))
            pre.setdefault(key, []).append(float(pretransfer))
            span = float(total) - float(pretransfer)
            if span > 0:
                phase.setdefault(key, []).append(int(nbytes) / span / 1e6)
        else:
            fails[key] = fails.get(key, 0) + 1

    def median(server: str, scen: str) -> float | None:
        v = runs.get((server, scen))
        return statistics.median(v) if v else None

    def cell(server: str, scen: str) -> str:
        m = median(server, scen)
        f = fails.get((server, scen), 0)
        return fmt(m) + (f" ({f} failed)" if f else "")

    L: list[str] = []
    L.append(SECTIONS["ftp"])
    L.append("")
    L.append("Side-by-side transfer throughput of berth and vsftpd on loopback, measured")
    L.append("with curl. Produced by `bench/ftp_throughput.sh`; each run replaces this")
    L.append("section. Re-run (as root, Debian; about 5 minutes on 2 cores):")
    L.append("")
    L.append("```sh")
    L.append("bash bench/ftp_throughput.sh")
    L.append("```")
    L.append("")
    L.append("### Setup")
    L.append("")
    L.append(f"- date: {meta.get('DATE', '?')}")
    L.append(f"- machine: {meta.get('NPROC', '?')} CPUs, {meta.get('CPU', '?')}, "
             f"{meta.get('MEM', '?')} RAM, Linux {meta.get('KERNEL', '?')}")
    L.append(f"- berth: `{meta.get('BERTH_VERSION', '?')}` at `{meta.get('BERTH_COMMIT', '?')}` "
             f"(build type {meta.get('BERTH_BUILD_TYPE', '?')}), "
             f"{meta.get('BERTH_THREADS', '?')}")
    L.append(f"- vsftpd: Debian package `vsftpd {meta.get('VSFTPD_VERSION', '?')}` "
             "(extracted privately, not installed)")
    L.append(f"- client: `{meta.get('CURL_VERSION', '?')}`")
    L.append(f"- TLS library: `{meta.get('OPENSSL_VERSION', '?')}` (curl, berth and vsftpd alike)")
    L.append(f"- command: `{meta.get('COMMAND', 'bash bench/ftp_throughput.sh')}`")
    L.append(f"- payload: {meta.get('SIZE_HUMAN', '?')} of random bytes on "
             f"{meta.get('WORK_FS', '?')}, served by both servers from the same folder; "
             "uploads read that file and land in the same folder")
    L.append(f"- each cell: median of {meta.get('RUNS', '?')} runs, berth and vsftpd "
             "interleaved (the order alternates between runs)")
    other = meta.get("OTHER_CPU")
    if other:
        L.append(f"- other load during the timed runs: {other}% of the machine's CPU time went to "
                 f"processes outside the benchmark (steal {meta.get('STEAL_CPU', '?')}%); "
                 f"load average {meta.get('LOAD_START', '?')} at the start, "
                 f"{meta.get('LOAD_END', '?')} at the end")
        if int(other) >= 10:
            L.append("  — **the machine was not quiet: expect these numbers to be low and noisy**")
    L.append("")
    L.append("### Results")
    L.append("")
    L.append("MB/s = 10^6 bytes per second, as curl's `%{speed_download}` / `%{speed_upload}`")
    L.append("report it (bytes over the whole transfer time, connect and login included).")
    L.append("")
    L.append("| scenario | berth MB/s | vsftpd MB/s | berth/vsftpd |")
    L.append("|---|---:|---:|---:|")
    for scen, label in scenarios:
        b, v = median("berth", scen), median("vsftpd", scen)
        ratio = f"{b / v:.2f}" if b and v else "—"
        L.append(f"| {label} | {cell('berth', scen)} | {cell('vsftpd', scen)} | {ratio} |")
    L.append("")
    L.append("The same runs counted from the first data byte (bytes / (`time_total` −")
    L.append("`time_pretransfer`)), which leaves out connect, login, the data connection's")
    L.append("setup and curl's waits before it (see the notes):")
    L.append("")
    L.append("| scenario | berth MB/s | vsftpd MB/s | berth/vsftpd | setup s, berth / vsftpd |")
    L.append("|---|---:|---:|---:|---:|")
    for scen, label in scenarios:
        b = phase.get(("berth", scen))
        v = phase.get(("vsftpd", scen))
        bm = statistics.median(b) if b else None
        vm = statistics.median(v) if v else None
        ratio = f"{bm / vm:.2f}" if bm and vm else "—"
        bp, vp = pre.get(("berth", scen)), pre.get(("vsftpd", scen))
        setup = (f"{statistics.median(bp):.3f} / {statistics.median(vp):.3f}"
                 if bp and vp else "—")
        L.append(f"| {label} | {fmt(bm)} | {fmt(vm)} | {ratio} | {setup} |")
    L.append("")
    L.append("Machine limits, measured in the same run:")
    L.append("")
    L.append("| limit | MB/s |")
    L.append("|---|---:|")
    for label, mbps in limits:
        try:
            L.append(f"| {label} | {float(mbps):,.0f} |")
        except ValueError:
            L.append(f"| {label} | {mbps} |")
    L.append("")
    L.append("### Notes")
    L.append("")
    L.append("- Client, servers and kernel share the same cores; the client's own work")
    L.append("  (curl decrypting or encrypting TLS, copying into /dev/null or out of tmpfs)")
    L.append("  is part of every number. The limits rows say how far one core can go.")
    L.append("- FTPS is explicit (AUTH TLS) with PROT P on the data connection, "
             "`curl --ssl-reqd -k`;")
    L.append("  both servers require the data connection to resume the control connection's")
    L.append("  TLS session. Both run on the same certificate (berth's generated one) and the")
    L.append("  version and cipher are pinned on the client; a verbose check before the timed")
    L.append("  runs confirms what was negotiated and that a downloaded copy matches.")
    L.append("- curl 7.88 often idles about 0.2 s on its own 200 ms timer before it connects")
    L.append("  or reads the FTPS data connection, and sometimes on plain FTP: strace shows it")
    L.append("  polling no socket after it has already read the server's reply. It happens")
    L.append("  with both servers, more often when the reply comes back before curl polls")
    L.append("  again (berth answers EPSV within a fraction of a millisecond). The first table")
    L.append("  carries these waits, the second leaves them out; its last column is the median")
    L.append("  time before the first data byte.")
    L.append("- Upload files are checked byte for byte after every run, downloads by size;")
    L.append("  one verbose download per server and mode is also compared byte for byte.")
    L.append("- vsftpd runs as root in the foreground with anonymous access (anon_root = the")
    L.append(f"  shared folder, ftp_username={meta.get('VS_FTP_USER', '?')}), "
             "seccomp_sandbox=NO, otherwise its defaults")
    L.append("  (sendfile on, one process per session); the FTPS instance adds ssl_enable,")
    L.append("  force_anon_logins_ssl/force_anon_data_ssl, require_ssl_reuse and")
    L.append("  ssl_ciphers=HIGH. Its configs and logs are kept in bench/out/ (not committed).")
    if meta.get("TLS13_NOTE"):
        L.append(f"- {meta['TLS13_NOTE']}")
    if problems:
        L.append("")
        L.append("### Problems seen in this run")
        L.append("")
        for p in problems:
            L.append(f"- {p}")
    L.append("")
    L.append("### All runs (MB/s)")
    L.append("")
    L.append("| scenario | server | runs |")
    L.append("|---|---|---|")
    for scen, label in scenarios:
        for server in ("berth", "vsftpd"):
            vals = [r for r in results if r[0] == server and r[1] == scen]
            shown = ", ".join(f"{float(r[4]):,.0f}" if r[3] == "ok" else r[3] for r in vals)
            L.append(f"| {label} | {server} | {shown} |")
    return L


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def med(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "—"
    r = a / b
    return f"{r:.2f}" if r >= 0.1 else f"{r:.3f}"


def fnum(x: float | None, digits: int = 0) -> str:
    return "—" if x is None else f"{x:,.{digits}f}"


SFTP_SERVERS = ("berth", "sshd")
# "unclean": scp moved the whole file (compared byte for byte) but exited 1
# because the server dropped the connection instead of closing the channel.
VALID = ("ok", "unclean")
UNCLEAN_MARK = " †"
SFTP_PEER = "sshd + sftp-server"


def render_sftp(run_dir: Path) -> list[str]:
    meta = read_meta(run_dir)
    problems = read_problems(run_dir)
    results = read_csv(run_dir / "results.csv")
    logins = read_csv(run_dir / "login.csv")
    files = read_csv(run_dir / "files.csv")
    limits = read_csv(run_dir / "limits.csv")
    gib = int(meta.get("SIZE", str(1 << 30))) / (1 << 30)
    summary: dict = {"meta": meta, "transfers": [], "login_s": {}, "small_files": {},
                     "sessions": {}, "limits": {}, "problems": problems}

    scenarios: list[tuple[str, str, str]] = []
    for r in results:
        key = (r["client"], r["cipher"], r["direction"])
        if key not in scenarios:
            scenarios.append(key)

    def ok_rows(server: str, key: tuple[str, str, str]) -> list[dict[str, str]]:
        return [r for r in results if r["server"] == server and r["status"] in VALID
                and (r["client"], r["cipher"], r["direction"]) == key]

    def failed(server: str, key: tuple[str, str, str]) -> int:
        return sum(1 for r in results if r["server"] == server and r["status"] not in VALID
                   and (r["client"], r["cipher"], r["direction"]) == key)

    unclean = any(r["status"] == "unclean" for r in results)

    L: list[str] = []
    L.append(SECTIONS["sftp"])
    L.append("")
    L.append("berth's SFTP side by side with OpenSSH's sshd running the real")
    L.append("`sftp-server` subsystem (Debian's openssh-server), on loopback, measured with")
    L.append("OpenSSH's own `sftp` and `scp` clients; idle sessions are held with paramiko.")
    L.append("Produced by `bench/sftp_throughput.sh`; each run replaces this section.")
    minutes = max(1, round(int(meta.get("ELAPSED", "0")) / 60))
    L.append(f"Re-run (as root, Debian; this run took {minutes} min on "
             f"{meta.get('NPROC', '?')} cores):")
    L.append("")
    L.append("```sh")
    L.append(meta.get("COMMAND", "bash bench/sftp_throughput.sh"))
    L.append("```")
    L.append("")
    L.append("### Setup")
    L.append("")
    L.append(f"- date: {meta.get('DATE', '?')}")
    L.append(f"- machine: {meta.get('NPROC', '?')} CPUs, {meta.get('CPU', '?')}, "
             f"{meta.get('MEM', '?')} RAM, Linux {meta.get('KERNEL', '?')}")
    L.append(f"- berth: `{meta.get('BERTH_VERSION', '?')}` at `{meta.get('BERTH_COMMIT', '?')}` "
             f"(build type {meta.get('BERTH_BUILD_TYPE', '?')}), "
             f"{meta.get('BERTH_THREADS', '?')}, libssh `{meta.get('LIBSSH_VERSION', '?')}`")
    L.append(f"- OpenSSH server: `{meta.get('SSHD_VERSION', '?')}`, subsystem "
             f"`Subsystem sftp /usr/lib/openssh/sftp-server` "
             f"(`{meta.get('SFTP_SERVER_PACKAGE', '?')}`), a private sshd_config (below)")
    L.append(f"- clients: `{meta.get('CLIENT_VERSION', '?')}` (`sftp -b`, `scp`); "
             f"paramiko {meta.get('PARAMIKO_VERSION', '?')} for the idle sessions")
    L.append(f"- TLS/crypto library: `{meta.get('OPENSSL_VERSION', '?')}` "
             "(OpenSSH and libssh alike)")
    L.append(f"- login: system user `{meta.get('BENCH_USER', '?')}` (created by the script), "
             "the same ed25519 client key on both servers; both servers use the same "
             "ed25519 host key")
    L.append(f"- payload: {meta.get('SIZE_HUMAN', '?')} of random bytes on "
             f"{meta.get('WORK_FS', '?')}, in one folder that is the user's home on both "
             "servers; downloads are written to the same tmpfs, uploads land in that folder")
    L.append(f"- each throughput cell: median of {meta.get('RUNS', '?')} runs, berth and sshd "
             "interleaved (the order alternates between runs)")
    other = meta.get("OTHER_CPU")
    if other:
        L.append(f"- other load during the timed transfers: {other}% of the machine's CPU time "
                 f"went to processes outside the benchmark (steal {meta.get('STEAL_CPU', '?')}%); "
                 f"load average {meta.get('LOAD_START', '?')} at the start, "
                 f"{meta.get('LOAD_END', '?')} at the end")
        if int(other) >= 10:
            L.append("  — **the machine was not quiet: expect these numbers to be low and noisy**")
    L.append("")

    lg = {srv: med([float(r["login_s"]) for r in logins
                    if r["server"] == srv and r["status"] == "ok"]) for srv in SFTP_SERVERS}
    size = int(meta.get("SIZE", str(1 << 30)))

    L.append(f"### {meta.get('SIZE_HUMAN', '?')} transfers")
    L.append("")
    L.append("MB/s = 10^6 bytes per second over the client's whole run (connect, key exchange,")
    L.append("login and the SFTP start included; that costs the times in the next table).")
    L.append("CPU = seconds of CPU time per GiB moved: the server's (each server runs in a")
    L.append(f"cgroup of its own, {meta.get('CPU_ACCOUNTING') or 'not available in this run'}, "
             "so sshd's per-connection processes and")
    L.append("sftp-server are counted with it) and the client's (`sftp` or `scp` with its `ssh`).")
    L.append("")
    L.append(f"| client | cipher | direction | berth MB/s | {SFTP_PEER} MB/s | berth/sshd "
             "| server CPU s/GiB, berth / sshd | client CPU s/GiB, berth / sshd |")
    L.append("|---|---|---|---:|---:|---:|---:|---:|")
    for key in scenarios:
        client, cipher, direction = key
        row: dict = {"client": client, "cipher": cipher, "direction": direction}
        cells = []
        for server in SFTP_SERVERS:
            rows = ok_rows(server, key)
            mbs = med([float(r["mb_s"]) for r in rows])
            scpu = med([float(r["server_cpu_s"]) / gib for r in rows if r["server_cpu_s"]])
            ccpu = med([float(r["client_cpu_s"]) / gib for r in rows])
            row[server] = {"mb_s": mbs, "server_cpu_s_per_gib": scpu,
                           "client_cpu_s_per_gib": ccpu, "failed": failed(server, key)}
            f = failed(server, key)
            mark = UNCLEAN_MARK if any(r["status"] == "unclean" for r in rows) else ""
            cells.append(fnum(mbs) + mark + (f" ({f} failed)" if f else ""))
        b, s = row["berth"], row["sshd"]
        row["ratio"] = (b["mb_s"] / s["mb_s"]) if b["mb_s"] and s["mb_s"] else None
        summary["transfers"].append(row)
        what = "download" if direction == "get" else "upload"
        L.append(f"| {client} | {cipher} | {what} ({direction}) | {cells[0]} | {cells[1]} | "
                 f"{ratio(b['mb_s'], s['mb_s'])} | "
                 f"{fnum(b['server_cpu_s_per_gib'], 2)} / {fnum(s['server_cpu_s_per_gib'], 2)} | "
                 f"{fnum(b['client_cpu_s_per_gib'], 2)} / {fnum(s['client_cpu_s_per_gib'], 2)} |")
    L.append("")
    if unclean:
        L.append("† scp exited 1 after these transfers although the file arrived whole (compared")
        L.append("byte for byte): the server ended the session without an exit status (and often")
        L.append("closed the connection before the channel: \"Connection to 127.0.0.1 closed by")
        L.append("remote host\"), so `ssh` exited 255. The runs are counted; see the problems below.")
        L.append("")

    L.append("The same runs less each server's median login time (next section), which")
    L.append("leaves the transfer itself:")
    L.append("")
    L.append(f"| client | cipher | direction | berth MB/s | {SFTP_PEER} MB/s | berth/sshd |")
    L.append("|---|---|---|---:|---:|---:|")
    for row in summary["transfers"]:
        key = (row["client"], row["cipher"], row["direction"])
        phase = {}
        for server in SFTP_SERVERS:
            vals = [size / (float(r["seconds"]) - lg[server]) / 1e6 for r in ok_rows(server, key)
                    if lg[server] is not None and float(r["seconds"]) > lg[server]]
            phase[server] = med(vals)
            row[server]["mb_s_after_login"] = phase[server]
        what = "download" if row["direction"] == "get" else "upload"
        L.append(f"| {row['client']} | {row['cipher']} | {what} ({row['direction']}) | "
                 f"{fnum(phase['berth'])} | {fnum(phase['sshd'])} | "
                 f"{ratio(phase['berth'], phase['sshd'])} |")
    L.append("")
    L.append("### Login and SFTP start")
    L.append("")
    L.append("Seconds for `sftp -b` with one `pwd` (connect, curve25519 key exchange, ed25519")
    L.append("public-key login, subsystem, SFTP INIT/VERSION, one request, close); median of 5.")
    L.append("")
    summary["login_s"] = lg
    L.append(f"| | berth | {SFTP_PEER} | berth/sshd |")
    L.append("|---|---:|---:|---:|")
    L.append(f"| login, one request, close (s) | {fnum(lg['berth'], 3)} | {fnum(lg['sshd'], 3)} "
             f"| {ratio(lg['berth'], lg['sshd'])} |")
    L.append("")

    nfiles = meta.get("FILES", "?")
    L.append("### Many small files")
    L.append("")
    L.append(f"{int(nfiles):,} files of {meta.get('FILE_KIB', '?')} KiB in one `sftp -b` session "
             "(aes128-gcm): `put dir/*` into a new")
    L.append("folder, then `get folder/*` back, timed between the steps with `!date`; files")
    L.append(f"per second, median of {meta.get('SMALL_RUNS', '?')} runs.")
    L.append("")
    L.append(f"| | berth files/s | {SFTP_PEER} files/s | berth/sshd |")
    L.append("|---|---:|---:|---:|")
    for col, label in (("upload_s", "upload (put)"), ("download_s", "download (get)")):
        rate = {srv: med([int(r["files"]) / float(r[col]) for r in files
                          if r["server"] == srv and r["status"] == "ok" and float(r[col]) > 0])
                for srv in SFTP_SERVERS}
        summary["small_files"][col.replace("_s", "_files_per_s")] = rate
        L.append(f"| {label} | {fnum(rate['berth'])} | {fnum(rate['sshd'])} | "
                 f"{ratio(rate['berth'], rate['sshd'])} |")
    L.append("")

    n = meta.get("SESSIONS", "200")
    sess = {srv: read_json(run_dir / f"sessions-{srv}-{n}.json") for srv in SFTP_SERVERS}
    summary["sessions"][n] = sess
    L.append("### Idle sessions")
    L.append("")
    L.append(f"{int(n):,} logged-in SFTP sessions held open by one paramiko client (each: key")
    L.append("exchange, ed25519 login, sftp subsystem, INIT/VERSION, then nothing), at most 8")
    L.append("logins at a time. Memory is summed over the server's process and all its")
    L.append("descendants from /proc/PID/smaps_rollup, 2 s after the last login; per session")
    L.append("= (held − before the first login) / sessions. CPU is what the server used during")
    L.append("a hold with no traffic; afterwards one `stat .` per session, one at a time.")
    L.append("")

    def sv(srv: str, f) -> str:
        d = sess.get(srv)
        if not d:
            return "—"
        try:
            return f(d)
        except (KeyError, TypeError, ZeroDivisionError):
            return "—"

    def srow(label: str, f, rf=None) -> None:
        r = "—"
        if rf and sess.get("berth") and sess.get("sshd"):
            try:
                r = ratio(rf(sess["berth"]), rf(sess["sshd"]))
            except (KeyError, TypeError, ZeroDivisionError):
                r = "—"
        L.append(f"| {label} | {sv('berth', f)} | {sv('sshd', f)} | {r} |")

    L.append(f"| | berth | {SFTP_PEER} | berth/sshd |")
    L.append("|---|---:|---:|---:|")
    srow("sessions opened / alive after the hold",
         lambda d: f"{d['opened']:,} / {d['alive_after_hold']:,}")
    srow("time to open them (s)", lambda d: f"{d['open_seconds']:.1f}",
         lambda d: d["open_seconds"])
    srow("server processes, before → held",
         lambda d: f"{d['before']['procs']:,} → {d['held']['procs']:,}")
    srow("RSS of all server processes, held (MiB)",
         lambda d: f"{d['held']['rss_kib'] / 1024:,.1f}", lambda d: d["held"]["rss_kib"])
    srow("PSS of all server processes, held (MiB)",
         lambda d: f"{d['held']['pss_kib'] / 1024:,.1f}", lambda d: d["held"]["pss_kib"])
    srow("RSS per session (KiB)", lambda d: f"{d['rss_kib_per_session']:,.0f}",
         lambda d: d["rss_kib_per_session"])
    srow("PSS per session (KiB)", lambda d: f"{d['pss_kib_per_session']:,.0f}",
         lambda d: d["pss_kib_per_session"])
    srow("server CPU while idle (% of one core)",
         lambda d: f"{100 * d['idle_cpu_seconds'] / d['hold_seconds']:.1f}",
         lambda d: d["idle_cpu_seconds"])
    srow("`stat .` round trip afterwards, median / max (ms)",
         lambda d: f"{d['stat_ms_median']:.2f} / {d['stat_ms_max']:.1f}")
    L.append("")

    mx = meta.get("MAX_SESSIONS", "0")
    if mx != "0":
        d = read_json(run_dir / f"sessions-berth-{mx}.json")
        summary["sessions"][mx] = {"berth": d}
        L.append("### Most sessions berth held")
        L.append("")
        if not d:
            L.append(f"The attempt at {int(mx):,} sessions gave no result (see the problems below).")
        else:
            L.append(f"The same client asked berth for {int(mx):,} sessions (descriptor limit "
                     f"{meta.get('NOFILE', '?')} for server and client, no new login after "
                     f"{d['deadline_seconds']:.0f} s): {d['opened']:,} opened in "
                     f"{d['open_seconds']:.1f} s, {d['alive_after_hold']:,} still answered "
                     f"after the hold; PSS {d['held']['pss_kib'] / 1024:,.1f} MiB in all, "
                     f"{d['pss_kib_per_session']:,.0f} KiB per session; "
                     f"{100 * d['idle_cpu_seconds'] / d['hold_seconds']:.1f}% of a core while "
                     f"idle; `stat .` median {d['stat_ms_median']:.2f} ms, "
                     f"max {d['stat_ms_max']:.1f} ms.")
            if d.get("errors"):
                errs = "; ".join(f"{c} × `{m}`" for m, c in d["errors"].items())
                L.append(f"Failed logins: {errs} (the first after {d['first_error_after']} "
                         "sessions were open).")
            else:
                L.append("No login failed.")
        L.append("")

    L.append("### Machine limits")
    L.append("")
    L.append("Measured in the same run:")
    L.append("")
    L.append("| limit | MB/s |")
    L.append("|---|---:|")
    for r in limits:
        summary["limits"][r["limit"]] = r["mb_s"]
        try:
            L.append(f"| {r['limit']} | {float(r['mb_s']):,.0f} |")
        except ValueError:
            L.append(f"| {r['limit']} | {r['mb_s']} |")
    L.append("")

    L.append("### Notes")
    L.append("")
    L.append("- Client, servers and kernel share the same cores; the client's own work")
    L.append("  (decrypting or encrypting, writing into or reading from tmpfs) is part of")
    L.append("  every number, and OpenSSH's client is the same for both servers.")
    L.append("- Both clients run with their defaults: 32 KiB requests, 64 in flight per file.")
    L.append("  OpenSSH 9's `scp` speaks SFTP (each server's verbose check shows")
    L.append("  `Sending subsystem: sftp`), so its rows measure the same protocol driven")
    L.append("  by other code of the same client.")
    L.append("- Before the timed runs, one verbose `sftp` session per server and cipher")
    L.append("  confirms the cipher both ways; the aes128-gcm one also gets and puts the")
    L.append("  payload, compared byte for byte. Every timed upload is compared byte for")
    L.append("  byte afterwards, every download by size; the small files are compared")
    L.append("  both ways.")
    L.append("- sshd forks four processes per connection: a privileged monitor, an")
    L.append("  unprivileged one for the user, the user's `sh -c` and sftp-server; all are")
    L.append(f"  counted. berth is one process ({meta.get('BERTH_THREADS', '?')}) for every session.")
    L.append("- Client and server share the machine's cores, so a transfer cannot be faster")
    L.append("  than the cores give for server CPU + client CPU per GiB (the last two columns")
    L.append("  of the first table): on a machine with other load, compare those as well as MB/s.")
    L.append("- sshd runs from a private sshd_config: `ListenAddress 127.0.0.1:<port>`, its")
    L.append("  own HostKey, PidFile and AuthorizedKeysFile in the run's folder,")
    L.append("  `AllowUsers`, `UsePAM no`, `StrictModes no`, `PermitRootLogin no`, password")
    L.append("  and keyboard-interactive login off, forwarding and TTYs off, `PrintMotd no`,")
    L.append("  `PrintLastLog no`, `UseDNS no`, `Subsystem sftp /usr/lib/openssh/sftp-server`;")
    L.append("  everything else (ciphers, MaxStartups, MaxSessions) is the default. Its")
    L.append("  config and log are kept in bench/out/ (not committed).")
    if problems:
        L.append("")
        L.append("### Problems seen in this run")
        L.append("")
        for p in problems:
            L.append(f"- {p}")
    L.append("")
    L.append("### All runs (MB/s)")
    L.append("")
    L.append("| client | cipher | direction | server | runs |")
    L.append("|---|---|---|---|---|")
    for key in scenarios:
        for server in SFTP_SERVERS:
            vals = [r for r in results if r["server"] == server
                    and (r["client"], r["cipher"], r["direction"]) == key]
            shown = ", ".join(f"{float(r['mb_s']):,.0f}" + (UNCLEAN_MARK if r["status"] == "unclean" else "")
                              if r["status"] in VALID else r["status"] for r in vals)
            L.append(f"| {key[0]} | {key[1]} | {key[2]} | {server} | {shown} |")
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return L


def splice(out: Path, kind: str, section: list[str]) -> None:
    """Writes OUTPUT.md with the section of this kind replaced (or added in
    the order of SECTIONS) and every other section kept."""
    blocks: dict[str, list[str]] = {}
    current = None
    if out.exists():
        for line in out.read_text().splitlines():
            found = next((k for k, title in SECTIONS.items() if line == title), None)
            if found:
                current = found
                blocks[current] = []
            if current:
                blocks[current].append(line)
    blocks[kind] = section
    L = list(PREAMBLE)
    for k in SECTIONS:
        if k in blocks:
            body = blocks[k]
            while body and not body[-1].strip():
                body = body[:-1]
            L += body + [""]
    out.write_text("\n".join(L))


def main() -> int:
    if len(sys.argv) != 4 or sys.argv[1] not in SECTIONS:
        print(__doc__, file=sys.stderr)
        return 2
    kind, run_dir, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    section = render_ftp(run_dir) if kind == "ftp" else render_sftp(run_dir)
    splice(out, kind, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
