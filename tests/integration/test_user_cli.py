"""`berth user ...` and `berth ban ...`: the real binary on a user database in
tmp_path, named by a --config file.  No server is started."""

import base64
import ctypes
import ctypes.util
import json
import os
import sqlite3
import stat
import subprocess
import time

import pytest

from argon2_pure import argon2id_raw
from ftphelpers import toml_str

KEY1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyOne alice@laptop"
KEY2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyTwo alice@phone"


class Env:
    """A config file whose [server] state_dir is in tmp_path, with a cheap
    argon2id cost and one read-only [[user]] ("confuser")."""

    def __init__(self, berth, tmp_path):
        self.berth = berth
        self.tmp = tmp_path
        self.state = tmp_path / "state"
        self.db = self.state / "users.db"
        self.homes = tmp_path / "homes"
        for name in ("alice", "bob", "confuser"):
            (self.homes / name).mkdir(parents=True)
        self.config = tmp_path / "berth.toml"
        self.config.write_text("\n".join([
            "[server]", "state_dir = " + toml_str(self.state), "",
            "[ftp]", 'listen = ["127.0.0.1:0"]', "",
            "[users]", "hash_memory_kib = 8192", "hash_iterations = 1", "",
            "[[user]]", 'name = "confuser"', 'password = "pw"',
            "home = " + toml_str(self.homes / "confuser"), ""]))

    def home(self, name):
        return str(self.homes / name)

    def run(self, *args, input=None, config=True):
        argv = [str(self.berth), *args]
        if config:
            argv += ["--config", str(self.config)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, input=input,
                              stdin=subprocess.DEVNULL if input is None else None,
                              cwd=str(self.tmp))

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        assert r.returncode == 0, "rc=%s stdout=%r stderr=%r" % (r.returncode, r.stdout, r.stderr)
        return r

    def show(self, name):
        return json.loads(self.ok("user", "show", name, "--json").stdout)

    def users(self):
        return json.loads(self.ok("user", "list", "--json").stdout)

    def stored_hash(self, name):
        with sqlite3.connect(str(self.db)) as db:
            row = db.execute("SELECT password_hash FROM users WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def add_alice(self, password="s3cret-Alice", *extra):
        return self.ok("user", "add", "alice", "--home", self.home("alice"), "--password-stdin",
                       *extra, input=password + "\n")


@pytest.fixture
def env(berth, tmp_path):
    return Env(berth, tmp_path)


def argon2id_verifies(phc, password):
    """Checks an argon2id hash (libsodium's string) with the pure-Python one."""
    _, alg, version, params, salt, digest = phc.split("$")
    assert alg == "argon2id" and version == "v=19"
    p = dict(kv.split("=") for kv in params.split(","))
    unb64 = lambda s: base64.b64decode(s + "=" * (-len(s) % 4))
    want = unb64(digest)
    got = argon2id_raw(password.encode(), unb64(salt), int(p["t"]), int(p["m"]), int(p["p"]),
                       len(want))
    return got == want


def crypt_hash(prefix, password):
    """A crypt(3) hash made here with libcrypt (Python's crypt module is going)."""
    name = ctypes.util.find_library("crypt")
    if name is None:
        pytest.skip("libcrypt not found")
    lib = ctypes.CDLL(name)
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    salt = lib.crypt_gensalt(prefix.encode(), 0, None, 0)
    return lib.crypt(password.encode(), salt).decode()


def one_error_line(r):
    assert r.returncode != 0, "expected a failure: stdout=%r" % r.stdout
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, "expected one stderr line, got %r" % r.stderr
    assert lines[0].startswith("berth: "), lines[0]
    return lines[0]


# ------------------------------------------------------------------ users

def test_add_then_list_and_show(env):
    r = env.add_alice("s3cret-Alice", "--key", KEY1, "--permissions", "list,download,upload",
                      "--quota-bytes", "1048576", "--quota-files", "100", "--max-sessions", "3",
                      "--upload-rate", "512", "--download-rate", "1024",
                      "--allow-from", "10.0.0.0/8, 192.0.2.7")
    assert "alice" in r.stdout
    assert r.stderr == ""
    users = env.users()
    assert [u["name"] for u in users] == ["alice"]
    u = env.show("alice")
    assert u == users[0]
    assert u["home"] == env.home("alice")
    assert u["password"] is True
    assert u["authorized_keys"] == [KEY1]
    assert u["permissions"] == "list,download,upload"
    assert u["quota_bytes"] == 1048576 and u["quota_files"] == 100 and u["max_sessions"] == 3
    assert u["upload_rate_kib_per_s"] == 512 and u["download_rate_kib_per_s"] == 1024
    assert u["allow_from"] == ["10.0.0.0/8", "192.0.2.7/32"]
    assert u["disabled"] is False
    assert u["revision"] >= 1
    assert "password_hash" not in u and "s3cret" not in json.dumps(u)

    # Stored: rates in bytes/s, the password as argon2id at the config's cost.
    with sqlite3.connect(str(env.db)) as db:
        up, down = db.execute("SELECT upload_rate, download_rate FROM users").fetchone()
    assert (up, down) == (512 * 1024, 1024 * 1024)
    h = env.stored_hash("alice")
    assert h.startswith("$argon2id$v=19$m=8192,t=1,p=1$"), h
    assert argon2id_verifies(h, "s3cret-Alice")
    assert not argon2id_verifies(h, "s3cret-alice")

    text = env.ok("user", "show", "alice").stdout
    assert "512 KiB/s" in text and "1024 KiB/s" in text


def test_database_file_is_private(env):
    env.add_alice()
    assert stat.S_IMODE(os.stat(env.db).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(env.state).st_mode) == 0o700
    with sqlite3.connect(str(env.db)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == 2


def test_list_is_sorted_and_text_lists_names(env):
    for name in ("bob", "alice"):
        env.ok("user", "add", name, "--home", env.home(name), "--generate-password")
    assert [u["name"] for u in env.users()] == ["alice", "bob"]
    text = env.ok("user", "list").stdout
    assert text.index("alice") < text.index("bob")


def test_empty_list(env):
    assert env.users() == []


def test_set_changes_one_field(env):
    env.add_alice("pw-1", "--key", KEY1, "--upload-rate", "100")
    before = env.show("alice")
    hash_before = env.stored_hash("alice")
    env.ok("user", "set", "alice", "--quota-files", "42")
    after = env.show("alice")
    assert after["quota_files"] == 42
    assert after["revision"] > before["revision"]
    for k in before:
        if k not in ("quota_files", "revision"):
            assert after[k] == before[k], k
    assert env.stored_hash("alice") == hash_before


def test_set_options(env):
    env.add_alice("pw-1", "--key", KEY1)
    env.ok("user", "set", "alice", "--disabled", "--key", KEY2, "--permissions", "list",
           "--allow-from", "2001:db8::/32", "--home", env.home("bob"))
    u = env.show("alice")
    assert u["disabled"] is True
    assert u["authorized_keys"] == [KEY1, KEY2]
    assert u["permissions"] == "list"
    assert u["allow_from"] == ["2001:db8::/32"]
    assert u["home"] == env.home("bob")
    env.ok("user", "set", "alice", "--enabled", "--clear-keys", "--allow-from", "")
    u = env.show("alice")
    assert u["disabled"] is False and u["authorized_keys"] == [] and u["allow_from"] == []


def test_passwd_changes_the_hash(env):
    env.add_alice("old-password")
    first = env.stored_hash("alice")
    rev = env.show("alice")["revision"]
    env.ok("user", "passwd", "alice", "--password-stdin", input="new-password\n")
    second = env.stored_hash("alice")
    assert second != first
    assert argon2id_verifies(second, "new-password")
    assert env.show("alice")["revision"] > rev
    # Without an option the password comes from standard input too.
    env.ok("user", "passwd", "alice", input="third\n")
    assert env.stored_hash("alice") != second


def test_generate_password_prints_it_once(env):
    r = env.ok("user", "add", "alice", "--home", env.home("alice"), "--generate-password")
    lines = [l for l in r.stdout.splitlines() if l.startswith("password: ")]
    assert len(lines) == 1
    password = lines[0][len("password: "):]
    assert len(password) >= 16 and password.isalnum()
    r = env.ok("user", "passwd", "alice", "--generate-password")
    again = [l for l in r.stdout.splitlines() if l.startswith("password: ")]
    assert len(again) == 1 and again[0] != lines[0]


def test_import_crypt_hash(env):
    h = crypt_hash("$6$", "imported")
    env.ok("user", "add", "alice", "--home", env.home("alice"), "--password-hash", h)
    assert env.stored_hash("alice") == h
    assert env.show("alice")["password"] is True
    y = crypt_hash("$y$", "other")
    env.ok("user", "set", "alice", "--password-hash", y)
    assert env.stored_hash("alice") == y


def test_key_only_user(env, tmp_path):
    keys = tmp_path / "keys.pub"
    keys.write_text("# alice's keys\n\n%s\n%s\n" % (KEY1, KEY2))
    env.ok("user", "add", "alice", "--home", env.home("alice"), "--key-file", str(keys))
    u = env.show("alice")
    assert u["password"] is False
    assert u["authorized_keys"] == [KEY1, KEY2]


def test_del_removes(env):
    env.add_alice()
    r = env.ok("user", "del", "alice")
    assert "alice" in r.stdout
    assert env.users() == []
    one_error_line(env.run("user", "show", "alice"))
    # Added again: a new revision, never an old one.
    env.add_alice()
    assert len(env.users()) == 1


def test_revision_differs_after_delete_and_add(env):
    env.add_alice()
    first = env.show("alice")["revision"]
    env.ok("user", "del", "alice")
    env.add_alice()
    assert env.show("alice")["revision"] > first


def test_default_database_is_in_berth_data(berth, tmp_path):
    (tmp_path / "home").mkdir()
    r = subprocess.run([str(berth), "user", "add", "alice", "--home", "home", "--password-stdin"],
                       capture_output=True, text=True, timeout=60, input="pw\n", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "berth-data" / "users.db").is_file()
    r = subprocess.run([str(berth), "user", "show", "alice", "--json"], capture_output=True,
                       text=True, timeout=60, cwd=str(tmp_path), stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["home"] == str(tmp_path / "home")


# ------------------------------------------------------------------ bad input

def add_args(env, *extra):
    return ["user", "add", "carol", "--home", env.home("alice"), "--generate-password", *extra]


@pytest.mark.parametrize("extra, word", [
    (["--permissions", "list,fly"], "fly"),
    (["--allow-from", "10.0.0.0/33"], "10.0.0.0/33"),
    (["--allow-from", "not-an-ip"], "not-an-ip"),
    (["--allow-from", "10.0.0.0/8,,"], "empty"),
    (["--quota-bytes", "-1"], "--quota-bytes"),
    (["--quota-files", "12abc"], "--quota-files"),
    (["--max-sessions", "99999999999"], "--max-sessions"),
    (["--upload-rate", "lots"], "--upload-rate"),
    (["--key", "not a key"], "--key"),
    (["--key", 'command="/bin/sh" ' + KEY1], "--key"),
    (["--key-file", "/nonexistent/keys"], "--key-file"),
])
def test_add_bad_option(env, extra, word):
    line = one_error_line(env.run(*add_args(env, *extra)))
    assert word in line
    assert env.users() == []


def test_add_missing_home(env):
    line = one_error_line(env.run("user", "add", "carol", "--home", str(env.tmp / "nope"),
                                  "--generate-password"))
    assert "nope" in line
    assert env.run("user", "add", "carol", "--generate-password").returncode != 0


@pytest.mark.parametrize("name", ["a b", "a/b", "a:b", "x" * 65])
def test_add_bad_name(env, name):
    r = env.run("user", "add", name, "--home", env.home("alice"), "--generate-password")
    assert r.returncode == 2
    assert "name" in one_error_line(r)


def test_add_duplicate(env):
    env.add_alice()
    r = env.run("user", "add", "alice", "--home", env.home("alice"), "--generate-password")
    assert r.returncode == 1
    assert "exists" in one_error_line(r)


def test_config_user_is_read_only(env):
    for args in (["user", "add", "confuser", "--home", env.home("confuser"),
                  "--generate-password"],
                 ["user", "set", "confuser", "--disabled"],
                 ["user", "del", "confuser"],
                 ["user", "passwd", "confuser", "--generate-password"]):
        line = one_error_line(env.run(*args))
        assert "defined in the configuration file (read-only)" in line, args
    assert env.users() == []


def test_unsupported_hash_refused(env):
    for h in ("$1$abc$defdefdefdefdefdefdefd", "plain", "$argon2id$v=19$broken"):
        one_error_line(env.run("user", "add", "carol", "--home", env.home("alice"),
                               "--password-hash", h))
    assert env.users() == []


def test_add_needs_a_password_or_key(env):
    one_error_line(env.run("user", "add", "carol", "--home", env.home("alice")))


def test_conflicting_password_options(env):
    r = env.run("user", "add", "carol", "--home", env.home("alice"), "--generate-password",
                "--password-stdin", input="x\n")
    assert r.returncode == 2
    one_error_line(r)


def test_password_stdin_empty(env):
    r = env.run("user", "add", "carol", "--home", env.home("alice"), "--password-stdin", input="")
    assert r.returncode == 2
    one_error_line(r)
    assert env.users() == []


def test_missing_user(env):
    for args in (["user", "set", "nobody", "--disabled"], ["user", "del", "nobody"],
                 ["user", "show", "nobody"], ["user", "passwd", "nobody", "--generate-password"]):
        r = env.run(*args)
        assert r.returncode == 1, args
        assert "nobody" in one_error_line(r)


def test_set_without_changes(env):
    env.add_alice()
    assert env.run("user", "set", "alice").returncode == 2


def test_bad_config_file(env):
    r = env.run("user", "list", "--config", str(env.tmp / "missing.toml"), config=False)
    assert r.returncode == 2
    one_error_line(r)


def test_newer_database_refused(env):
    env.add_alice()
    with sqlite3.connect(str(env.db)) as db:
        db.execute("INSERT INTO schema_version (version, applied) VALUES (999, 0)")
    r = env.run("user", "list")
    assert r.returncode == 1
    assert "newer" in one_error_line(r)


# ------------------------------------------------------------------ usage

def stored_usage(env, name):
    with sqlite3.connect(str(env.db)) as db:
        return db.execute("SELECT bytes, files FROM usage_counters WHERE user_name = ?",
                          (name,)).fetchone()


def test_recount_counts_the_home_and_stores_it(env):
    env.add_alice()
    home = env.homes / "alice"
    (home / "a.bin").write_bytes(b"a" * 1000)
    (home / "b.bin").write_bytes(b"b" * 2000)
    (home / "empty").write_bytes(b"")
    (home / "sub").mkdir()
    (home / "sub" / "c.bin").write_bytes(b"c" * 500)
    r = env.ok("user", "recount", "alice")
    # Four files and one folder (one entry of 4096 bytes, as quotas count it).
    assert r.stdout == "recounted alice: 7596 bytes in 5 files\n"
    assert r.stderr == ""
    assert stored_usage(env, "alice") == (7596, 5)

    # A recount replaces the counter.
    (home / "a.bin").unlink()
    out = json.loads(env.ok("user", "recount", "alice", "--json").stdout)
    assert out == {"name": "alice", "bytes": 6596, "files": 4}
    assert stored_usage(env, "alice") == (6596, 4)


def test_recount_of_a_configuration_user(env):
    (env.homes / "confuser" / "f").write_bytes(b"x" * 123)
    out = json.loads(env.ok("user", "recount", "confuser", "--json").stdout)
    assert out == {"name": "confuser", "bytes": 123, "files": 1}
    assert stored_usage(env, "confuser") == (123, 1)


def test_recount_errors(env):
    r = env.run("user", "recount", "nobody")
    assert r.returncode == 1
    assert '"nobody"' in one_error_line(r)
    assert env.run("user", "recount", "bad/name").returncode == 2

    env.add_alice()
    env.ok("user", "recount", "alice")
    (env.homes / "alice").rmdir()
    r = env.run("user", "recount", "alice")
    assert r.returncode == 1
    line = one_error_line(r)
    assert "can not count the home of \"alice\"" in line and "No such file" in line
    assert stored_usage(env, "alice") == (0, 0)  # the last count stays


def test_recount_upgrades_a_version_1_database(env):
    env.add_alice()
    # As the berth of schema version 1 left it.
    with sqlite3.connect(str(env.db)) as db:
        db.executescript("DROP TABLE usage_counters; DROP TABLE upload_parts; DROP TABLE uploads;"
                         "DELETE FROM schema_version WHERE version > 1;")
    (env.homes / "alice" / "f").write_bytes(b"x" * 10)
    assert env.ok("user", "recount", "alice").stdout == "recounted alice: 10 bytes in 1 file\n"
    assert env.show("alice")["home"] == env.home("alice")
    assert stored_usage(env, "alice") == (10, 1)


# ------------------------------------------------------------------ bans

def insert_bans(env, rows):
    env.ok("ban", "list")  # creates the database and its tables
    with sqlite3.connect(str(env.db)) as db:
        db.executemany("INSERT INTO bans (address, until, level, reason) VALUES (?, ?, ?, ?)",
                       rows)


def test_ban_list_and_del(env):
    now = int(time.time())
    insert_bans(env, [("192.0.2.9", now + 3600, 2, "5 failed logins"),
                      ("2001:db8::5", now - 60, 1, "old"),
                      ("198.51.100.1", now + 60, 1, 'quote " and \\ backslash')])
    bans = json.loads(env.ok("ban", "list", "--json").stdout)
    assert [b["address"] for b in bans] == ["192.0.2.9", "198.51.100.1", "2001:db8::5"]
    b = bans[0]
    assert b["until"] == now + 3600 and b["level"] == 2 and b["reason"] == "5 failed logins"
    assert b["active"] is True and bans[2]["active"] is False
    assert bans[1]["reason"] == 'quote " and \\ backslash'
    text = env.ok("ban", "list").stdout
    assert "192.0.2.9" in text and "expired" in text

    r = env.ok("ban", "del", "192.0.2.9")
    assert "192.0.2.9" in r.stdout
    # An IPv4-mapped IPv6 form names the same address.
    env.ok("ban", "del", "::ffff:198.51.100.1")
    assert [b["address"] for b in json.loads(env.ok("ban", "list", "--json").stdout)] == \
        ["2001:db8::5"]

    r = env.run("ban", "del", "192.0.2.9")
    assert r.returncode == 1
    assert "192.0.2.9" in one_error_line(r)


def test_ban_del_bad_address(env):
    r = env.run("ban", "del", "not-an-address")
    assert r.returncode == 2
    one_error_line(r)


def test_ban_list_empty(env):
    assert json.loads(env.ok("ban", "list", "--json").stdout) == []


def test_ban_del_of_an_ipv6_address_lifts_its_network(env):
    """Issue 17 item 18: an IPv6 client is banned as its /64 ([limits]
    ipv6_prefix); any address of it names the ban, and a ban stored under
    one address (before grouping) is still found by that address."""
    now = int(time.time())
    insert_bans(env, [("2001:db8:1:2::/64", now + 3600, 1, "5 failed logins"),
                      ("2001:db8:9::7", now + 3600, 1, "5 failed logins")])
    r = env.ok("ban", "del", "2001:db8:1:2:aaaa::1")
    assert "2001:db8:1:2::/64" in r.stdout
    r = env.ok("ban", "del", "2001:db8:9::7")
    assert "2001:db8:9::7" in r.stdout
    assert json.loads(env.ok("ban", "list", "--json").stdout) == []
