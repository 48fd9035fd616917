"""LIST (ls -l style), NLST (names only), MLSD/MLST facts, over every data
connection mode and IPv6."""

import calendar
import os

import pytest

from ftphelpers import cmd, download, listing, parse_facts, parse_ls, quit_quietly
from s3helpers import is_s3, set_mtime

MODES = ["pasv", "epsv", "port", "eprt"]


@pytest.fixture
def tree(server):
    h = server.home()
    (h / "docs").mkdir()
    (h / "docs" / "inner.txt").write_bytes(b"inner")
    (h / "empty").mkdir()
    (h / "file1.txt").write_bytes(b"a" * 1024)
    (h / "with space.txt").write_bytes(b"sp")
    (h / "zero.bin").write_bytes(b"")
    ts = calendar.timegm((2022, 11, 24, 10, 0, 0, 0, 0, 0))
    set_mtime(h / "file1.txt", ts)
    if not is_s3(h):  # an S3 home shows files as 0644 and folders as 0755
        os.chmod(h / "file1.txt", 0o644)
        os.chmod(h / "docs", 0o755)
    return h


def _decode(body):
    return body.decode("utf-8")


@pytest.mark.parametrize("mode", MODES)
def test_list_ls_format(tree, ftp, mode, home_kind):
    code, text, body = listing(ftp, "LIST", mode=mode)
    assert code == 226, text
    assert body.endswith(b"\r\n"), "LIST lines must end with CRLF"
    entries = parse_ls(_decode(body))
    assert set(entries) >= {"docs", "empty", "file1.txt", "with space.txt", "zero.bin"}, entries
    assert "." not in entries or entries["."]["type"] == "d"
    f = entries["file1.txt"]
    assert f["type"] == "-" and f["perm"] == "rw-r--r--" and f["size"] == "1024"
    assert f["date"].split() == ["Nov", "24", "2022"], f  # older than 6 months: year shown
    assert entries["docs"]["type"] == "d" and entries["docs"]["perm"] == "rwxr-xr-x"
    assert entries["zero.bin"]["size"] == "0"


def test_list_subdir_and_file(tree, ftp, home_kind):
    code, text, body = listing(ftp, "LIST docs")
    assert code == 226, text
    assert list(parse_ls(_decode(body))) == ["inner.txt"]
    code, text, body = listing(ftp, "LIST /file1.txt")
    assert code == 226, text
    entries = parse_ls(_decode(body))
    assert len(entries) == 1 and list(entries.values())[0]["size"] == "1024"


def test_list_empty_dir(tree, ftp, home_kind):
    code, text, body = listing(ftp, "LIST empty")
    assert code == 226, text
    assert parse_ls(_decode(body)) == {} or set(parse_ls(_decode(body))) <= {".", ".."}


def test_list_missing_path(tree, ftp, home_kind):
    code, text, body = listing(ftp, "LIST no-such-dir")
    assert code in (450, 550), text
    assert cmd(ftp, "NOOP")[0] == 200


def test_list_after_cwd(tree, ftp):
    assert cmd(ftp, "CWD docs")[0] == 250
    code, text, body = listing(ftp, "LIST")
    assert list(parse_ls(_decode(body))) == ["inner.txt"]


@pytest.mark.parametrize("mode", MODES)
def test_nlst_names_only(tree, ftp, mode, home_kind):
    code, text, body = listing(ftp, "NLST", mode=mode)
    assert code == 226, text
    names = [n for n in _decode(body).split("\r\n") if n]
    assert sorted(n.lstrip("/") for n in names) == sorted(
        ["docs", "empty", "file1.txt", "with space.txt", "zero.bin"]), names


def test_nlst_subdir(tree, ftp):
    code, text, body = listing(ftp, "NLST docs")
    assert code == 226, text
    names = [n for n in _decode(body).split("\r\n") if n]
    assert [os.path.basename(n) for n in names] == ["inner.txt"], names


def test_nlst_empty_dir(tree, ftp, home_kind):
    code, text, body = listing(ftp, "NLST empty")
    assert code in (226, 450, 550), text
    if code == 226:
        assert body.strip() == b""


@pytest.mark.parametrize("mode", MODES)
def test_mlsd_facts(tree, ftp, mode, home_kind):
    code, text, body = listing(ftp, "MLSD", mode=mode)
    assert code == 226, text
    entries = {}
    for line in _decode(body).split("\r\n"):
        if not line:
            continue
        facts, name = parse_facts(line)
        entries[name] = facts
    for kind in ("cdir", "pdir"):
        for n, f in list(entries.items()):
            if f["type"] == kind:
                del entries[n]
    assert set(entries) == {"docs", "empty", "file1.txt", "with space.txt", "zero.bin"}, entries
    for name, facts in entries.items():
        for fact in ("type", "size", "modify", "perm", "unique", "unix.mode"):
            if fact == "size" and facts["type"] == "dir":
                continue
            assert fact in facts, (name, facts)
    f = entries["file1.txt"]
    assert f["type"] == "file" and f["size"] == "1024"
    assert f["modify"].startswith("20221124100000")
    assert int(f["unix.mode"], 8) == 0o644
    assert "r" in f["perm"]
    assert entries["docs"]["type"] == "dir"
    assert int(entries["docs"]["unix.mode"], 8) == 0o755
    assert entries["zero.bin"]["size"] == "0"
    uniques = [f["unique"] for f in entries.values()]
    assert len(set(uniques)) == len(uniques), "unique facts collide"


