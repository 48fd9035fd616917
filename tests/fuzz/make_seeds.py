#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target to tests/fuzz/corpus/<target>/.

Seeds are small, real inputs: SFTP packets as OpenSSH's client sends them, FTP
control lines, PORT/EPRT arguments, paths, listing data, configuration files and
PROXY protocol headers as a load balancer sends them.
Run it after changing a harness's input format; the files are committed.
Usage: tests/fuzz/make_seeds.py
"""

import ipaddress
import pathlib
import shutil
import struct

HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE / "corpus"

# SFTP v3 (draft-ietf-secsh-filexfer-02)
INIT, VERSION, OPEN, CLOSE, READ, WRITE, LSTAT, FSTAT, SETSTAT, FSETSTAT = range(1, 11)
OPENDIR, READDIR, REMOVE, MKDIR, RMDIR, REALPATH, STAT, RENAME, READLINK, SYMLINK = range(11, 21)
STATUS, HANDLE, DATA, NAME, ATTRS = range(101, 106)
EXTENDED, EXTENDED_REPLY = 200, 201
READ_, WRITE_, APPEND, CREAT, TRUNC, EXCL = 1, 2, 4, 8, 0x10, 0x20


def u32(v):
    return struct.pack(">I", v)


def u64(v):
    return struct.pack(">Q", v)


def s(v):
    if isinstance(v, str):
        v = v.encode()
    return u32(len(v)) + v


def attrs(size=None, uid_gid=None, perm=None, times=None, ext=()):
    flags, body = 0, b""
    if size is not None:
        flags |= 1
        body += u64(size)
    if uid_gid is not None:
        flags |= 2
        body += u32(uid_gid[0]) + u32(uid_gid[1])
    if perm is not None:
        flags |= 4
        body += u32(perm)
    if times is not None:
        flags |= 8
        body += u32(times[0]) + u32(times[1])
    if ext:
        flags |= 0x80000000
        body += u32(len(ext)) + b"".join(s(k) + s(v) for k, v in ext)
    return u32(flags) + body


def packet(type_, *fields):
    body = bytes([type_]) + b"".join(fields)
    return u32(len(body)) + body


def req(type_, id_, *fields):
    return packet(type_, u32(id_), *fields)


def ext(id_, name, *fields):
    return req(EXTENDED, id_, s(name), *fields)


def sftp_codec():
    """Single packets, requests and replies, as framed on the wire."""
    return {
        "init": packet(INIT, u32(3)),
        "version": packet(VERSION, u32(3), s("posix-rename@openssh.com"), s("1")),
        "open_write": req(OPEN, 1, s("/up.txt"), u32(WRITE_ | CREAT | TRUNC), attrs(perm=0o644)),
        "read": req(READ, 2, s("1"), u64(0), u32(32768)),
        "write": req(WRITE, 3, s("1"), u64(4096), s("hello")),
        "lstat_flags": req(LSTAT, 4, s("/dir"), u32(0x1FF)),
        "setstat_all": req(SETSTAT, 5, s("/f"),
                           attrs(size=10, uid_gid=(1000, 1000), perm=0o100600,
                                 times=(1700000000, 1700000001), ext=[("x@example.com", "v")])),
        "rename": req(RENAME, 6, s("/a"), s("/b")),
        "extended_statvfs": ext(7, "statvfs@openssh.com", s("/")),
        "status": req(STATUS, 8, u32(2), s("No such file"), s("en")),
        "name": req(NAME, 9, u32(1), s("a.txt"),
                    s("-rw-r--r--   1 ftp      ftp             5 Nov 24 10:00 a.txt"),
                    attrs(size=5, perm=0o100644, times=(1, 2))),
        "two_packets": req(CLOSE, 10, s("1")) + req(REALPATH, 11, s(".")),
        "truncated": req(READ, 12, s("1"))[:-2],
    }


def sftp_session():
    """Client streams after INIT (the harness sends INIT). The jail holds
    /hello.txt, /dir/data.bin and /link -> hello.txt; handles count from "1"."""
    upload = (req(OPEN, 1, s("/new.txt"), u32(WRITE_ | CREAT | TRUNC), attrs(perm=0o600))
              + req(WRITE, 2, s("1"), u64(0), s("first "))
              + req(WRITE, 3, s("1"), u64(6), s("second\n"))
              + ext(4, "fsync@openssh.com", s("1"))
              + req(CLOSE, 5, s("1"))
              + req(STAT, 6, s("/new.txt")))
    download = (req(OPEN, 1, s("/dir/data.bin"), u32(READ_), attrs())
                + req(FSTAT, 2, s("1"))
                + req(READ, 3, s("1"), u64(0), u32(1024))
                + req(READ, 4, s("1"), u64(2048), u32(4096))
                + req(READ, 5, s("1"), u64(3000), u32(10))
                + req(CLOSE, 6, s("1")))
    listing = (req(REALPATH, 1, s("."))
               + req(OPENDIR, 2, s("/"))
               + req(READDIR, 3, s("1"))
               + req(READDIR, 4, s("1"))
               + req(CLOSE, 5, s("1"))
               + req(LSTAT, 6, s("/link"))
               + req(READLINK, 7, s("/link")))
    changes = (req(MKDIR, 1, s("/d2"), attrs(perm=0o755))
               + req(RENAME, 2, s("/hello.txt"), s("/d2/h.txt"))
               + req(SYMLINK, 3, s("h.txt"), s("/d2/l"))
               + ext(4, "hardlink@openssh.com", s("/d2/h.txt"), s("/d2/hard"))
               + ext(5, "posix-rename@openssh.com", s("/d2/hard"), s("/d2/h.txt"))
               + req(REMOVE, 6, s("/d2/l"))
               + req(REMOVE, 7, s("/d2/h.txt"))
               + req(RMDIR, 8, s("/d2")))
    attributes = (req(SETSTAT, 1, s("/hello.txt"), attrs(size=5, perm=0o640, times=(1, 2)))
                  + req(OPEN, 2, s("/hello.txt"), u32(READ_ | WRITE_), attrs())
                  + req(FSETSTAT, 3, s("1"), attrs(size=3))
                  + ext(4, "lsetstat@openssh.com", s("/link"), attrs(perm=0o777))
                  + req(SETSTAT, 5, s("/hello.txt"), attrs(uid_gid=(0, 0)))
                  + req(CLOSE, 6, s("1")))
    extensions = (ext(1, "limits@openssh.com")
                  + ext(2, "statvfs@openssh.com", s("/"))
                  + ext(3, "expand-path@openssh.com", s("~/dir"))
                  + ext(4, "home-directory", s("demo"))
                  + ext(5, "users-groups-by-id@openssh.com", s(u32(0) + u32(1)), s(u32(0)))
                  + ext(6, "check-file-name", s("/dir/data.bin"), s("sha256,md5"), u64(0),
                        u64(0), u32(1024)))
    copy = (req(OPEN, 1, s("/hello.txt"), u32(READ_), attrs())
            + req(OPEN, 2, s("/copy.txt"), u32(WRITE_ | CREAT | EXCL), attrs())
            + ext(3, "copy-data", s("1"), u64(0), u64(0), s("2"), u64(0))
            + ext(4, "check-file-handle", s("2"), s("sha1"), u64(0), u64(0), u32(0))
            + ext(5, "fstatvfs@openssh.com", s("2"))
            + req(CLOSE, 6, s("2"))
            + req(CLOSE, 7, s("1")))
    append = (req(OPEN, 1, s("dir/log"), u32(WRITE_ | CREAT | APPEND), attrs())
              + req(WRITE, 2, s("1"), u64(0), s("line\n"))
              + req(CLOSE, 3, s("1")))
    malformed = (packet(INIT, u32(3))                        # INIT again
                 + packet(77, u32(1))                        # unknown type
                 + ext(2, "nosuch@example.com")             # unknown extension
                 + req(STAT, 3, s("/hello.txt"), u32(1), b"x")  # trailing data
                 + req(OPEN, 4, u32(100))                    # string runs past the end
                 + req(READ, 5, s("99"), u64(0), u32(10))    # unknown handle
                 + req(STAT, 6, s("/../../etc/passwd"))      # climbs to the root
                 + packet(CLOSE))                            # no id
    return {
        "upload": upload, "download": download, "listing": listing, "changes": changes,
        "attributes": attributes, "extensions": extensions, "copy": copy, "append": append,
        "malformed": malformed,
    }


def ftp_line():
    """Byte 0: line limit (< 128: limit = byte + 1; else 4096); byte 1: feed size."""
    big, small = b"\xff\x00", b"\x0f\x03"
    return {
        "login": big + b"USER demo\r\nPASS secret\r\nSYST\r\nFEAT\r\nPWD\r\nQUIT\r\n",
        "transfer": big + b"TYPE I\r\nPASV\r\nRETR dir/data.bin\r\nEPSV\r\nSTOR up.txt\r\n"
                          b"REST 100\r\nAPPE log\r\n",
        "listing": big + b"CWD /dir\r\nLIST -la\r\nNLST\r\nMLSD\r\nMLST hello.txt\r\n"
                         b"OPTS MLST type;size;\r\nSTAT .\r\n",
        "files": big + b"mkd new\r\nrnfr a\r\nrnto b\r\nDELE b\r\nMFMT 20240102030405 f\r\n"
                       b"MFF modify=20240102030405;unix.mode=0644; f\r\nSIZE f\r\n",
        "addresses": big + b"PORT 127,0,0,1,19,137\r\nEPRT |2|::1|5282|\r\nEPSV ALL\r\n",
        "tls": big + b"AUTH TLS\r\nPBSZ 0\r\nPROT P\r\nCCC\r\n",
        "telnet_abor": big + b"RETR x\r\n\xff\xf4\xff\xf2ABOR\r\n\xff\xfb\x01NOOP\n",
        "iac_iac": big + b"STOR caf\xff\xff\xc3\xa9\r\n",
        "bare_lf_and_cr": big + b"NOOP\nNOOP\r\r\nA\rB\r\n\r\n",
        "too_long": small + b"USER a-very-long-user-name\r\nNOOP\r\nPASS p\n",
    }


def address():
    return {
        "port": b"127,0,0,1,19,137",
        "port_high": b"255,255,255,255,255,255",
        "eprt_v4": b"|1|192.0.2.7|5282|",
        "eprt_v6": b"|2|2001:db8::1|65535|",
        "eprt_other_delim": b"!2!::ffff:10.0.0.1!1024!",
        "eprt_bad_proto": b"|3|x|1|",
        "listen_v4": b"0.0.0.0:2121",
        "listen_v6": b"[::1]:2222",
        "port_range": b"60000-65535",
    }


def virtual_path():
    """Byte 0: length of the working directory's text, then it, then the path."""
    def seed(cwd, path):
        return bytes([len(cwd)]) + cwd + path
    return {
        "relative": seed(b"/home/demo", b"docs/../notes.txt"),
        "absolute": seed(b"/a/b", b"/x//y/./z/"),
        "climb": seed(b"/a", b"../../../../etc/passwd"),
        "dots": seed(b"", b"./.../..../. ./"),
        "quote": seed(b"/say \"hi\"", b"dir \"x\""),
        "nul": seed(b"/", b"a\x00b"),
        "empty": seed(b"/dir", b""),
    }


