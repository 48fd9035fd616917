#!/usr/bin/env python3
"""Turns one run of a bench/ script into its section of docs/BENCHMARKS.md.

Usage: render_benchmarks.py ftp RUN_DIR OUTPUT.md

The section of that kind (from its "## " title to the next section's title)
is replaced; the other sections of OUTPUT.md are kept as they are.

ftp (bench/ftp_throughput.sh): RUN_DIR holds meta.env (KEY=VALUE lines),
scenarios.tsv (id, label), results.tsv (server, scenario, run, status, MB/s,
bytes, pretransfer s, total s) and limits.tsv (label, MB/s).
"""
import statistics
import sys
from pathlib import Path

SECTIONS = {
    "ftp": "## FTP and FTPS: berth and vsftpd",
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
    section = render_ftp(run_dir)
    splice(out, kind, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
