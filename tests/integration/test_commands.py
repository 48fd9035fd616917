"""Reply codes of the non-transfer commands (RFC 959/2389/3659/2428 and the
HASH draft), protocol robustness and UTF-8 names."""

import calendar
import hashlib
import os
import re
import stat
import time

import pytest

from ftphelpers import (LS_RE, cmd, download, listing, parse_facts, quit_quietly, read_reply,
                        upload)
from s3helpers import is_s3, set_mtime


def test_syst(ftp):
    code, text = cmd(ftp, "SYST")
    assert code == 215 and "UNIX Type: L8" in text, text


def test_noop(ftp):
    code, text = cmd(ftp, "NOOP")
    assert code == 200, text


def test_commands_case_insensitive(ftp):
    code, text = cmd(ftp, "noop")
    assert code == 200, text
    code, text = cmd(ftp, "pwd")
    assert code == 257, text


def _feat_lines(ftp):
    code, text = cmd(ftp, "FEAT")
    assert code == 211, text
    lines = text.splitlines()
    assert lines[0].startswith("211-") and lines[-1].startswith("211 "), text
    return [l.strip() for l in lines[1:-1]]


def test_feat_lists_all_features(ftp):
    feats = _feat_lines(ftp)
    upper = [f.upper() for f in feats]
    names = [f.split(" ", 1)[0] for f in upper]
    for f in ["UTF8", "SIZE", "MDTM", "EPRT", "EPSV", "MFMT", "MFF", "TVFS"]:
        assert f in names, "FEAT lacks %s: %r" % (f, feats)
    assert "REST STREAM" in upper, feats
    mlst = [f for f in feats if f.upper().startswith("MLST ")]
    assert len(mlst) == 1, feats
    facts = [x.rstrip("*").lower() for x in mlst[0].split(" ", 1)[1].split(";") if x]
    for fact in ["type", "size", "modify", "perm", "unique", "unix.mode"]:
        assert fact in facts, "MLST facts %r lack %s" % (mlst[0], fact)
    hashes = [f for f in feats if f.upper().startswith("HASH ")]
    assert len(hashes) == 1, feats
    algos = [x.rstrip("*").upper() for x in hashes[0].split(" ", 1)[1].split(";") if x]
    for a in ["SHA-256", "SHA-512", "SHA-1", "MD5"]:
        assert a in algos, "HASH line %r lacks %s" % (hashes[0], a)


def test_feat_before_login(server):
    ftp = server.connect()
    try:
        assert len(_feat_lines(ftp)) >= 5
    finally:
        quit_quietly(ftp)


def test_opts_utf8_on(ftp):
    code, text = cmd(ftp, "OPTS UTF8 ON")
    assert code == 200, text


def test_help(ftp):
    code, text = cmd(ftp, "HELP")
    assert code == 214, text


def test_stat_no_arg_is_211_multiline(ftp):
    code, text = cmd(ftp, "STAT")
    assert code == 211, text
    lines = text.splitlines()
    assert len(lines) >= 2 and lines[0].startswith("211-") and lines[-1].startswith("211 "), text


def _ls_lines(text):
    out = []
    for l in text.splitlines()[1:-1]:
        m = LS_RE.match(l.strip())
        if m:
            out.append(m)
    return out


def test_stat_path_lists_directory(server, ftp):
    (server.home() / "sdir").mkdir()
    (server.home() / "sdir" / "one.txt").write_bytes(b"12345")
    (server.home() / "sdir" / "two.txt").write_bytes(b"")
    code, text = cmd(ftp, "STAT /sdir")
    assert code == 213, text
    lines = text.splitlines()
    assert lines[0].startswith("213-") and lines[-1].startswith("213 "), text
    entries = {m.group("name"): m for m in _ls_lines(text)}
    assert "one.txt" in entries and "two.txt" in entries, text
    assert entries["one.txt"].group("size") == "5"


def test_stat_path_file(server, ftp):
    (server.home() / "f.txt").write_bytes(b"x" * 42)
    code, text = cmd(ftp, "STAT f.txt")
    assert code == 213, text
    ms = _ls_lines(text)
    assert len(ms) == 1 and ms[0].group("size") == "42" and ms[0].group("name").endswith("f.txt"), text


