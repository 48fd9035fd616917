"""S3 homes for the integration tests: a bucket on the tests' radosgw seen
through a small pathlib-like S3Path, so that a test written against a local
home (`srv.home() / "x.bin"`, `.write_bytes`, `.read_bytes`, `.stat().st_size`,
`.mkdir()`, `.exists()`, `.is_dir()`) checks an S3 home the same way.

Keys follow the S3 backend's layout: a file is the object PREFIX/path, a folder
a zero-byte "PREFIX/path/" marker or any key below it."""

import hashlib
import itertools
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "support"))

import radosgw  # noqa: E402  (tests/support)

_bucket_counter = itertools.count(1)


def external_env():
    """The KEY=VALUE dict of $BERTH_TEST_S3_ENV (a radosgw started elsewhere,
    e.g. by `radosgw.py run DIR`), or None."""
    path = os.environ.get("BERTH_TEST_S3_ENV")
    return radosgw.read_env(path) if path else None


class ExternalRadosgw:
    """A radosgw someone else runs, described by an env file."""

    def __init__(self, env):
        self.endpoint = env["BERTH_TEST_S3_ENDPOINT"]
        self.access_key = env["BERTH_TEST_S3_ACCESS_KEY"]
        self.secret_key = env["BERTH_TEST_S3_SECRET_KEY"]
        self.region = env.get("BERTH_TEST_S3_REGION", radosgw.REGION)
        # `radosgw.py run DIR` writes DIR/env: its admin sockets are in DIR/run
        folder = Path(os.environ.get("BERTH_TEST_S3_ENV", ".")).resolve().parent
        self.dir = folder if (folder / "run" / "client.rgw.asok").exists() else None

    boto3_client = radosgw.Radosgw.boto3_client
    make_bucket = radosgw.Radosgw.make_bucket

    def stop(self):
        pass


def bucket_name(prefix=radosgw.BUCKET_PREFIX):
    """A bucket name no other test or xdist worker uses."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")
    return ("%s-%s-%d-%d" % (prefix, worker, os.getpid(), next(_bucket_counter))).lower()


def empty_bucket(client, bucket):
    """Deletes every object and unfinished multipart upload, then the bucket."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    for u in uploads:
        client.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
    client.delete_bucket(Bucket=bucket)


def is_s3(path):
    """True for an S3Path (a home in a bucket), False for a local Path."""
    return isinstance(path, S3Path)


def set_mtime(path, ts):
    """os.utime(path, (ts, ts)) for a local file, S3Path.set_mtime for an S3 one."""
    if is_s3(path):
        path.set_mtime(ts)
    else:
        os.utime(path, (ts, ts))


class S3Home:
    """The [s3] section and the bucket for a BerthServer whose users' homes
    are s3://BUCKET/USER."""

    def __init__(self, rgw, bucket):
        self.rgw = rgw
        self.bucket = bucket
        self.client = rgw.boto3_client()

    def section(self):
        return {"endpoint": self.rgw.endpoint, "region": self.rgw.region,
                "access_key": self.rgw.access_key, "secret_key": self.rgw.secret_key,
                "path_style": True}

    def url(self, user):
        return "s3://%s/%s" % (self.bucket, user)

    def path(self, user):
        return S3Path(self.client, self.bucket, user)


class S3Stat:
    def __init__(self, size, mtime, is_dir):
        self.st_size = size
        self.st_mtime = mtime
        self.is_dir = is_dir


class S3Path:
    """A file or folder of an S3 home, pathlib-style (what the tests use)."""

    def __init__(self, client, bucket, key):
        self.client = client
        self.bucket = bucket
        self.key = key.strip("/")

    def __truediv__(self, name):
        return S3Path(self.client, self.bucket, self.key + "/" + str(name).strip("/"))

    def __eq__(self, other):
        return isinstance(other, S3Path) and (self.bucket, self.key) == (other.bucket, other.key)

    def __hash__(self):
        return hash((self.bucket, self.key))

    def __repr__(self):
        return "S3Path(s3://%s/%s)" % (self.bucket, self.key)

    def __str__(self):
        return "s3://%s/%s" % (self.bucket, self.key)

    @property
    def name(self):
        return self.key.rsplit("/", 1)[-1]

    @property
    def parent(self):
        return S3Path(self.client, self.bucket, self.key.rsplit("/", 1)[0])

    # ------------------------------------------------------------ files

    def write_bytes(self, data):
        self.client.put_object(Bucket=self.bucket, Key=self.key, Body=data)
        return len(data)

    def write_text(self, text):
        return self.write_bytes(text.encode())

    def touch(self):
        self.write_bytes(b"")

    def upload_from(self, local_path):
        """Uploads a local file (multipart when large, as boto3 does)."""
        self.client.upload_file(str(local_path), self.bucket, self.key)

    def read_bytes(self):
        return self._get()["Body"].read()

    def read_text(self):
        return self.read_bytes().decode()

    def sha256(self):
        h = hashlib.sha256()
        for chunk in self._get()["Body"].iter_chunks(1 << 20):
            h.update(chunk)
        return h.hexdigest()

    def _get(self):
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.key)
        except self.client.exceptions.NoSuchKey:
            raise FileNotFoundError(str(self)) from None

    def _head(self):
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self.key)
        except self.client.exceptions.ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def set_mtime(self, ts):
        """The modification time the S3 backend shows (x-amz-meta-mtime, as
        MFMT sets it): a CopyObject onto itself."""
        self.client.copy_object(Bucket=self.bucket, Key=self.key,
                                CopySource={"Bucket": self.bucket, "Key": self.key},
                                Metadata={"mtime": str(int(ts))}, MetadataDirective="REPLACE")

    def unlink(self):
        if self._head() is None:
            raise FileNotFoundError(str(self))
        self.client.delete_object(Bucket=self.bucket, Key=self.key)

    # ------------------------------------------------------------ folders

    def mkdir(self, parents=False, exist_ok=False):
        if self.exists() and not exist_ok:
            raise FileExistsError(str(self))
        self.client.put_object(Bucket=self.bucket, Key=self.key + "/", Body=b"")

    def _below(self, max_keys=1):
        r = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.key + "/",
                                        MaxKeys=max_keys)
        return r.get("Contents", [])

    def is_dir(self):
        return bool(self._below())

    def is_file(self):
        return self._head() is not None

    def exists(self):
        return self.is_file() or self.is_dir()

    def iterdir(self):
        names = set()
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.key + "/", Delimiter="/")
        for page in pages:
            for o in page.get("Contents", []):
                rest = o["Key"][len(self.key) + 1:]
                if rest:
                    names.add(rest)
            for p in page.get("CommonPrefixes", []):
                names.add(p["Prefix"][len(self.key) + 1:].rstrip("/"))
        return [self / n for n in sorted(names)]

    def rglob(self, pattern):
        """Every file and folder below (pattern "*" only, as the tests use it)."""
        assert pattern == "*", pattern
        found = set()
        for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.key + "/"):
            for o in page.get("Contents", []):
                rest = o["Key"][len(self.key) + 1:]
                parts = rest.split("/")
                for i in range(1, len(parts)):
                    found.add("/".join(parts[:i]))
                if parts[-1]:
                    found.add(rest)
        return [self / n for n in sorted(found)]

    def stat(self):
        h = self._head()
        if h is not None:
            meta = h.get("Metadata", {})
            mtime = float(meta["mtime"]) if "mtime" in meta else h["LastModified"].timestamp()
            return S3Stat(h["ContentLength"], mtime, False)
        if self.is_dir():
            return S3Stat(0, time.time(), True)
        raise FileNotFoundError(str(self))