def listing():
    """FuzzedDataProvider layout: strings from the front (a backslash followed by
    another character ends one), integers from the back, taken in the order
    the harness asks: type, size, mtime, mode, nlink, device, inode, now, facts, code."""
    i32_min = -(2 ** 31)

    def integers(type_, size, mtime, mode, nlink, dev, ino, now, facts, code):
        # Each integer takes as many bytes as its range needs from the end, the
        # last byte being the most significant; later integers come before.
        out = b""

        def take(value, nbytes):
            nonlocal out
            out = value.to_bytes(nbytes, "little") + out
        take(type_, 1)
        take(size, 8)
        take(mtime - i32_min, 5)  # range 2^31 + 9e9 fits 5 bytes
        take(mode, 4)
        take(nlink, 4)
        take(dev, 8)
        take(ino, 8)
        take(now, 5)  # 0 to 5.68e9: 5 bytes too
        take(facts, 4)
        take(code - 100, 2)
        return out

    def seed(name, time_val, rest, *ints):
        return (name.replace(b"\\", b"\\\\") + b"\\x" + time_val + b"\\x" + rest
                + integers(*ints))

    now = 1764000000
    return {
        "file": seed(b"notes.txt", b"20251124100000", b"type;size;modify;",
                     0, 5, now - 3600, 0o644, 1, 64769, 1234, now, 63, 250),
        "dir_old": seed(b"old dir", b"19700101000000.123", b"perm;unique;unix.mode",
                        1, 4096, 0, 0o755, 3, 1, 2, now, 1, 226),
        "symlink_future": seed(b"link", b"20991231235960", b"TYPE;Size",
                               2, 9, now + 10 ** 8, 0o777, 1, 0, 0, now, 0, 213),
        "crlf_name": seed(b"evil\r\n226 done", b"bad", b"line one\tline two\t211 End",
                          0, 0, now, 0o600, 1, 0, 0, now, 31, 211),
    }


