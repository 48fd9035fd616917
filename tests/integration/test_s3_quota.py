"""Quotas of homes in object storage: the usage is a counter in the node
database, kept with every change, read at login instead of walking the bucket
(issue 19, "Quotas"). Against a real radosgw (fixtures in conftest.py)."""

import io
import sqlite3

import pytest

import s3helpers
from ftphelpers import MiB, ftp_login, quit_quietly, stor_refused

pytestmark = pytest.mark.s3


def stored_usage(srv, user):
    db = sqlite3.connect(str(srv.state_dir / "users.db"))
    try:
        row = db.execute("SELECT bytes, files FROM usage_counters WHERE user_name = ?",
                         (user,)).fetchone()
    finally:
        db.close()
    return row


@pytest.fixture
def s3_server(start_server, radosgw, s3_bucket):
    home = s3helpers.S3Home(radosgw, s3_bucket())

    def _start(**rules):
        return start_server(listen=("127.0.0.1:0",), users=["alice"], s3_home=home,
                            user_rules={"alice": rules})
    return _start


def upload(srv, name, size):
    ftp = ftp_login(srv)
    try:
        return ftp.storbinary("STOR " + name, io.BytesIO(b"x" * size))
    finally:
        quit_quietly(ftp)


def test_every_change_is_added_to_the_stored_counter(s3_server):
    srv = s3_server(quota_bytes=64 * MiB)
    assert stored_usage(srv, "alice") is None, "nothing is counted before a login"
    upload(srv, "a.bin", 3 * MiB)
    upload(srv, "b.bin", 1 * MiB)
    ftp = ftp_login(srv)
    ftp.delete("b.bin")
    ftp.mkd("folder")
    quit_quietly(ftp)
    srv.stop()  # the workers finish their queued adds before the process ends
    # a.bin, and the folder's marker as LocalFs counts a directory (4096 bytes, one file).
    assert stored_usage(srv, "alice") == (3 * MiB + 4096, 2)


def test_login_reads_the_counter_not_the_bucket(s3_server):
    srv = s3_server(quota_bytes=10 * MiB)
    upload(srv, "mine.bin", 3 * MiB)
    srv.stop()
    # 5 MiB written behind berth's back: a walk of the bucket would count it
    # (8 MiB used, so 4 MiB more would be refused); the counter does not.
    home = srv.home("alice")
    (home / "behind.bin").write_bytes(b"y" * (5 * MiB))
    srv.start()
    assert upload(srv, "more.bin", 4 * MiB).startswith("226")
    ftp = ftp_login(srv)
    refused = stor_refused(ftp, "over.bin", b"z" * (4 * MiB))
    assert refused.startswith("552"), refused
    quit_quietly(ftp)
    srv.stop()
    assert stored_usage(srv, "alice") == (7 * MiB, 2)
    assert not (home / "over.bin").exists(), "a refused upload leaves nothing"
