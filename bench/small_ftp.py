"""Many small files over FTPS in one session, with Python's ftplib: uploads
every file of --local into a new folder --remote, then downloads them all into
--back. Explicit TLS (AUTH TLS, PROT P), TLS 1.3, and each
data connection resumes the control connection's TLS session (RFC 4217 10.2,
what vsftpd's require_ssl_reuse and berth ask for; ftplib alone does not).

Python's ssl can not choose TLS 1.3 suites: the caller pins one through
OpenSSL's configuration (OPENSSL_CONF, Ciphersuites), and --cipher makes
sure it was used. Prints "UP DOWN": files per second of each step. lftp is not used for this
row: it waits 50-100 ms on each FTPS data connection, whichever the server."""
import argparse
import ftplib
import os
import ssl
import sys
import time


class ReusingFTP_TLS(ftplib.FTP_TLS):
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host,
                                            session=self.sock.session)
        return conn, size


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--local", required=True)
    ap.add_argument("--remote", required=True)
    ap.add_argument("--back", required=True)
    ap.add_argument("--cipher", help="fail unless the control connection uses this suite")
    a = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    f = ReusingFTP_TLS(context=ctx, timeout=30)
    f.connect("127.0.0.1", a.port)
    f.login(a.user, a.password)
    used = f.sock.cipher()[0]
    if a.cipher and used != a.cipher:
        print("the connection uses %s, not %s" % (used, a.cipher), file=sys.stderr)
        return 1
    f.prot_p()
    f.voidcmd("TYPE I")
    f.mkd(a.remote)
    f.cwd(a.remote)
    names = sorted(os.listdir(a.local))
    t0 = time.monotonic()
    for n in names:
        with open(os.path.join(a.local, n), "rb") as src:
            f.storbinary("STOR " + n, src)
    t1 = time.monotonic()
    for n in names:
        with open(os.path.join(a.back, n), "wb") as dst:
            f.retrbinary("RETR " + n, dst.write)
    t2 = time.monotonic()
    f.quit()
    print("%.0f %.0f" % (len(names) / (t1 - t0), len(names) / (t2 - t1)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