def test_stat_missing_path(ftp):
    code, text = cmd(ftp, "STAT /no-such-thing")
    assert code in (450, 550), text


def test_pwd_cwd_cdup(server, ftp):
    (server.home() / "a" / "b").mkdir(parents=True)
    code, text = cmd(ftp, "PWD")
    assert code == 257 and text.startswith('257 "/"'), text
    assert cmd(ftp, "CWD a")[0] == 250
    assert cmd(ftp, "CWD b")[0] == 250
    code, text = cmd(ftp, "PWD")
    assert code == 257 and '"/a/b"' in text, text
    code, text = cmd(ftp, "CDUP")
    assert code in (200, 250), text
    assert '"/a"' in cmd(ftp, "PWD")[1]
    assert cmd(ftp, "CWD /a/b")[0] == 250
    assert '"/a/b"' in cmd(ftp, "PWD")[1]
    assert cmd(ftp, "CWD ../..")[0] == 250
    assert '"/"' in cmd(ftp, "PWD")[1]


def test_cwd_errors(server, ftp):
    (server.home() / "plain.txt").write_text("x")
    assert cmd(ftp, "CWD nonexistent")[0] == 550
    assert cmd(ftp, "CWD plain.txt")[0] == 550
    assert '"/"' in cmd(ftp, "PWD")[1]


def test_x_variants(server, ftp):
    code, text = cmd(ftp, "XMKD xdir")
    assert code == 257, text
    assert (server.home() / "xdir").is_dir()
    assert cmd(ftp, "XCWD xdir")[0] == 250
    code, text = cmd(ftp, "XPWD")
    assert code == 257 and '"/xdir"' in text, text
    code, text = cmd(ftp, "XCUP")
    assert code in (200, 250), text
    assert '"/"' in cmd(ftp, "XPWD")[1]
    code, text = cmd(ftp, "XRMD xdir")
    assert code == 250, text
    assert not (server.home() / "xdir").exists()


def test_mkd_rmd(server, ftp, home_kind):
    code, text = cmd(ftp, "MKD newdir")
    assert code == 257 and '"/newdir"' in text, text
    assert (server.home() / "newdir").is_dir()
    code, text = cmd(ftp, "MKD /newdir/inner")
    assert code == 257, text
    assert (server.home() / "newdir" / "inner").is_dir()
    assert cmd(ftp, "MKD newdir")[0] == 550  # exists
    assert cmd(ftp, "RMD newdir")[0] == 550  # not empty
    assert cmd(ftp, "RMD newdir/inner")[0] == 250
    assert cmd(ftp, "RMD newdir")[0] == 250
    assert not (server.home() / "newdir").exists()
    assert cmd(ftp, "RMD newdir")[0] == 550


def test_dele(server, ftp, home_kind):
    (server.home() / "gone.txt").write_text("bye")
    code, text = cmd(ftp, "DELE gone.txt")
    assert code == 250, text
    assert not (server.home() / "gone.txt").exists()
    assert cmd(ftp, "DELE gone.txt")[0] == 550
    (server.home() / "adir").mkdir()
    assert cmd(ftp, "DELE adir")[0] == 550
    assert (server.home() / "adir").is_dir()


def test_rnfr_rnto(server, ftp, home_kind):
    (server.home() / "old.txt").write_bytes(b"content")
    (server.home() / "sub").mkdir()
    code, text = cmd(ftp, "RNFR old.txt")
    assert code == 350, text
    code, text = cmd(ftp, "RNTO sub/new.txt")
    assert code == 250, text
    assert not (server.home() / "old.txt").exists()
    assert (server.home() / "sub" / "new.txt").read_bytes() == b"content"
    # directories can be renamed too
    assert cmd(ftp, "RNFR sub")[0] == 350
    assert cmd(ftp, "RNTO sub2")[0] == 250
    assert (server.home() / "sub2" / "new.txt").is_file()


def test_rnto_without_rnfr_503(ftp):
    code, text = cmd(ftp, "RNTO whatever.txt")
    assert code == 503, text


