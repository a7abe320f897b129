"""Background ingest: text extraction (search) and thumbnails for stored files, outside the upload request.

The queue is the `library_files` rows in state 'queued' (so it survives restarts and is in the same database
as the items). One worker thread per process drains it; PostgreSQL claims rows with SKIP LOCKED so several
processes can share the work. A failed extraction is recorded on the row and never blocks the item.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from central_server.core.db import utcnow

from .extract import ExtractError, extract
from .search import index_item
from .storage import BlobStore
from .tables import LibraryFile, LibraryItem

log = logging.getLogger("central_server.library.ingest")
MAX_ATTEMPTS = 3


def _claim(session: Session) -> str | None:
    stmt = (select(LibraryFile.sha256).where(LibraryFile.ingest_state == "queued")
            .order_by(LibraryFile.created_at).limit(1))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    sha = session.scalar(stmt)
    if sha is None:
        session.rollback()
        return None
    claimed = session.execute(
        update(LibraryFile).where(LibraryFile.sha256 == sha, LibraryFile.ingest_state == "queued")
        .values(ingest_state="running", ingest_attempts=LibraryFile.ingest_attempts + 1)
    ).rowcount
    session.commit()
    return sha if claimed else None


def process_one(make_session: sessionmaker[Session], store: BlobStore, max_chars: int) -> bool:
    """Claim and process one queued file; False when the queue is empty."""
    with make_session() as session:
        sha = _claim(session)
    if sha is None:
        return False
    with make_session() as session:
        row = session.get(LibraryFile, sha)
        try:
            result = _extract_blob(store, row.sha256, row.mime, max_chars)
            row.text, row.pages = result.text, result.pages
            if result.thumbnail_png:
                row.thumb_sha256 = store.put_bytes(result.thumbnail_png)
            row.ingest_state, row.ingest_error = "done", ""
        except ExtractError as exc:
            row.ingest_state, row.ingest_error = "failed", str(exc)[:2000]
        except Exception as exc:  # storage or database trouble: retry a few times, then give up visibly
            log.exception("ingest of %s failed", sha)
            row.ingest_error = f"{type(exc).__name__}: {exc}"[:2000]
            row.ingest_state = "queued" if row.ingest_attempts < MAX_ATTEMPTS else "failed"
        row.ingested_at = utcnow()
        for item in session.scalars(select(LibraryItem).where(LibraryItem.file_sha256 == sha)):
            index_item(session, item)
        session.commit()
    return True


def _extract_blob(store: BlobStore, sha: str, mime: str, max_chars: int):
    with tempfile.NamedTemporaryFile(dir=store.spool_dir(), prefix="ing-", delete=False) as tmp:
        with store.open(sha) as src:
            shutil.copyfileobj(src, tmp, 1024 * 1024)
    try:
        return extract(Path(tmp.name), mime, max_chars)
    finally:
        Path(tmp.name).unlink(missing_ok=True)


def drain(make_session: sessionmaker[Session], store: BlobStore, max_chars: int, limit: int | None = None) -> int:
    """Process queued files until the queue is empty (or `limit` files); returns how many were processed."""
    done = 0
    while (limit is None or done < limit) and process_one(make_session, store, max_chars):
        done += 1
    return done


class LibraryIngestWorker:
    """A daemon thread that drains the queue whenever notified (and every `poll_s` seconds)."""

    def __init__(self, make_session: sessionmaker[Session], store: BlobStore, max_chars: int, poll_s: float = 30.0):
        self.make_session, self.store, self.max_chars, self.poll_s = make_session, store, max_chars, poll_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.idle = threading.Event()

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="library-ingest", daemon=True)
            self._thread.start()

    def notify(self) -> None:
        self.idle.clear()
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                while not self._stop.is_set() and process_one(self.make_session, self.store, self.max_chars):
                    pass
            except Exception:  # keep the worker alive; the row records what went wrong
                log.exception("ingest worker loop error")
            self.idle.set()
            self._wake.wait(self.poll_s)
            self._wake.clear()
