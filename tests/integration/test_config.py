"""CLI (--version/--help/check-config), config validation errors (exit 2,
one stderr line naming file/key/line), listeners, embedded default config."""

import ftplib
import grp
import os
import pwd
import re
import signal
import socket
import subprocess
import time

import queue
import threading

import pytest

from ftphelpers import BerthServer, cmd, quit_quietly


def run(berth, *args, cwd=None, timeout=20):
    return subprocess.run([str(berth), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL)


def test_version(berth):
    r = run(berth, "--version")
    assert r.returncode == 0, r.stderr
    assert "berth" in r.stdout.lower()


def test_help(berth):
    r = run(berth, "--help")
    assert r.returncode == 0, r.stderr
    out = (r.stdout + r.stderr).lower()
    assert "serve" in out and "check-config" in out


def test_unknown_subcommand_fails(berth):
    r = run(berth, "frobnicate")
    assert r.returncode != 0


def _base(tmp_path):
    home = tmp_path / "home" / "alice"
    home.mkdir(parents=True, exist_ok=True)
    return {
        "server": ['state_dir = "%s"' % (tmp_path / "state")],
        "ftp": ['listen = ["127.0.0.1:0", "[::1]:0"]', 'passive_ports = "40000-40100"',
                'passive_address = "127.0.0.1"', "active_data_port = 0", "idle_timeout = 300",
                "login_timeout = 60", "data_timeout = 30"],
        "user": ['name = "alice"', 'password = "pw"', 'home = "%s"' % home],
    }


def _render(sections, extra_sections=""):
    out = ["[server]"] + sections["server"] + ["", "[ftp]"] + sections["ftp"] + \
        ["", "[[user]]"] + sections["user"]
    return "\n".join(out) + "\n" + extra_sections


def test_check_config_valid(berth, tmp_path):
    cfg = tmp_path / "good.toml"
    cfg.write_text(_render(_base(tmp_path)))
    r = run(berth, "check-config", str(cfg))
    assert r.returncode == 0, r.stderr


def test_check_config_valid_generated(berth, tmp_path):
    srv = BerthServer(tmp_path / "g")
    r = run(berth, "check-config", str(srv.config_path))
    assert r.returncode == 0, r.stderr


def test_sample_production_config_is_valid(berth, tmp_path):
    """dist/berth.toml passes check-config, with its service user replaced by
    one every machine has and its paths moved into the test's folder."""
    from ftphelpers import REPO_ROOT
    text = (REPO_ROOT / "dist" / "berth.toml").read_text()
    text = text.replace('user = "berth"', 'user = "nobody"').replace(
        'group = "berth"', 'group = "%s"' % grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name)
    text = text.replace('"/var/lib/berth"', '"%s"' % (tmp_path / "state"))
    text = text.replace('"/var/log/berth/xferlog"', '"%s"' % (tmp_path / "xferlog"))
    cfg = tmp_path / "berth.toml"
    cfg.write_text(text)
    r = run(berth, "check-config", str(cfg))
    assert r.returncode == 0, r.stderr


def _replace(lines, key, new):
    out = [l for l in lines if not l.startswith(key + " ")]
    if new is not None:
        out.append(new)
    return out


# name -> (mutator(sections, tmp_path), key that must be mentioned, offending line text or None)
def _bad_cases():
    def ftp_set(key, value):
        def m(s, t):
            s["ftp"] = _replace(s["ftp"], key, "%s = %s" % (key, value))
        return m

    def user_set(key, value):
        def m(s, t):
            s["user"] = _replace(s["user"], key, None if value is None else "%s = %s" % (key, value))
        return m

    def server_set(key, value):
        def m(s, t):
            s["server"] = _replace(s["server"], key, "%s = %s" % (key, value))
        return m

    return {
        "unknown_key_ftp": (ftp_set("bogus_option", "1"), "bogus_option", "bogus_option = 1"),
        "unknown_key_server": (server_set("colour", '"red"'), "colour", 'colour = "red"'),
        "unknown_key_user": (user_set("shell", '"/bin/sh"'), "shell", 'shell = "/bin/sh"'),
        "wrong_type_idle_timeout": (ftp_set("idle_timeout", '"soon"'), "idle_timeout",
                                    'idle_timeout = "soon"'),
        "wrong_type_listen": (ftp_set("listen", "21"), "listen", "listen = 21"),
        "wrong_type_password": (user_set("password", "1234"), "password", "password = 1234"),
        "wrong_type_passive_ports": (ftp_set("passive_ports", "40000"), "passive_ports",
                                     "passive_ports = 40000"),
        "bad_address_octet": (ftp_set("listen", '["999.0.0.1:0"]'), "listen",
                              'listen = ["999.0.0.1:0"]'),
        "bad_address_no_port": (ftp_set("listen", '["127.0.0.1"]'), "listen",
                                'listen = ["127.0.0.1"]'),
        "bad_address_port_too_big": (ftp_set("listen", '["127.0.0.1:99999"]'), "listen",
                                     'listen = ["127.0.0.1:99999"]'),
        "bad_address_garbage": (ftp_set("listen", '["not an address"]'), "listen",
                                'listen = ["not an address"]'),
        "bad_passive_address": (ftp_set("passive_address", '"300.1.1.1"'), "passive_address",
                                'passive_address = "300.1.1.1"'),
        "bad_allow_ccc": (ftp_set("allow_ccc", '"yes"'), "allow_ccc", 'allow_ccc = "yes"'),
        "bad_passive_rule_cidr": (
            ftp_set("passive_address_rules", '[{ from = "10.0.0.0/40", address = "10.1.2.3" }]'),
            "passive_address_rules.from",
            'passive_address_rules = [{ from = "10.0.0.0/40", address = "10.1.2.3" }]'),
        "bad_passive_rule_address": (
            ftp_set("passive_address_rules", '[{ from = "10.0.0.0/8", address = "10.1.2.300" }]'),
            "passive_address_rules.address",
            'passive_address_rules = [{ from = "10.0.0.0/8", address = "10.1.2.300" }]'),
        "port_range_too_high": (ftp_set("passive_ports", '"70000-80000"'), "passive_ports",
                                'passive_ports = "70000-80000"'),
        "port_range_reversed": (ftp_set("passive_ports", '"5000-4000"'), "passive_ports",
                                'passive_ports = "5000-4000"'),
        "port_range_garbage": (ftp_set("passive_ports", '"abc"'), "passive_ports",
                               'passive_ports = "abc"'),
        "active_port_too_high": (ftp_set("active_data_port", "70000"), "active_data_port",
                                 "active_data_port = 70000"),
        "missing_home": (user_set("home", None), "home", None),
        "nonexistent_home": (user_set("home", '"/nonexistent/berth-test/home"'), "home",
                             'home = "/nonexistent/berth-test/home"'),
    }


BAD = _bad_cases()


def _check_single_error_line(r, cfg, key, lineno):
    assert r.returncode == 2, "rc=%s stderr=%r" % (r.returncode, r.stderr)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, "expected exactly one stderr line, got %r" % r.stderr
    line = lines[0]
    assert cfg.name in line, "error line does not name the file: %r" % line
    if key:
        assert key in line, "error line does not name key %r: %r" % (key, line)
    if lineno:
        assert re.search(r"(?<!\d)%d(?!\d)" % lineno, line), \
            "error line lacks line number %d: %r" % (lineno, line)
    return line


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("how", ["check-config", "serve"])
def test_bad_config(berth, tmp_path, case, how):
    mutate, key, offending = BAD[case]
    sections = _base(tmp_path)
    mutate(sections, tmp_path)
    text = _render(sections)
    cfg = tmp_path / ("bad-%s.toml" % case)
    cfg.write_text(text)
    lineno = None
    if offending:
        lineno = text.splitlines().index(offending) + 1
    if how == "check-config":
        r = run(berth, "check-config", str(cfg))
    else:
        r = run(berth, "serve", "--config", str(cfg))
        assert "berth ready" not in r.stdout
    _check_single_error_line(r, cfg, key, lineno)


def test_unknown_section(berth, tmp_path):
    cfg = tmp_path / "bad-section.toml"
    cfg.write_text(_render(_base(tmp_path), "\n[bogus_section]\nx = 1\n"))
    r = run(berth, "check-config", str(cfg))
    _check_single_error_line(r, cfg, "bogus_section", None)


def test_toml_syntax_error(berth, tmp_path):
    cfg = tmp_path / "bad-syntax.toml"
    text = _render(_base(tmp_path)).replace("[ftp]", "[ftp")
    cfg.write_text(text)
    lineno = text.splitlines().index("[ftp") + 1
    for args in (["check-config", str(cfg)], ["serve", "--config", str(cfg)]):
        r = run(berth, *args)
        _check_single_error_line(r, cfg, None, lineno)


@pytest.mark.parametrize("how", ["check-config", "serve"])
def test_missing_config_file(berth, tmp_path, how):
    cfg = tmp_path / "does-not-exist.toml"
    args = ["check-config", str(cfg)] if how == "check-config" else ["serve", "--config", str(cfg)]
    r = run(berth, *args)
    _check_single_error_line(r, cfg, None, None)


def test_serve_prints_every_listener(start_server):
    srv = start_server(listen=("127.0.0.1:0", "[::1]:0", "127.0.0.2:0"))
    lines = [l for l in srv.stdout_lines if l.startswith("ftp listening on ")]
    assert len(lines) == 3, srv.stdout_lines
    assert any(l.startswith("ftp listening on [::1]:") for l in lines)
    assert any(l.startswith("ftp listening on 127.0.0.2:") for l in lines)
    assert srv.stdout_lines.index("berth ready") > max(srv.stdout_lines.index(l) for l in lines)
    for host, port in srv.listeners:
        assert port != 0
        ftp = ftplib.FTP(timeout=10)
        ftp.connect(host, port)
        ftp.login("alice", srv.users["alice"]["password"])
        assert cmd(ftp, "PWD")[0] == 257
        quit_quietly(ftp)


def test_ipv6_only_listener(start_server):
    srv = start_server(listen=("[::1]:0",))
    assert srv.port is None and srv.port6
    ftp = srv.login(ipv6=True)
    quit_quietly(ftp)


def test_sigterm_stops_server(start_server):
    srv = start_server()
    os.kill(srv.proc.pid, signal.SIGTERM)
    rc = srv.proc.wait(timeout=10)
    assert rc is not None
    with pytest.raises(OSError):
        socket.create_connection((srv.host, srv.port), timeout=2).close()


def test_sigterm_stops_server_with_open_sessions(start_server):
    srv = start_server()
    sessions = [srv.login("alice"), srv.login("bob", ipv6=True)]
    assert cmd(sessions[0], "PASV")[0] == 227
    os.kill(srv.proc.pid, signal.SIGTERM)
    rc = srv.proc.wait(timeout=10)
    assert rc is not None
    for s in sessions:
        s.close()


def test_listen_port_in_use_fails(berth, start_server, tmp_path):
    srv = start_server()
    other = BerthServer(tmp_path / "clash", listen=("127.0.0.1:%d" % srv.port,))
    r = subprocess.run([str(berth), "serve", "--config", str(other.config_path)],
                       capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    assert "berth ready" not in r.stdout
    assert srv.alive()


# ----------------------------------------------------------- embedded default

DEFAULT_PORTS = (2121, 2990, 2222)


def _default_ports_free():
    for port in DEFAULT_PORTS:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # like the server's own listener: TIME_WAIT leftovers don't count as busy
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
            s.listen(1)
        except OSError:
            return False
        finally:
            s.close()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return False
        except OSError:
            pass
    return True


def _start_default(berth, cwd):
    proc = subprocess.Popen([str(berth), "serve"], cwd=str(cwd), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)
    lines = []
    q = queue.Queue()

    def reader():
        for line in proc.stdout:
            q.put(line.rstrip("\n"))
        q.put(None)

    threading.Thread(target=reader, daemon=True).start()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            line = q.get(timeout=0.5)
        except queue.Empty:
            continue
        if line is None:
            break
        lines.append(line)
        if line.strip() == "berth ready":
            return proc, lines
    _stop(proc)
    raise AssertionError("default berth not ready: %r" % (lines,))


def _stop(proc):
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_embedded_default_config(berth, tmp_path):
    # Checked here, not at collection: pytest-xdist workers collect at the
    # same time, and one's probe of the ports would make another skip.
    if not _default_ports_free():
        pytest.skip("port 2121, 2990 or 2222 in use; the embedded default binds them")
    proc, lines = _start_default(berth, tmp_path)
    try:
        assert "ftp listening on 0.0.0.0:2121" in lines, lines
        created = [re.match(r"created user demo with password (\S+)$", l) for l in lines]
        created = [m for m in created if m]
        assert len(created) == 1, lines
        password = created[0].group(1)
        assert len(password) >= 8
        home = tmp_path / "berth-data" / "home" / "demo"
        assert home.is_dir()
        (home / "hello.txt").write_text("hi")
        ftp = ftplib.FTP(timeout=10)
        ftp.connect("127.0.0.1", 2121)
        ftp.login("demo", password)
        assert cmd(ftp, "PWD")[1].startswith('257 "/"')
        assert ftp.nlst() == ["hello.txt"]
        quit_quietly(ftp)
        # SFTP on 2222 with the same user and password, host keys printed
        assert "sftp listening on 0.0.0.0:2222" in lines, lines
        assert sum(l.startswith("ssh host key ") for l in lines) == 3, lines
        paramiko = pytest.importorskip("paramiko")
        t = paramiko.Transport(("127.0.0.1", 2222))
        try:
            t.connect(username="demo", password=password)
            s = paramiko.SFTPClient.from_transport(t)
            assert s.listdir(".") == ["hello.txt"]
            s.close()
        finally:
            t.close()
    finally:
        _stop(proc)
    for _ in range(50):
        if _default_ports_free():
            break
        time.sleep(0.1)
    proc, lines = _start_default(berth, tmp_path)
    try:
        assert not any("created user" in l for l in lines), lines
        ftp = ftplib.FTP(timeout=10)
        ftp.connect("127.0.0.1", 2121)
        ftp.login("demo", password)
        assert ftp.nlst() == ["hello.txt"]
        quit_quietly(ftp)
    finally:
        _stop(proc)