def test_rnfr_missing_550(ftp):
    code, text = cmd(ftp, "RNFR does-not-exist")
    assert code == 550, text


def test_rnfr_then_other_command_resets(server, ftp):
    (server.home() / "r.txt").write_text("r")
    assert cmd(ftp, "RNFR r.txt")[0] == 350
    assert cmd(ftp, "NOOP")[0] == 200
    assert cmd(ftp, "RNTO r2.txt")[0] == 503
    assert (server.home() / "r.txt").exists()


def test_size(server, ftp, home_kind):
    (server.home() / "s.bin").write_bytes(b"\0" * 12345)
    code, text = cmd(ftp, "SIZE s.bin")
    assert code == 213 and text.strip() == "213 12345", text
    assert cmd(ftp, "SIZE missing.bin")[0] == 550
    (server.home() / "d").mkdir()
    assert cmd(ftp, "SIZE d")[0] == 550


def test_mdtm(server, ftp, home_kind):
    p = server.home() / "m.txt"
    p.write_text("m")
    ts = calendar.timegm((2021, 3, 4, 5, 6, 7, 0, 0, 0))
    set_mtime(p, ts)
    code, text = cmd(ftp, "MDTM m.txt")
    assert code == 213, text
    assert re.fullmatch(r"213 20210304050607(\.\d+)?", text.strip()), text
    assert cmd(ftp, "MDTM nope.txt")[0] == 550


def test_mfmt(server, ftp, home_kind):
    p = server.home() / "t.txt"
    p.write_text("t")
    code, text = cmd(ftp, "MFMT 20200102030405 t.txt")
    assert code == 213, text
    assert re.match(r"213 Modify=20200102030405; ?/?t\.txt", text.strip()), text
    assert int(p.stat().st_mtime) == calendar.timegm((2020, 1, 2, 3, 4, 5, 0, 0, 0))
    assert cmd(ftp, "MDTM t.txt")[1].strip().startswith("213 20200102030405")
    assert cmd(ftp, "MFMT 20200102030405 missing.txt")[0] == 550
    assert cmd(ftp, "MFMT notatime t.txt")[0] in (500, 501)


def test_mff_unix_mode(server, ftp, home_kind):
    p = server.home() / "mode.txt"
    p.write_text("m")
    if is_s3(p):  # object storage has no permission bits: refused, the file kept
        code, text = cmd(ftp, "MFF UNIX.mode=0700; mode.txt")
        assert code == 504, text
        assert p.read_text() == "m"
        return
    os.chmod(p, 0o644)
    code, text = cmd(ftp, "MFF UNIX.mode=0700; mode.txt")
    assert code == 213, text
    assert "unix.mode=0700" in text.lower(), text
    assert stat.S_IMODE(p.stat().st_mode) == 0o700
    code, text = cmd(ftp, "MFF UNIX.mode=0604; mode.txt")
    assert code == 213, text
    assert stat.S_IMODE(p.stat().st_mode) == 0o604
    assert cmd(ftp, "MFF UNIX.mode=0700; missing.txt")[0] == 550


@pytest.mark.parametrize("command,expected", [
    ("TYPE A", (200,)), ("TYPE I", (200,)), ("TYPE A N", (200,)), ("TYPE L 8", (200, 504)),
    ("TYPE E", (504,)), ("MODE S", (200,)), ("MODE B", (504,)), ("MODE C", (504,)),
    ("STRU F", (200,)), ("STRU R", (504,)), ("STRU P", (504,)), ("ALLO 1000", (200, 202)),
])
def test_type_mode_stru_allo(ftp, command, expected):
    code, text = cmd(ftp, command)
    assert code in expected, "%s -> %s" % (command, text)


def test_rest_350(ftp):
    code, text = cmd(ftp, "REST 100")
    assert code == 350, text
    assert cmd(ftp, "REST abc")[0] in (500, 501)


def test_unknown_command(ftp):
    code, text = cmd(ftp, "FROBNICATE now")
    assert code in (500, 502), text
    assert cmd(ftp, "NOOP")[0] == 200