def glob():
    """A name pattern, '\\n', a name."""
    return {
        "star": b"*.txt\na.txt",
        "question": b"a?.txt\nab.txt",
        "class": b"[ab]*\nbanana",
        "negated_range": b"[!a-c]x\ndx",
        "hidden": b"*\n.profile",
        "bracket": b"[]]\n]",
        "stars": b"*a*b*c\nxaybzc",
    }


def args():
    """The argument of SITE CHMOD's mode, SITE UTIME or an X* hash verb."""
    return {
        "mode": b"0644",
        "mode_setuid": b"4755",
        "utime_short": b"20200102030405 a file.txt",
        "utime_five": b"my file.txt 20210101000000 20200102030405 20200102030405 UTC",
        "hash_range": b"file.bin 10 20",
        "hash_quoted": b'"a b.txt" 0 42575',
    }


HOME = 'home = "home"'
CONFIGS = {
    "full": f'''# every section
[server]
state_dir = "state"
threads = 2

[ftp]
listen = ["127.0.0.1:2121", "[::1]:2121"]
passive_ports = "60000-60100"
passive_address = "203.0.113.7"
active_data_port = 20
idle_timeout = 300
login_timeout = 60
data_timeout = 60
failed_login_delay_ms = 1000
max_line = 4096
tls = "optional"

[ftps]
listen = ["127.0.0.1:990"]
active_data_port = 989

[tls]
certificate = "cert.pem"
require_session_reuse = true
min_version = "1.2"
handshake_timeout = 30

[sftp]
listen = ["0.0.0.0:2222"]
host_keys = ["keys"]

[[user]]
name = "demo"
password = "secret"
{HOME}

[[user]]
name = "hashed"
password_hash = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
{HOME}
authorized_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB demo@host"]

[[user]]
name = "keyonly"
authorized_keys_file = "keys"
{HOME}
''',
    "minimal": '[ftp]\nlisten = ["0.0.0.0:21"]\n',
    "sftp_only": '[sftp]\nlisten = ["[::]:22"]\n',
    "empty": "",
    "inline_tables": 'ftp = { listen = ["127.0.0.1:0"], tls = "required" }\n'
                     f'user = [{{ name = "a", password = "p", {HOME} }}]\n',
    "bad_values": '[ftp]\nlisten = ["1.2.3.4"]\npassive_ports = "9-1"\ntls = "maybe"\n',
    "unknown_key": '[ftp]\nlisten = ["0.0.0.0:21"]\n"odd key" = 1\n',
    "syntax_error": "[ftp\nlisten = \n",
    "duplicate_user": f'[ftp]\nlisten = ["0.0.0.0:21"]\n[[user]]\nname = "a"\npassword = "x"\n{HOME}\n'
                      f'[[user]]\nname = "a"\npassword = "y"\n{HOME}\n',
    "escapes": '[ftp]\nlisten = ["0.0.0.0:21"]\ntls = "o\\u0066f"\n[server]\nstate_dir = """\nmulti\n"""\n',
}


