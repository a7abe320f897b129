"""Down-sync: apply the central server's control messages at the school.

- `erasure.request`: the student's templates leave the live FAISS index at once (`Gallery.remove`, a
  snapshot swap, recognition keeps running), the gallery file is rewritten, and the student id is
  recorded in `erasures.txt` so that no gallery package loaded later (e.g. one built before the
  erasure and still being downloaded) can bring the student back.
- `gallery.available` / `roster.available` / `timetable.available`: the package reference is first
  written to `pending/` (so an acknowledged notice survives a crash), then a background thread fetches
  it over HTTP(S) with the school's signed request headers, checks size and sha256 against the signed
  control message, loads/validates it, and swaps it in atomically (old version kept on any failure).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import ssl
import tempfile
import threading
import urllib.request
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urljoin, urlparse

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from edge_agent.protocol import Control, ControlKind, PackageRef, request_headers

log = logging.getLogger(__name__)
CHUNK = 1 << 16


class DownsyncSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDGE_SYNC_", extra="ignore")

    school: str
    key_hex: SecretStr
    central_url: str                    # e.g. https://edu.example.vn
    data_dir: Path                      # gallery.npz, roster.json, timetable.json, erasures.txt, pending/
    ca_file: Path | None = None         # pilot CA for the central server's certificate
    timeout_s: float = 30.0
    max_package_bytes: int = 512 * 1024 * 1024

    @property
    def key(self) -> bytes:
        return bytes.fromhex(self.key_hex.get_secret_value())


class DownsyncError(RuntimeError):
    pass


class LiveGallery(Protocol):
    """What the down-sync needs of the running gallery (`edge_agent.recognition.gallery.Gallery`)."""

    @property
    def student_ids(self) -> Collection[str]: ...

    def remove(self, student_id: str) -> int: ...

    def save(self, path: str | Path) -> Any: ...

    def swap(self, new: Any) -> Any: ...


_FILES = {ControlKind.GALLERY_AVAILABLE: "gallery.npz", ControlKind.ROSTER_AVAILABLE: "roster.json",
          ControlKind.TIMETABLE_AVAILABLE: "timetable.json"}


class Downsync:
    def __init__(self, settings: DownsyncSettings, gallery: LiveGallery, *,
                 open_gallery: Callable[[bytes, str], LiveGallery], permanent_errors: tuple[type[Exception], ...] = (),
                 on_package: Callable[[ControlKind, Path, str], None] | None = None,
                 on_erase: Callable[[str, str], None] | None = None,
                 save_gallery: Callable[[LiveGallery, Path], None] | None = None):
        """`open_gallery(data, path)` turns a downloaded gallery into one to swap in
        (`edge_agent.recognition.gallery_opener.GalleryOpener`); `permanent_errors` are its errors for a package
        that will not get better by fetching it again; `on_erase(student_id, request_id)` runs after an erasure
        request left the live gallery (the service erases the school database's templates with it);
        `save_gallery(gallery, path)` writes the gallery file (the service encrypts it with the school's key)."""
        self.s = settings
        self.gallery = gallery
        self.open_gallery = open_gallery
        self.permanent_errors = (DownsyncError, *permanent_errors)
        self.on_package = on_package
        self.on_erase = on_erase
        self.save_gallery = save_gallery or (lambda g, p: g.save(p))
        self.versions: dict[str, str] = {}
        self.dir = Path(settings.data_dir)
        (self.dir / "pending").mkdir(mode=0o700, parents=True, exist_ok=True)   # in the school's private data dir
        self._erasures_path = self.dir / "erasures.txt"
        self.erased: set[str] = set()
        if self._erasures_path.exists():
            self.erased = {x.strip() for x in self._erasures_path.read_text().splitlines() if x.strip()}
        self._lock = threading.Lock()  # an erasure and a gallery swap never interleave
        self._jobs: queue.Queue[ControlKind | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []

    # ------------------------------------------------------------ control entry point (MQTT thread)
    def handle(self, control: Control) -> None:
        if control.kind is ControlKind.ERASURE_REQUEST:
            self.erase(control.erasure.student_id)
            if self.on_erase is not None:
                self.on_erase(control.erasure.student_id, control.erasure.request_id)
            return
        pending = self.dir / "pending" / f"{control.kind.value}.json"
        _atomic_write(pending, control.package.model_dump_json().encode())
        self._jobs.put(control.kind)

    def erase(self, student_id: str) -> int:
        """Remove from the live index first (seconds matter), then make it durable."""
        with self._lock:
            removed = self.gallery.remove(student_id)
            self.erased.add(student_id)
        if student_id not in self._recorded_erasures():
            fd = os.open(self._erasures_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)  # personal ids
            with open(fd, "a", encoding="utf-8") as f:
                f.write(student_id + "\n")
                f.flush()
                os.fsync(f.fileno())
        if removed:
            self.save_gallery(self.gallery, self.dir / "gallery.npz")
        log.info("erasure of %s: %d templates removed", student_id, removed)
        return removed

    def _recorded_erasures(self) -> set[str]:
        if not self._erasures_path.exists():
            return set()
        return {x.strip() for x in self._erasures_path.read_text().splitlines() if x.strip()}

    # ------------------------------------------------------------ background fetcher
    def start(self) -> None:
        for path in sorted((self.dir / "pending").glob("*.json")):  # notices acknowledged before a crash
            self._jobs.put(ControlKind(path.stem))
        self._thread = threading.Thread(target=self._loop, name="downsync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._jobs.put(None)
        if self._thread:
            self._thread.join(timeout=self.s.timeout_s + 5)

    def _loop(self) -> None:
        while (kind := self._jobs.get()) is not None:
            pending = self.dir / "pending" / f"{kind.value}.json"
            if not pending.exists():
                continue  # already done by an earlier job for the same kind
            try:
                ref = PackageRef.model_validate_json(pending.read_bytes())
                self.apply_package(kind, ref)
                pending.unlink(missing_ok=True)
            except Exception as exc:  # noqa: BLE001 - keep the old version, report in the heartbeat
                msg = f"{kind.value} {exc}"
                log.error("down-sync failed: %s", msg)
                self.errors = (self.errors + [msg])[-5:]
                if isinstance(exc, self.permanent_errors):
                    pending.unlink(missing_ok=True)  # a bad package will not get better; wait for a new notice

    def apply_package(self, kind: ControlKind, ref: PackageRef) -> Path:
        data = self.fetch(ref)
        target = self.dir / _FILES[kind]
        if kind is ControlKind.GALLERY_AVAILABLE:
            with tempfile.NamedTemporaryFile(dir=self.dir, suffix=".npz", delete=False) as tmp:
                tmp.write(data)
            try:
                new = self.open_gallery(data, tmp.name)
                with self._lock:
                    for sid in self.erased & set(new.student_ids):
                        new.remove(sid)
                    self.gallery.swap(new)
                self.save_gallery(new, Path(tmp.name))
                os.replace(tmp.name, target)
            finally:
                Path(tmp.name).unlink(missing_ok=True)
        else:
            try:
                json.loads(data.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                raise DownsyncError(f"{kind.value} package is not JSON: {exc}") from None
            _atomic_write(target, data)
        self.versions[kind.value] = ref.version
        if self.on_package:
            self.on_package(kind, target, ref.version)
        log.info("%s version %s installed", kind.value, ref.version)
        return target

    def fetch(self, ref: PackageRef) -> bytes:
        if ref.size > self.s.max_package_bytes:
            raise DownsyncError(f"package of {ref.size} bytes exceeds {self.s.max_package_bytes}")
        url = urljoin(self.s.central_url.rstrip("/") + "/", ref.url)
        parsed = urlparse(url)
        path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
        req = urllib.request.Request(url, headers=request_headers(self.s.school, self.s.key, "GET", path))
        ctx = ssl.create_default_context(cafile=str(self.s.ca_file)) if self.s.ca_file else None
        digest, chunks, size = hashlib.sha256(), [], 0
        try:
            with urllib.request.urlopen(req, timeout=self.s.timeout_s, context=ctx) as resp:
                while chunk := resp.read(CHUNK):
                    size += len(chunk)
                    if size > ref.size:
                        raise DownsyncError(f"package larger than announced ({ref.size} bytes)")
                    digest.update(chunk)
                    chunks.append(chunk)
        except OSError as exc:  # network errors: keep the pending notice and retry on the next start/notice
            raise RuntimeError(f"download of {url} failed: {exc}") from exc
        if size != ref.size or digest.hexdigest() != ref.sha256:
            raise DownsyncError(f"package {ref.version} does not match the announced size/sha256")
        return b"".join(chunks)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
        tmp.write(data)
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, path)