def test_overlong_line_500_and_session_survives(ftp):
    code, text = cmd(ftp, "NOOP " + "A" * 5000)
    assert code == 500, text
    code, text = cmd(ftp, "NOOP")
    assert code == 200, text
    code, text = cmd(ftp, "CWD " + "b" * 10000)
    assert code == 500, text
    assert cmd(ftp, "PWD")[0] == 257


def test_nul_in_path_501(server, ftp):
    (server.home() / "ab").write_text("x")
    for command in ["RETR a\0b", "SIZE a\0b", "CWD a\0b", "MKD x\0y", "DELE a\0b"]:
        code, text = cmd(ftp, command)
        assert code == 501, "%r -> %s" % (command, text)
    assert (server.home() / "ab").exists()
    assert cmd(ftp, "NOOP")[0] == 200


def test_abor_without_transfer(ftp):
    code, text = cmd(ftp, "ABOR")
    assert code in (225, 226), text
    assert cmd(ftp, "NOOP")[0] == 200


def test_epsv_all(server, ftp):
    (server.home() / "e.txt").write_bytes(b"epsv all")
    code, text = cmd(ftp, "EPSV ALL")
    assert code == 200, text
    for command in ["PASV", "PORT 127,0,0,1,200,1", "EPRT |1|127.0.0.1|51201|"]:
        code, text = cmd(ftp, command)
        assert 500 <= code < 600, "%s after EPSV ALL -> %s" % (command, text)
    assert download(ftp, "e.txt", mode="epsv") == b"epsv all"


def test_mlst_file_and_dir(server, ftp):
    p = server.home() / "ml.txt"
    p.write_bytes(b"1234567")
    os.chmod(p, 0o640)
    ts = calendar.timegm((2022, 11, 24, 10, 0, 0, 0, 0, 0))
    os.utime(p, (ts, ts))
    (server.home() / "mdir").mkdir()
    code, text = cmd(ftp, "MLST ml.txt")
    assert code == 250, text
    lines = text.splitlines()
    assert lines[0].startswith("250-") and lines[-1].startswith("250"), text
    entry = [l for l in lines[1:-1] if l.startswith(" ")]
    assert len(entry) == 1, text
    facts, name = parse_facts(entry[0][1:])
    assert name in ("/ml.txt", "ml.txt"), name
    assert facts["type"] == "file"
    assert facts["size"] == "7"
    assert facts["modify"].startswith("20221124100000")
    assert "r" in facts["perm"]
    assert facts["unique"]
    assert int(facts["unix.mode"], 8) == 0o640
    code, text = cmd(ftp, "MLST mdir")
    assert code == 250, text
    facts, _ = parse_facts([l for l in text.splitlines() if l.startswith(" ")][0][1:])
    assert facts["type"] == "dir"
    assert "l" in facts["perm"] or "e" in facts["perm"]
    assert cmd(ftp, "MLST no-such")[0] == 550


def test_mlst_no_arg_is_cwd(ftp):
    code, text = cmd(ftp, "MLST")
    assert code == 250, text
    facts, _ = parse_facts([l for l in text.splitlines() if l.startswith(" ")][0][1:])
    assert facts["type"] in ("dir", "cdir")


def _hash_reply(ftp, path):
    code, text = cmd(ftp, "HASH " + path)
    assert code == 213, text
    m = re.fullmatch(r"213 (\S+) (\d+)-(\d+) ([0-9a-fA-F]+) (.+)", text.strip())
    assert m, text
    return m.group(1), int(m.group(2)), int(m.group(3)), m.group(4).lower(), m.group(5)


def test_hash_default_sha256(server, ftp):
    data = os.urandom(5000)
    (server.home() / "h.bin").write_bytes(data)
    algo, start, end, digest, name = _hash_reply(ftp, "h.bin")
    assert algo == "SHA-256"
    assert (start, end) == (0, 4999)
    assert digest == hashlib.sha256(data).hexdigest()
    assert name.endswith("h.bin")
    assert cmd(ftp, "HASH missing.bin")[0] == 550


@pytest.mark.parametrize("algo,fn", [("SHA-512", "sha512"), ("SHA-1", "sha1"), ("MD5", "md5"),
                                     ("SHA-256", "sha256")])
