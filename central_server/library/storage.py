"""Content-addressed blob storage (sha256): local disk or an S3-compatible store, behind one interface.

A blob is written once under its hash, so the same file uploaded twice is stored once, and a write is
atomic (temporary file + rename locally; a single PUT on S3): a reader never sees half a file.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1024 * 1024


class BlobNotFound(KeyError):
    pass


def check_digest(sha256: str) -> str:
    if not _SHA256.match(sha256 or ""):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return sha256


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


class BlobStore(Protocol):
    def put_file(self, path: Path, sha256: str) -> bool:
        """Store the file at `path` (already hashed) under `sha256`; True if it was new. `path` is consumed."""

    def put_bytes(self, data: bytes) -> str:
        """Store bytes; returns their sha256."""

    def exists(self, sha256: str) -> bool: ...

    def open(self, sha256: str) -> BinaryIO:
        """A readable binary stream; BlobNotFound if absent."""

    def iter_chunks(self, sha256: str) -> Iterator[bytes]: ...

    def delete(self, sha256: str) -> None: ...

    def spool_dir(self) -> Path:
        """A local folder for upload temporaries (same filesystem as the blobs for local storage)."""


class LocalBlobStore:
    def __init__(self, root: Path | str):
        self.root = Path(root)
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)

    def _path(self, sha256: str) -> Path:
        check_digest(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def spool_dir(self) -> Path:
        return self.root / "tmp"

    def put_file(self, path: Path, sha256: str) -> bool:
        dest = self._path(sha256)
        if dest.exists():
            Path(path).unlink(missing_ok=True)
            return False
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(path, dest)
        except OSError:  # other filesystem: copy to a temporary beside the target, then rename
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
            with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
                shutil.copyfileobj(src, out, CHUNK)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, dest)
            Path(path).unlink(missing_ok=True)
        return True

    def put_bytes(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        if not self.exists(sha):
            fd, tmp = tempfile.mkstemp(dir=self.spool_dir(), prefix="b-")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            self.put_file(Path(tmp), sha)
        return sha

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        try:
            return open(self._path(sha256), "rb")
        except FileNotFoundError as exc:
            raise BlobNotFound(sha256) from exc

    def iter_chunks(self, sha256: str) -> Iterator[bytes]:
        with self.open(sha256) as f:
            yield from iter(lambda: f.read(CHUNK), b"")

    def delete(self, sha256: str) -> None:
        self._path(sha256).unlink(missing_ok=True)


class S3BlobStore:
    """Any S3-compatible store (MinIO, Ceph RGW, AWS S3, Viettel/VNPT object storage) through boto3."""

    def __init__(self, bucket: str, *, endpoint_url: str | None = None, access_key: str | None = None,
                 secret_key: str | None = None, region: str = "us-east-1", prefix: str = "library/",
                 spool: Path | str | None = None, client=None):
        import boto3  # optional dependency: only needed when S3 storage is configured

        self.bucket = bucket
        self.prefix = prefix
        self.client = client or boto3.client(
            "s3", endpoint_url=endpoint_url, aws_access_key_id=access_key,
            aws_secret_access_key=secret_key, region_name=region,
        )
        self._spool = Path(spool or tempfile.gettempdir()) / "library-spool"
        self._spool.mkdir(parents=True, exist_ok=True)

    def _key(self, sha256: str) -> str:
        check_digest(sha256)
        return f"{self.prefix}{sha256[:2]}/{sha256}"

    def spool_dir(self) -> Path:
        return self._spool

    def exists(self, sha256: str) -> bool:
        from botocore.exceptions import ClientError  # with boto3: only when S3 storage is configured

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(sha256))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def put_file(self, path: Path, sha256: str) -> bool:
        try:
            if self.exists(sha256):
                return False
            self.client.upload_file(str(path), self.bucket, self._key(sha256))
            return True
        finally:
            Path(path).unlink(missing_ok=True)

    def put_bytes(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        if not self.exists(sha):
            self.client.put_object(Bucket=self.bucket, Key=self._key(sha), Body=data)
        return sha

    def open(self, sha256: str) -> BinaryIO:
        from botocore.exceptions import ClientError  # with boto3: only when S3 storage is configured

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(sha256))["Body"]
        except ClientError as exc:
            raise BlobNotFound(sha256) from exc

    def iter_chunks(self, sha256: str) -> Iterator[bytes]:
        body = self.open(sha256)
        try:
            yield from iter(lambda: body.read(CHUNK), b"")
        finally:
            body.close()

    def delete(self, sha256: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(sha256))
