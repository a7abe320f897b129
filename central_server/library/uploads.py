"""Receiving an uploaded file: stream it to a spool file while hashing and counting, check its real type,
then store it content-addressed. On any refusal the spool file is removed: nothing half-written remains."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .filetypes import FileKind, Limits, UploadError, detect
from .storage import CHUNK, BlobStore


@dataclass
class StagedFile:
    path: Path
    sha256: str
    size: int
    kind: FileKind
    filename: str

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def _chunks(stream: BinaryIO) -> Iterable[bytes]:
    return iter(lambda: stream.read(CHUNK), b"")


def stage(store: BlobStore, stream: BinaryIO, filename: str, limits: Limits) -> StagedFile:
    """Copy `stream` to a spool file (sha256 + size on the way), refusing oversize data early; check the type."""
    fd, tmp = tempfile.mkstemp(dir=store.spool_dir(), prefix="up-")
    path = Path(tmp)
    try:
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out:
            for chunk in _chunks(stream):
                size += len(chunk)
                if size > limits.max_bytes:
                    raise UploadError(f"Tệp quá lớn: vượt {limits.max_bytes:,} byte", 413)
                digest.update(chunk)
                out.write(chunk)
        kind = detect(path, filename, limits)
        return StagedFile(path, digest.hexdigest(), size, kind, _safe_name(filename))
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _safe_name(filename: str) -> str:
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    return "".join(ch for ch in name if ch.isprintable())[:255] or "tep-tai-len"
