"""The library's per-application state: settings, blob store, ingest worker, OAI-PMH configuration."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI, Request

from .config import LibrarySettings, get_library_settings, make_store
from .ingest_queue import LibraryIngestWorker
from .oai_pmh import OaiConfig
from .storage import BlobStore


@dataclass
class LibraryRuntime:
    settings: LibrarySettings
    store: BlobStore
    sessionmaker: object
    worker: LibraryIngestWorker | None = field(default=None)

    def oai_config(self) -> OaiConfig:
        s = self.settings
        return OaiConfig(endpoint=f"{s.base_url.rstrip('/')}/library/oai", site_url=s.base_url,
                         repository_name=s.repository_name, repository_id=s.repository_id,
                         admin_email=s.admin_email, page_size=s.oai_page_size, secret=s.oai_token_secret)

    def files_queued(self) -> None:
        """Wake (and on first use start) the background ingest worker."""
        if not self.settings.ingest_worker:
            return
        if self.worker is None:
            self.worker = LibraryIngestWorker(self.sessionmaker, self.store, self.settings.max_extracted_chars)
        self.worker.start()
        self.worker.notify()

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()


def configure(app: FastAPI, settings: LibrarySettings | None = None) -> LibraryRuntime:
    """Install (or replace, e.g. in tests) the library runtime on `app`."""
    old = getattr(app.state, "library", None)
    if old is not None:
        old.close()
    settings = settings or get_library_settings()
    runtime = LibraryRuntime(settings, make_store(settings), app.state.sessionmaker)
    app.state.library = runtime
    return runtime


def get_runtime(request: Request) -> LibraryRuntime:
    return request.app.state.library