def config():
    return {name: text.encode() for name, text in CONFIGS.items()}


def authorized_keys():
    key = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    return {
        "plain": f"ssh-ed25519 {key} alice@laptop\n".encode(),
        "options": (f'from="10.0.0.0/8,!10.9.*,2001:db8::/32",expiry-time="20301231Z" '
                    f"ssh-ed25519 {key} bob\n").encode(),
        "sftp_only": (f'restrict,command="internal-sftp -d /",no-pty ssh-rsa {key}\n'
                      f"# a comment\n\n"
                      f"ecdsa-sha2-nistp256 {key}\n").encode(),
        "refused": (f'cert-authority,principals="a,b" ssh-ed25519 {key}\n'
                    f'command="/bin/sh" ssh-ed25519 {key}\n'
                    f'from="192.0.2.?,*.example.org" ssh-ed25519 {key}\n').encode(),
        "quoting": (f'environment="A=\\"x y\\"",from="*" sk-ssh-ed25519@openssh.com {key}\n'
                    f'from="unterminated ssh-ed25519 {key}\n').encode(),
    }


# PROXY protocol v2 (HAProxy's proxy-protocol.txt, section 2.2)
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def proxy_v2(ver_cmd, family, body):
    return V2_SIGNATURE + bytes([ver_cmd, family]) + struct.pack(">H", len(body)) + body