def test_opts_hash_selects_algorithm(server, ftp, algo, fn):
    data = os.urandom(3000)
    (server.home() / "h.bin").write_bytes(data)
    code, text = cmd(ftp, "OPTS HASH " + algo)
    assert code == 200, text
    got_algo, start, end, digest, _ = _hash_reply(ftp, "h.bin")
    assert got_algo == algo
    assert (start, end) == (0, 2999)
    assert digest == hashlib.new(fn, data).hexdigest()


def test_opts_hash_unknown_algorithm(ftp):
    code, text = cmd(ftp, "OPTS HASH CRC-99")
    assert 500 <= code < 600, text


def test_rang_limits_hash(server, ftp):
    data = os.urandom(1000)
    (server.home() / "r.bin").write_bytes(data)
    code, text = cmd(ftp, "RANG 0 9")
    assert code == 350, text
    algo, start, end, digest, _ = _hash_reply(ftp, "r.bin")
    assert (start, end) == (0, 9)
    assert digest == hashlib.sha256(data[:10]).hexdigest()
    code, text = cmd(ftp, "RANG 100 199")
    assert code == 350, text
    algo, start, end, digest, _ = _hash_reply(ftp, "r.bin")
    assert (start, end) == (100, 199)
    assert digest == hashlib.sha256(data[100:200]).hexdigest()


UTF8_NAMES = ["héllo wörld.txt", "日本語ファイル.bin", "emoji-😀.dat", "Ωμέγα"]


@pytest.mark.parametrize("name", UTF8_NAMES)
def test_utf8_file_names(server, ftp, name):
    assert cmd(ftp, "OPTS UTF8 ON")[0] == 200
    payload = ("data for " + name).encode()
    upload(ftp, name, data=payload)
    assert (server.home() / name).read_bytes() == payload
    assert name in ftp.nlst()
    assert download(ftp, name) == payload
    code, text = cmd(ftp, "SIZE " + name)
    assert code == 213 and text.strip() == "213 %d" % len(payload)
    code, text, body = listing(ftp, "MLSD")
    assert code == 226 and name in body.decode("utf-8"), text


def test_utf8_directory_names(server, ftp):
    code, text = cmd(ftp, "MKD répertoire ✓")
    assert code == 257 and "répertoire ✓" in text, text
    assert (server.home() / "répertoire ✓").is_dir()
    assert cmd(ftp, "CWD répertoire ✓")[0] == 250
    assert '"/répertoire ✓"' in cmd(ftp, "PWD")[1]


def test_pwd_quotes_doubled(server, ftp):
    (server.home() / 'say "hi"').mkdir()
    assert cmd(ftp, 'CWD say "hi"')[0] == 250
    code, text = cmd(ftp, "PWD")
    assert code == 257 and text.startswith('257 "/say ""hi"""'), text


def test_pipelined_commands(ftp):
    ftp.sock.sendall(b"NOOP\r\nPWD\r\nSYST\r\nTYPE I\r\n")
    codes = [read_reply(ftp)[0] for _ in range(4)]
    assert codes == [200, 257, 215, 200]


def test_command_split_across_segments(ftp):
    ftp.sock.sendall(b"NO")
    time.sleep(0.2)
    ftp.sock.sendall(b"OP\r")
    time.sleep(0.2)
    ftp.sock.sendall(b"\n")
    code, text = read_reply(ftp)
    assert code == 200, text


def test_empty_command_line(ftp):
    ftp.sock.sendall(b"\r\n")
    code, text = read_reply(ftp)
    assert code in (500, 501, 502), text
    assert cmd(ftp, "NOOP")[0] == 200


def test_huge_line_is_discarded_and_session_survives(ftp):
    ftp.sock.sendall(b"NOOP " + b"A" * (1 << 20) + b"\r\nNOOP\r\n")
    codes = []
    while True:
        code, text = read_reply(ftp)
        codes.append(code)
        if code != 500:
            break
        assert len(codes) <= 4, "too many 500 replies for one long line"
    assert codes[0] == 500 and codes[-1] == 200, codes
    assert cmd(ftp, "PWD")[0] == 257