def test_mlsd_on_file_fails(tree, ftp):
    code, text, body = listing(ftp, "MLSD file1.txt")
    assert code == 501 or code == 550, text


def test_mlsd_subdir(tree, ftp, home_kind):
    code, text, body = listing(ftp, "MLSD docs")
    assert code == 226, text
    names = [parse_facts(l)[1] for l in _decode(body).split("\r\n") if l]
    facts = [parse_facts(l)[0] for l in _decode(body).split("\r\n") if l]
    files = [n for n, f in zip(names, facts) if f["type"] == "file"]
    assert files == ["inner.txt"]


def test_listing_ipv6(tree, server):
    ftp = server.login(ipv6=True)
    try:
        for mode in ("epsv", "eprt"):
            code, text, body = listing(ftp, "LIST", mode=mode)
            assert code == 226 and "file1.txt" in parse_ls(_decode(body))
            code, text, body = listing(ftp, "MLSD", mode=mode)
            assert code == 226 and b"file1.txt" in body
    finally:
        quit_quietly(ftp)


def test_ftplib_mlsd_and_nlst(tree, ftp):
    names = dict(ftp.mlsd())
    assert "file1.txt" in names and names["file1.txt"]["type"] == "file"
    assert "docs" in ftp.nlst()
    lines = []
    ftp.retrlines("LIST", lines.append)
    assert any(l.endswith(" file1.txt") for l in lines)


def test_listing_reflects_changes(tree, ftp, home_kind):
    assert cmd(ftp, "MKD fresh")[0] == 257
    assert cmd(ftp, "DELE zero.bin")[0] == 250
    names = ftp.nlst()
    assert "fresh" in names and "zero.bin" not in names


def test_list_symlink_inside_is_listed(tree, ftp):
    """Links are listed as themselves (issue 17), as vsftpd lists them: LIST
    "l... name -> target", MLSD type=OS.unix=symlink; RETR still follows."""
    os.symlink("file1.txt", tree / "link-to-file1")
    os.mkdir(tree / "adir")
    os.symlink("adir", tree / "link-to-dir")
    code, text, body = listing(ftp, "LIST")
    assert code == 226
    lines = {l.split(" -> ")[0].split()[-1]: l for l in _decode(body).split("\r\n") if l}
    assert lines["link-to-file1"].startswith("l"), lines["link-to-file1"]
    assert lines["link-to-file1"].endswith(" link-to-file1 -> file1.txt")
    assert lines["link-to-dir"].startswith("l") and lines["link-to-dir"].endswith(" -> adir")
    assert lines["adir"].startswith("d")
    code, text, body = listing(ftp, "MLSD")
    assert code == 226, text
    facts = dict((name, f) for f, name in
                 (parse_facts(l) for l in _decode(body).split("\r\n") if l))
    assert facts["link-to-file1"]["type"].lower() == "os.unix=symlink", facts["link-to-file1"]
    assert facts["link-to-dir"]["type"].lower() == "os.unix=symlink"
    assert facts["adir"]["type"] == "dir"
    assert download(ftp, "link-to-file1") == (tree / "file1.txt").read_bytes()


def test_large_directory_listing(server, ftp):
    d = server.home() / "many"
    d.mkdir()
    names = {"file-%05d-%s.txt" % (i, "x" * (i % 40)) for i in range(3000)}
    for n in names:
        (d / n).write_bytes(b"")
    code, text, body = listing(ftp, "NLST many")
    assert code == 226, text
    got = {os.path.basename(n) for n in _decode(body).split("\r\n") if n}
    assert got == names
    code, text, body = listing(ftp, "MLSD many", mode="port")
    assert code == 226, text
    got = {parse_facts(l)[1] for l in _decode(body).split("\r\n") if l}
    assert got - {".", ".."} == names
    code, text, body = listing(ftp, "LIST many", mode="epsv")
    assert code == 226, text
    assert set(parse_ls(_decode(body))) - {".", ".."} == names


def test_dot_prefixed_names_are_not_parent_refs(server, ftp):
    h = server.home()
    (h / "..hidden").write_bytes(b"dd")
    (h / "...").mkdir()
    (h / "..." / "x.txt").write_bytes(b"x")
    assert download(ftp, "..hidden") == b"dd"
    assert download(ftp, ".../x.txt") == b"x"
    assert cmd(ftp, "CWD ...")[0] == 250
    assert '"/..."' in cmd(ftp, "PWD")[1]