def tlv(type_, value):
    return bytes([type_]) + struct.pack(">H", len(value)) + value


def proxy_header():
    """A connection's first bytes: a header and what the protocol sends after it."""
    inet = (ipaddress.ip_address("192.0.2.1").packed + ipaddress.ip_address("198.51.100.7").packed
            + struct.pack(">HH", 56324, 21))
    inet6 = (ipaddress.ip_address("2001:db8::1").packed + ipaddress.ip_address("::1").packed
             + struct.pack(">HH", 2222, 22))
    unix = b"/run/lb.sock".ljust(108, b"\x00") + b"/run/berth.sock".ljust(108, b"\x00")
    v6_max = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
    return {
        "v1_tcp4": b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 21\r\n",
        "v1_tcp6_ssh": b"PROXY TCP6 2001:db8::1 ::ffff:192.0.2.1 65535 22\r\nSSH-2.0-OpenSSH_9.2\r\n",
        "v1_unknown": b"PROXY UNKNOWN\r\n",
        "v1_unknown_longest": f"PROXY UNKNOWN {v6_max} {v6_max} 65535 65535\r\n".encode(),
        "v1_bad_port": b"PROXY TCP4 1.2.3.4 5.6.7.8 01 65536\r\n",
        "v1_lone_lf": b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\nUSER demo\r\n",
        "v2_inet_ssh": proxy_v2(0x21, 0x11, inet) + b"SSH-2.0-x\r\n",
        "v2_inet6_tlvs_tls": proxy_v2(0x21, 0x21, inet6 + tlv(0x01, b"h2") + tlv(0x04, b"")
                                      + tlv(0x20, bytes([1, 0, 0, 0, 0]) + tlv(0x21, b"TLSv1.3")))
                             + b"\x16\x03\x01\x00\x05",
        "v2_local": proxy_v2(0x20, 0x00, b""),
        "v2_unspec": proxy_v2(0x21, 0x00, b""),
        "v2_unix": proxy_v2(0x21, 0x31, unix),
        "v2_truncated": proxy_v2(0x21, 0x11, inet)[:20],
        "v2_bad_tlv": proxy_v2(0x21, 0x11, inet + b"\x04\x00\x09ab"),
    }


def scp():
    """An exec command, a NUL, then what the client sends (scp.cpp's harness)."""
    def case(command, body):
        return command.encode() + b"\0" + body
    return {
        "upload": case("scp -t -- /", b"C0644 5 a b.txt\nhello\0"),
        "preserve": case("scp -p -t .", b"T1600000000 0 1500000000 0\nC4755 3 x\nabc\0"),
        "tree": case("scp -r -d -t -- 'up dir'",
                     b"D0755 0 top\nC0644 2 f\nhi\0D0700 0 e\nE\nE\n"),
        "download": case("scp -r -p -f 'a b'", b"\0\0\0\0"),
        "warning": case("scp -v -f \"x\"", b"\0\x01scp: x: Permission denied\n"),
        "fatal": case("scp -q -t x", b"\x02scp: gone\n"),
        "bad_name": case("scp -t /", b"C0644 1 ../x\nx\0"),
        "bad_size": case("scp -t /", b"C0644 99999999999999999999 x\n"),
        "shell": case("scp -t a; id", b""),
    }


def deflate():
    """A room/level byte, then MODE Z data: good streams, a cut one, garbage."""
    import zlib
    text = b"berth MODE Z " * 40
    return {
        "text": b"\x05" + zlib.compress(text, 6),
        "empty": b"\x00" + zlib.compress(b"", 1),
        "zeros": b"\xff" + zlib.compress(bytes(64 * 1024), 9),
        "cut": b"\x10" + zlib.compress(text)[:20],
        "trailing": b"\x20" + zlib.compress(b"x") + b"junk",
        "garbage": b"\x07not a zlib stream",
    }


TARGETS = {
    "sftp_codec": sftp_codec,
    "sftp_session": sftp_session,
    "ftp_line": ftp_line,
    "address": address,
    "virtual_path": virtual_path,
    "listing": listing,
    "glob": glob,
    "args": args,
    "config": config,
    "authorized_keys": authorized_keys,
    "proxy_header": proxy_header,
    "scp": scp,
    "deflate": deflate,
}


def main():
    for target, make in TARGETS.items():
        out = CORPUS / target
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        for name, data in make().items():
            (out / name).write_bytes(data)


if __name__ == "__main__":
    main()
