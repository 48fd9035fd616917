#!/usr/bin/env python3
"""Turns one run of bench/run.sh into docs/BENCHMARKS.md and its chart.

Usage: render_benchmarks.py RUN_DIR OUTPUT.md

RUN_DIR holds meta.env (KEY=VALUE lines), scenarios.tsv (id, group, label,
unit, hi|lo: whether more is better), results.tsv (scenario, server, run,
status, value), limits.tsv (label, MB/s), unsupported.tsv (server, what it
does not offer), problems.txt and the
sessions-*.json of bench/sessions.py. The chart of the MB/s rows is drawn by
gnuplot next to OUTPUT.md (benchmarks.png); the medians go to
RUN_DIR/summary.json.
"""
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

SERVERS = ["berth", "vsftpd", "proftpd", "pureftpd", "sshd"]
NAMES = {"berth": "berth", "vsftpd": "vsftpd", "proftpd": "ProFTPD",
         "pureftpd": "Pure-FTPd", "sshd": "OpenSSH"}


def read_tsv(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    return [line.split("\t") for line in path.read_text().splitlines() if line.strip()]


def read_meta(run_dir: Path) -> dict[str, str]:
    meta: dict[str, str] = {}
    for line in (run_dir / "meta.env").read_text().splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            meta[k] = v
    return meta


def num(x: float | None) -> str:
    if x is None:
        return "—"
    if abs(x) < 1:
        return f"{x:.2f}"
    return f"{x:,.1f}" if abs(x) < 10 else f"{x:,.0f}"


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "—"
    r = a / b
    return f"{r:.2f}" if r >= 0.1 else f"{r:.3f}"


class Run:
    def __init__(self, run_dir: Path):
        self.dir = run_dir
        self.meta = read_meta(run_dir)
        self.scenarios = [dict(zip(("id", "group", "label", "unit", "better"), r))
                          for r in read_tsv(run_dir / "scenarios.tsv")]
        self.results = read_tsv(run_dir / "results.tsv")
        self.limits = read_tsv(run_dir / "limits.tsv")
        self.unsupported = read_tsv(run_dir / "unsupported.tsv")
        p = run_dir / "problems.txt"
        self.problems = [x for x in p.read_text().splitlines() if x.strip()] if p.exists() else []

    def values(self, scen: str, server: str) -> list[tuple[str, str]]:
        return [(r[3], r[4]) for r in self.results if r[0] == scen and r[1] == server]

    def median(self, scen: str, server: str) -> float | None:
        ok = [float(v) for status, v in self.values(scen, server) if status == "ok"]
        return statistics.median(ok) if ok else None

    def failed(self, scen: str, server: str) -> int:
        return sum(1 for status, _ in self.values(scen, server) if status != "ok")

    def servers_in(self, scen_ids: list[str]) -> list[str]:
        present = {r[1] for r in self.results if r[0] in scen_ids}
        return [s for s in SERVERS if s in present]

    def sessions(self) -> list[tuple[str, dict]]:
        out = []
        order = {s: i for i, s in enumerate(SERVERS)}
        files = sorted(self.dir.glob("sessions-*.json"),
                       key=lambda f: (f.stem.split("-")[2], order.get(f.stem.split("-")[1], 9),
                                      int(f.stem.split("-")[3])))
        for f in files:
            try:
                out.append((f.stem.split("-", 1)[1], json.loads(f.read_text())))
            except ValueError:
                pass
        return out


def results_tables(run: Run, summary: dict) -> list[str]:
    L: list[str] = []
    groups: list[str] = []
    for s in run.scenarios:
        if s["group"] not in groups:
            groups.append(s["group"])
    for group in groups:
        rows = [s for s in run.scenarios if s["group"] == group]
        servers = run.servers_in([s["id"] for s in rows])
        if not servers:
            continue
        peers = [s for s in servers if s != "berth"]
        L.append(f"### {group}")
        L.append("")
        head = ["", *(NAMES[s] for s in servers)]
        if "berth" in servers and peers:
            head += ["berth / best peer", *(f"berth / {NAMES[p]}" for p in peers)]
        L.append("| " + " | ".join(head) + " |")
        L.append("|---" + "|---:" * (len(head) - 1) + "|")
        for sc in rows:
            med = {s: run.median(sc["id"], s) for s in servers}
            if all(v is None and not run.failed(sc["id"], s) for s, v in med.items()):
                continue
            cells = [sc["label"]]
            for s in servers:
                f = run.failed(sc["id"], s)
                cells.append(num(med[s]) + (f" ({f} failed)" if f else ""))
            if "berth" in servers and peers:
                got = [med[p] for p in peers if med[p] is not None]
                best = (max(got) if sc["better"] == "hi" else min(got)) if got else None
                cells.append(ratio(med["berth"], best))
                cells += [ratio(med["berth"], med[p]) for p in peers]
            L.append("| " + " | ".join(cells) + " |")
            summary["results"][sc["id"]] = {"label": sc["label"], "unit": sc["unit"], **med}
        L.append("")
    return L


def chart(run: Run, png: Path) -> bool:
    """Clustered bars of every MB/s row, one bar per server; False if gnuplot failed."""
    rows = [s for s in run.scenarios if s["unit"] == "MB/s"
            and any(run.median(s["id"], srv) is not None for srv in SERVERS)]
    servers = run.servers_in([s["id"] for s in rows])
    if not rows or not servers:
        return False
    dat = run.dir / "chart.dat"
    with dat.open("w") as f:
        f.write("label " + " ".join(NAMES[s] for s in servers) + "\n")
        for s in rows:
            label = re.sub(r" \(.*?\)", "", s["label"]).replace('"', "'")
            if "clients" in s["group"]:
                label = "many clients: " + label
            vals = [run.median(s["id"], srv) for srv in servers]
            f.write(f'"{label}" ' + " ".join("?" if v is None else f"{v:.1f}" for v in vals) + "\n")
    script = f"""
set terminal pngcairo size 1400,720 font ",10"
set output "{png}"
set title "berth and its peers on loopback: MB/s, median of {run.meta.get('BIG_RUNS', run.meta.get('RUNS', '?'))} runs (file rows) or {run.meta.get('RUNS', '?')} ({run.meta.get('DATE', '')})"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set datafile missing "?"
set key top right
set ylabel "MB/s (10^6 bytes/s)"
set yrange [0:*]
set grid ytics
set xtics rotate by -35 left noenhanced
set bmargin 11
set rmargin 20
plot for [i=2:{len(servers) + 1}] "{dat}" using i:xtic(1) title columnheader(i)
"""
    (run.dir / "chart.gp").write_text(script)
    try:
        subprocess.run(["gnuplot", str(run.dir / "chart.gp")], check=True,
                       capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        print(f"render_benchmarks: gnuplot failed: {e}", file=sys.stderr)
        return False
    return True


def render(run: Run, png: Path | None) -> list[str]:
    m = run.meta
    quick = m.get("QUICK") == "1"
    summary: dict = {"meta": m, "results": {}, "limits": {}, "problems": run.problems}
    L = ["# Benchmarks", ""]
    L.append("berth side by side with the servers it replaces, on loopback, every server")
    L.append("measured with the same clients. Written by `bench/run.sh`; each full run")
    L.append("replaces this file. Re-run (as root, on Debian 12; "
             f"this run took {max(1, round(int(m.get('ELAPSED', '0')) / 60))} min "
             f"on {m.get('NPROC', '?')} cores):")
    L.append("")
    L.append("```sh")
    L.append("bash bench/run.sh            # full, about 20 minutes on 2 cores")
    L.append("bash bench/run.sh --quick    # under 3 minutes, smaller sizes and fewer sessions;")
    L.append("                             # the report stays in bench/out/")
    L.append("```")
    L.append("")
    if quick:
        L.append("**This report is from a `--quick` run: small sizes, one run each; not for citing.**")
        L.append("")
    other = int(m.get("OTHER_CPU") or 0)
    if other >= 10:
        L.append(f"**The machine was busy with other work during this run ({other}% of its CPU "
                 "time went to processes outside the benchmark): the figures are provisional "
                 "and noisy; compare ratios rather than absolute numbers, and re-run on a quiet "
                 "machine before citing them.**")
        L.append("")
    L.append("## Setup")
    L.append("")
    L.append(f"- date: {m.get('DATE', '?')}; command: `{m.get('COMMAND', '?')}`")
    L.append(f"- machine: {m.get('NPROC', '?')} CPUs, {m.get('CPU', '?')}, {m.get('MEM', '?')} RAM, "
             f"{m.get('OS', '?')}, Linux {m.get('KERNEL', '?')}")
    L.append(f"- load: {m.get('OTHER_CPU', '?')}% of the machine's CPU time during the measurements "
             f"went to processes outside the benchmark (steal {m.get('STEAL_CPU', '?')}%); load "
             f"average {m.get('LOAD_START', '?')} at the start, {m.get('LOAD_END', '?')} at the end")
    L.append(f"- berth: `{m.get('BERTH_VERSION', '?')}` at `{m.get('BERTH_COMMIT', '?')}` "
             f"(build type {m.get('BERTH_BUILD_TYPE', '?')}), {m.get('BERTH_THREADS', '?')}, "
             f"libssh `{m.get('LIBSSH_VERSION', '?')}`")
    L.append(f"- vsftpd: `{m.get('VSFTPD_VERSION', '?')}`; ProFTPD: `{m.get('PROFTPD_VERSION', '?')}`; "
             f"Pure-FTPd: `{m.get('PUREFTPD_VERSION', '?')}` (Debian packages, extracted into "
             "bench/.peers/, not installed)")
    L.append(f"- OpenSSH: `{m.get('SSHD_VERSION', '?')}` with `/usr/lib/openssh/sftp-server`")
    L.append(f"- clients: `{m.get('CURL_VERSION', '?')}`, lftp {m.get('LFTP_VERSION', '?')}, "
             f"`{m.get('SSH_VERSION', '?')}` (`sftp -b`, `scp`), Python with paramiko "
             f"{m.get('PARAMIKO_VERSION', '?')}; `{m.get('OPENSSL_VERSION', '?')}`")
    L.append(f"- encryption, the same for every server: FTPS {m.get('TLS', '?')} (explicit, "
             "AUTH TLS + PROT P, pinned by the client); SFTP aes128-gcm@openssh.com and "
             "chacha20-poly1305@openssh.com (pinned with `sftp -c`); checked with a verbose "
             "client before the timed runs")
    L.append(f"- files on {m.get('WORK_FS', '?')} (the page cache), one folder that is the test "
             f"user's home (`{m.get('BENCH_USER', '?')}`, a system user) on every server; "
             f"descriptor limit {m.get('NOFILE', '?')}")
    if m.get('PAGE_REPORTING'):
        L.append(f"- the VM's free page reporting (memory handed back to the host): "
                 f"{m['PAGE_REPORTING']}")
    big_runs = m.get('BIG_RUNS', m.get('RUNS', '?'))
    L.append(f"- each figure: median of {m.get('RUNS', '?')} runs ({m.get('SIZE_HUMAN', '?')} "
             f"rows: {big_runs}; memory: one), the servers interleaved and their order turned "
             "each run")
    L.append("")
    L.append("## Results")
    L.append("")
    L.append("MB/s = 10^6 bytes per second over the client's whole run (connect, login and")
    L.append("the data connection included). Ratios are berth's figure over the peer's: above")
    L.append("1 berth is faster, except for memory, where below 1 berth uses less. The best")
    L.append("peer is the fastest (or the smallest) of the others for that row.")
    L.append("")
    L += results_tables(run, summary)
    for server, what in run.unsupported:
        L.append(f"- not measured: {NAMES.get(server, server)}, {what}.")
    if run.unsupported:
        L.append("")
    if png is not None:
        L.append(f"![MB/s of berth and its peers]({png.name})")
        L.append("")

    sess = run.sessions()
    if sess:
        L.append("### Idle sessions in detail")
        L.append("")
        L.append("| server, sessions | opened / alive after the hold | processes | PSS held (MiB) "
                 "| RSS held (MiB) | PSS / session (KiB) | CPU while idle | request after, median / max (ms) |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, d in sess:
            server, proto, count = name.rsplit("-", 2)
            try:
                L.append(f"| {NAMES.get(server, server)}, {proto.upper()} × {int(count):,} | "
                         f"{d['opened']:,} / {d['alive_after_hold']:,} | "
                         f"{d['before']['procs']} → {d['held']['procs']:,} | "
                         f"{d['held']['pss_kib'] / 1024:,.1f} | {d['held']['rss_kib'] / 1024:,.1f} | "
                         f"{num(d['pss_kib_per_session'])} | "
                         f"{100 * d['idle_cpu_seconds'] / d['hold_seconds']:.1f}% of a core | "
                         f"{num(d['rtt_ms_median'])} / {num(d['rtt_ms_max'])} |")
            except (KeyError, TypeError, ZeroDivisionError):
                L.append(f"| {name} | (incomplete) | | | | | | |")
        L.append("")

    L.append("## Machine limits")
    L.append("")
    L.append("Measured in the same run, for scale:")
    L.append("")
    L.append("| limit | MB/s |")
    L.append("|---|---:|")
    for label, v in run.limits:
        summary["limits"][label] = v
        try:
            L.append(f"| {label} | {float(v):,.0f} |")
        except ValueError:
            L.append(f"| {label} | {v} |")
    L.append("")

    # Hand-written, kept beside the scripts: what the profiles showed.
    findings = Path(__file__).resolve().parent / "findings.md"
    if findings.exists():
        L.append(findings.read_text().rstrip("\n"))
        L.append("")
    # S3 homes: a run of bench/s3.py of its own, written up by hand.
    s3 = Path(__file__).resolve().parent / "s3.md"
    if s3.exists():
        L.append(s3.read_text().rstrip("\n"))
        L.append("")

    L.append("## How each figure is taken")
    L.append("")
    L.append(f"- **{m.get('SIZE_HUMAN', '?')} file**: one client run per transfer: `curl` "
             "(passive; downloads to /dev/null, uploads from a file on the same tmpfs), `sftp -b` with")
    L.append("  one `get` (to /dev/null) or `put`, `scp`. Every upload is compared byte for byte")
    L.append("  afterwards, every curl download by the size curl read, sftp and scp downloads by")
    L.append("  their exit status; a verbose download and upload per server and mode is compared")
    L.append("  byte for byte before the timed runs. Downloads go to /dev/null because a client")
    L.append("  writing 1 GiB into a file costs about as much as the server's whole send and")
    L.append("  would bound every server alike.")
    L.append("- **one transfer at a time** (the file and small-file rows): every server is pinned")
    L.append("  to CPU 0 and the client to CPU 1 (`taskset`), so each side has a core of its own;")
    L.append("  unpinned, the same server's figure spread by 2x between runs, by whether the")
    L.append("  scheduler put the two on one core. The other rows run unpinned.")
    L.append("- **server CPU**: each server runs in a cgroup of its own "
             f"({m.get('CPU_ACCOUNTING') or 'not available in this run'}), so the CPU time of")
    L.append("  every process it forks is counted (sshd's per-session processes and")
    L.append("  sftp-server, vsftpd's, ProFTPD's and Pure-FTPd's session processes).")
    L.append("- **small files**: one client session uploads all files into a new folder (lftp")
    L.append("  `mput`, `sftp` `put dir/*`) and downloads them back (`mget`, `get`), timed")
    L.append("  between the steps by the client's own `!date`; both copies are compared.")
    L.append("  FTPS uses Python's ftplib (`bench/small_ftp.py`: explicit TLS 1.3, PROT P, every")
    L.append("  data connection resuming the control connection's TLS session), timed by the")
    L.append("  client between the steps: lftp waits some 50-100 ms per file on FTPS data")
    L.append("  connections whichever the server, and the row would measure little else.")
    L.append("  ftplib leaves Nagle's algorithm on, so after each small upload it holds its")
    L.append("  close_notify until the server acknowledges the data; a server that leaves")
    L.append("  that ACK to the kernel's delayed-ACK timer waits up to 40 ms per file.")
    L.append("- curl 7.88 often idles about 0.2 s on its own 200 ms timer before it connects or")
    L.append("  reads an FTPS data connection (strace shows it polling no socket after it has")
    L.append("  read the server's reply), with every server; over a 1 GiB FTPS transfer that is")
    L.append("  a few percent of the time.")
    L.append("- **many clients**: that many `curl` or `sftp -b` processes started at once, each")
    L.append("  downloading the same file (to /dev/null); aggregate = all bytes over the time")
    L.append("  from the first start to the last exit.")
    L.append("- **memory**: `bench/sessions.py` opens that many logged-in sessions (FTP: USER/PASS,")
    L.append("  then nothing; SFTP: paramiko, key exchange, ed25519 login, the sftp subsystem")
    L.append("  and INIT/VERSION), waits 2 s and sums Pss over the server's process and all its")
    L.append("  descendants from /proc/PID/smaps_rollup; per session = (held − before) / sessions.")
    L.append("  berth is restarted before each count, so memory left by earlier tests is not")
    L.append("  counted against sessions. Afterwards every session is asked one request (NOOP,")
    L.append("  `stat .`).")
    L.append("- **logins**: `bench/login_rate.py`, 4 client processes, each logging in and out in")
    L.append("  a loop (FTP: connect, USER, PASS, QUIT; SFTP: connect, key exchange, ed25519")
    L.append("  login, the sftp subsystem up to VERSION, close). The peers verify the user's")
    L.append("  SHA-512 crypt(3) hash from /etc/shadow for every FTP login; berth is given the")
    L.append("  same hash, and by default (`[users] login_cache = 300`) remembers a verified")
    L.append("  password, so the row with `login_cache = 0` is the like-for-like one.")
    L.append("- **limits**: `openssl speed -evp` at 16 KiB blocks on one core, and")
    L.append("  `bench/loopback_tcp.py` (one TCP stream over loopback, plain send/recv, no")
    L.append("  encryption).")
    L.append("- Client, servers and kernel share the machine's cores; the clients' own work")
    L.append("  (encryption, copying, Python for sessions and logins) is in every figure, the")
    L.append("  same for every server.")
    L.append("")
    L.append("## The servers")
    L.append("")
    L.append("Each runs in the foreground from a generated configuration (kept with the run's")
    L.append("logs in bench/out/, not committed), on 127.0.0.1, with the same ECDSA P-256")
    L.append("certificate and ed25519 host key:")
    L.append("")
    L.append("- **berth**: one process for FTP, explicit FTPS (`tls = \"optional\"`,")
    L.append("  `require_session_reuse = true`) and SFTP; the user from a `[[user]]` table with")
    L.append("  the same SHA-512 crypt hash and the client's public key; everything else default.")
    L.append("- **vsftpd**: one instance for FTP and FTPS (`ssl_enable=YES`, TLS allowed, not")
    L.append("  forced; `require_ssl_reuse=YES`, `ssl_ciphers=HIGH`), local users through PAM")
    L.append("  (Debian's `other` stack: pam_unix), `chroot_local_user`, `seccomp_sandbox=NO`;")
    L.append("  one process per session plus its privileged parent.")
    L.append("- **ProFTPD**: one daemon; FTP with optional FTPS (mod_tls, session reuse required")
    L.append("  by default) on one port and SFTP (mod_sftp) in a virtual host on another; users")
    L.append("  from /etc/shadow (mod_auth_unix; PAM, mod_delay and reverse DNS off);")
    L.append("  `DefaultRoot ~`. Debian 12 ships mod_tls and mod_sftp in proftpd-mod-crypto,")
    L.append("  not in proftpd-core. mod_sftp 1.3.8 offers no chacha20-poly1305, so ProFTPD has")
    L.append("  no figure in those rows. Its master process sleeps twice 200 ms after its last")
    L.append("  session process exits before it accepts again (seen with strace), which caps")
    L.append("  its login rate when the clients' sessions do not overlap; loading mod_tls costs")
    L.append("  each FTP connection about 25 ms before the greeting.")
    L.append("- **Pure-FTPd**: command-line configuration, system users (`-l unix`), everyone")
    L.append("  chrooted, TLS allowed (`-Y 1`, `-J HIGH`); it does not require the data")
    L.append("  connection to resume the control connection's TLS session.")
    L.append("- **OpenSSH**: `sshd -D` from a private sshd_config with")
    L.append("  `Subsystem sftp /usr/lib/openssh/sftp-server`, public-key login, `UsePAM no`,")
    L.append("  and `MaxStartups 400:30:800` (the default, 10:30:100, drops most of 100 clients")
    L.append("  connecting at once); four processes per session.")
    if run.problems:
        L.append("")
        L.append("## Problems seen in this run")
        L.append("")
        for p in run.problems:
            L.append(f"- {p}")
    L.append("")
    L.append("## All runs")
    L.append("")
    L.append("| figure | server | runs |")
    L.append("|---|---|---|")
    for sc in run.scenarios:
        for s in SERVERS:
            vals = run.values(sc["id"], s)
            if vals:
                shown = ", ".join(num(float(v)) if st == "ok" else st for st, v in vals)
                L.append(f"| {sc['group']}: {sc['label']} | {NAMES[s]} | {shown} |")
    (run.dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return L


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    run = Run(Path(sys.argv[1]))
    out = Path(sys.argv[2])
    png = out.parent / "benchmarks.png"
    text = "\n".join(render(run, png if chart(run, png) else None)) + "\n"
    out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
