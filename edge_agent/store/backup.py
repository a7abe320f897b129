"""Online backup of the school's SQLite database while the service runs (`edge-agent backup`: cli/backup.py).

`sqlite3.Connection.backup` copies a consistent snapshot page by page while the service keeps writing (WAL:
readers and the one writer do not block each other). The copy is written under a temporary name, mode 0600
(templates and attendance of minors), checked with `PRAGMA integrity_check` and renamed into
`<dest>/school-<UTC time>.sqlite3`; the `keep` newest are kept. Put `dest` on another disk or a mounted share;
the box's disk should be LUKS-encrypted (hardware/README.md).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sqlite3
from pathlib import Path

NAME_RE = re.compile(r"^school-(\d{8}T\d{6}\d{6}Z)\.sqlite3$")


class EdgeBackupError(RuntimeError):
    pass


def backup_school_db(db_path: Path, dest: Path, keep: int = 7, *, now: dt.datetime | None = None
                     ) -> tuple[Path, list[Path]]:
    """Back up the database at `db_path` into `dest` while it is in use; returns (backup, deleted old ones)."""
    if keep < 1:
        raise EdgeBackupError("keep must be >= 1")
    if not Path(db_path).is_file():
        raise EdgeBackupError(f"no school database at {db_path}")
    dest.mkdir(parents=True, exist_ok=True)
    os.chmod(dest, 0o700)
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    final = dest / f"school-{stamp}.sqlite3"
    partial = dest / f".{final.name}.partial"
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        src = sqlite3.connect(db_path, timeout=30)
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst, pages=1024)  # a step at a time: the service's writer is never blocked for long
            check = dst.execute("PRAGMA integrity_check").fetchone()[0]
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            dst.close()
            src.close()
        if check != "ok":
            raise EdgeBackupError(f"the copy fails the integrity check: {check}")
        with open(partial, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    found = sorted((p for p in dest.iterdir() if NAME_RE.match(p.name)), key=lambda p: p.name)
    old = found[:-keep]
    for p in old:
        p.unlink(missing_ok=True)
    return final, old
