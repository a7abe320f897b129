"""The gallery: enrolled face templates of a school's students, searched with FAISS.

Several L2-normalised templates per student live in one `faiss.IndexFlatIP`, so an inner product is
the cosine similarity. A student's score is the best score over their templates.

Search is roster-first: `search(..., roster=ids)` looks only at the templates of the given students
(the class scheduled in the room) through a FAISS id selector; `roster=None` searches the whole school.

Thread safety: the searchable state is an immutable `_Snapshot`. Readers take the current snapshot
(one attribute read) and search it; `remove()` and `swap()` build a new snapshot and replace the
reference under a lock, so a recognition in flight finishes on the old snapshot and the next one sees
the change. A removed student is never returned by a search that starts after `remove()` returns.

FAISS runs its searches on one OpenMP thread by default (`search_threads`): a school's few thousand
templates take about a millisecond, and OpenMP threads would fight the detector for a 2-core box
(measured: 4x slower with the default thread count under load). The setting is process-wide in FAISS.

File format (`save`/`load`): encrypted with the school's gallery key (gallery_seal.py) when installed;
inside, an `.npz` holding `embeddings` (float32, N x D, L2-normalised),
`student_ids` (unicode, N) and `meta` (a JSON string: format version, model name and sha256,
gallery version, dimension). It holds no photos.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import threading
import zipfile
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from edge_agent.recognition.gallery_seal import GallerySeal, SealError, is_package, is_sealed

FORMAT = "soctrang-edu/gallery"
FORMAT_VERSION = 1
_NORM_TOLERANCE = 1e-3


class GalleryError(ValueError):
    """A gallery file or template set that cannot be used, with a message saying why."""


@dataclass(frozen=True)
class GalleryMeta:
    """Which embedder produced the templates (they are only comparable with its embeddings)."""

    model_name: str
    model_sha256: str
    version: str = "1"


@dataclass(frozen=True)
class Candidate:
    """One student's best template score for one query."""

    student_id: str
    score: float


class _Snapshot:
    """An immutable, searchable set of templates."""

    def __init__(self, embeddings: np.ndarray, student_ids: np.ndarray, meta: GalleryMeta) -> None:
        self.embeddings = embeddings
        self.student_ids = student_ids
        self.meta = meta
        self.dim = int(embeddings.shape[1])
        self.index = faiss.IndexFlatIP(self.dim)
        if len(embeddings):
            self.index.add(embeddings)
        rows: dict[str, list[int]] = {}
        for row, sid in enumerate(student_ids.tolist()):
            rows.setdefault(sid, []).append(row)
        self.rows = {sid: np.asarray(r, dtype=np.int64) for sid, r in rows.items()}
        self.max_templates = max((len(r) for r in self.rows.values()), default=0)


def _check_templates(embeddings: np.ndarray, student_ids: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    emb = np.asarray(embeddings)
    if emb.ndim != 2 or emb.shape[1] == 0:
        raise GalleryError(f"embeddings must be an N x D matrix, got shape {emb.shape}")
    if not np.issubdtype(emb.dtype, np.floating):
        raise GalleryError(f"embeddings must be floating point, got {emb.dtype}")
    emb = np.ascontiguousarray(emb, dtype=np.float32)
    ids = np.asarray([str(s) for s in student_ids], dtype=str)
    if ids.shape != (emb.shape[0],):
        raise GalleryError(f"{emb.shape[0]} embeddings but {ids.size} student ids")
    if any(not s.strip() for s in ids.tolist()):
        raise GalleryError("empty student id in the gallery")
    if not np.all(np.isfinite(emb)):
        raise GalleryError("embeddings contain NaN or infinity")
    norms = np.linalg.norm(emb, axis=1)
    if len(norms) and np.max(np.abs(norms - 1.0)) > _NORM_TOLERANCE:
        raise GalleryError("embeddings are not L2-normalised (every template must have norm 1)")
    return emb, ids


class Gallery:
    """Templates of enrolled students; thread-safe search, removal and whole-gallery swap."""

    def __init__(self, embeddings: np.ndarray, student_ids: Iterable[str], meta: GalleryMeta,
                 search_threads: int | None = 1) -> None:
        emb, ids = _check_templates(embeddings, student_ids)
        if search_threads is not None:
            faiss.omp_set_num_threads(max(1, int(search_threads)))
        self._lock = threading.Lock()
        self._snap = _Snapshot(emb, ids, meta)

    # ---- introspection -------------------------------------------------------------------------
    @property
    def meta(self) -> GalleryMeta:
        return self._snap.meta

    @property
    def dim(self) -> int:
        return self._snap.dim

    @property
    def student_ids(self) -> list[str]:
        """Enrolled students, each once, in enrolment order."""
        return list(self._snap.rows)

    def __len__(self) -> int:
        """Number of enrolled students (not templates)."""
        return len(self._snap.rows)

    def __contains__(self, student_id: object) -> bool:
        return student_id in self._snap.rows

    @property
    def n_templates(self) -> int:
        return int(self._snap.index.ntotal)

    # ---- search --------------------------------------------------------------------------------
    def search(self, queries: np.ndarray, roster: Collection[str] | None = None,
               top: int = 2) -> list[list[Candidate]]:
        """For each query embedding, the `top` best distinct students, best first.

        `roster` limits the search to those students (ids not enrolled are ignored); `None` searches
        everyone. Queries must be L2-normalised embeddings of the gallery's dimension.
        """
        snap = self._snap
        q = self._check_queries(queries, snap)
        if top < 1:
            raise ValueError("top must be >= 1")
        if roster is None:
            rows = None
            n_rows = snap.index.ntotal
        else:
            picked = [snap.rows[s] for s in set(roster) if s in snap.rows]
            rows = np.concatenate(picked) if picked else np.empty(0, dtype=np.int64)
            n_rows = len(rows)
        if n_rows == 0 or len(q) == 0:
            return [[] for _ in range(len(q))]
        # The top-`top` distinct students are among the best (top-1) * max_templates + 1 rows:
        # only templates of better-ranked students can precede a student's best template.
        k = min(n_rows, (top - 1) * snap.max_templates + 1)
        if rows is None:
            scores, idx = snap.index.search(q, k)
        else:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(rows))
            scores, idx = snap.index.search(q, k, params=params)
        out: list[list[Candidate]] = []
        for srow, irow in zip(scores, idx, strict=True):
            seen: dict[str, float] = {}
            for s, i in zip(srow.tolist(), irow.tolist(), strict=True):
                if i < 0:
                    break
                sid = str(snap.student_ids[i])
                if sid not in seen:
                    seen[sid] = s
                    if len(seen) == top:
                        break
            out.append([Candidate(sid, float(s)) for sid, s in seen.items()])
        return out

    def scores_for(self, queries: np.ndarray, student_ids: Iterable[str]) -> dict[str, np.ndarray]:
        """Best-template score of each given (enrolled) student for each query: {id: (N,) array}."""
        snap = self._snap
        q = self._check_queries(queries, snap)
        out: dict[str, np.ndarray] = {}
        for sid in student_ids:
            rows = snap.rows.get(sid)
            if rows is not None:
                out[sid] = (q @ snap.embeddings[rows].T).max(axis=1)
        return out

    @staticmethod
    def _check_queries(queries: np.ndarray, snap: _Snapshot) -> np.ndarray:
        q = np.ascontiguousarray(np.atleast_2d(np.asarray(queries, dtype=np.float32)))
        if q.ndim != 2 or q.shape[1] != snap.dim:
            raise GalleryError(f"query embeddings must be N x {snap.dim}, got shape {np.shape(queries)}")
        return q

    # ---- changes -------------------------------------------------------------------------------
    def remove(self, student_id: str) -> int:
        """Delete every template of a student, effective for every search that starts afterwards.

        Returns the number of templates removed (0 if the student was not enrolled).
        """
        with self._lock:
            snap = self._snap
            keep = snap.student_ids != student_id
            removed = int((~keep).sum())
            if removed:
                self._snap = _Snapshot(snap.embeddings[keep], snap.student_ids[keep], snap.meta)
            return removed

    def update_students(self, embeddings: np.ndarray, student_ids: Iterable[str]) -> int:
        """Replace the templates of the given students with these, only for students still in the gallery (one
        step under the lock, so a student removed meanwhile is never brought back); returns students updated."""
        emb, ids = _check_templates(embeddings, student_ids)
        with self._lock:
            snap = self._snap
            if emb.shape[1] != snap.dim:
                raise GalleryError(f"templates have dimension {emb.shape[1]}, this gallery {snap.dim}")
            update = sorted(set(ids.tolist()) & set(snap.rows))
            if not update:
                return 0
            keep = ~np.isin(snap.student_ids, update)
            take = np.isin(ids, update)
            self._snap = _Snapshot(np.vstack([snap.embeddings[keep], emb[take]]),
                                   np.concatenate([snap.student_ids[keep], ids[take]]), snap.meta)
            return len(update)

    def swap(self, other: Gallery) -> None:
        """Replace all templates with those of `other` in one step (searches in flight finish unharmed)."""
        new = other._snap
        with self._lock:
            if new.dim != self._snap.dim:
                raise GalleryError(f"new gallery has dimension {new.dim}, this one {self._snap.dim}: "
                                   "it was made with a different embedder")
            self._snap = new

    # ---- files ---------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], seal: GallerySeal | None = None) -> Path:
        """Write the gallery file atomically (a temporary file, mode 0600, renamed into place).

        With `seal` (the school's gallery key) the file is encrypted (gallery_seal.py): the installed gallery
        of a school is always written so; a plain file is for tests, benchmarks and tools only.
        """
        snap = self._snap
        path = Path(path)
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "model_name": snap.meta.model_name,
                "model_sha256": snap.meta.model_sha256, "version": snap.meta.version, "dim": snap.dim}
        buf = io.BytesIO()
        np.savez(buf, embeddings=snap.embeddings, student_ids=snap.student_ids, meta=np.asarray(json.dumps(meta)))
        data = seal.seal_bytes(buf.getvalue()) if seal is not None else buf.getvalue()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".gallery-", suffix=".npz", dir=path.parent)  # mkstemp: mode 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], expect_model_sha256: str | None = None,
             seal: GallerySeal | None = None, migrate_plain: bool = False) -> Gallery:
        """Read a gallery file; `expect_model_sha256` rejects templates made by another embedder.

        An encrypted file needs `seal`; it is decrypted in memory only. With `seal`, a plain (old) file is
        refused, or, with `migrate_plain`, loaded and rewritten encrypted in place.
        """
        path = Path(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise GalleryError(f"{path}: gallery file not found") from exc
        except OSError as exc:
            raise GalleryError(f"{path}: unreadable gallery file ({exc.strerror or exc})") from exc
        if is_package(data):
            raise GalleryError(f"{path}: đây là gói ảnh mẫu (gallery package) của `enroll export`, chưa phải thư "
                               f"viện đã cài: chạy `edge-agent gallery import {path.name}` rồi dùng thư viện đã cài")
        plain_on_disk = not is_sealed(data)
        if not plain_on_disk:
            if seal is None:
                raise GalleryError(f"{path}: thư viện khuôn mặt đã mã hoá (encrypted gallery): cần khoá của trường "
                                   "(--config edge.toml)")
            try:
                data = seal.open_bytes(data, str(path))
            except SealError as exc:
                raise GalleryError(str(exc)) from None
        elif seal is not None and not migrate_plain:
            raise GalleryError(f"{path}: thư viện khuôn mặt chưa mã hoá (plain gallery) bị từ chối: chạy "
                               "`edge-agent gallery encrypt` để mã hoá nó bằng khoá của trường")
        gallery = cls._from_npz(data, path, expect_model_sha256)
        if plain_on_disk and seal is not None:
            gallery.save(path, seal=seal)  # migrate_plain: the plain copy is replaced by the encrypted one
        return gallery

    @classmethod
    def _from_npz(cls, raw: bytes, path: Path, expect_model_sha256: str | None) -> Gallery:
        try:
            loaded = np.load(io.BytesIO(raw), allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):
                raise GalleryError(f"{path}: not a gallery file (a bare array, not an .npz archive)")
            with loaded as data:
                missing = {"embeddings", "student_ids", "meta"} - set(data.files)
                if missing:
                    raise GalleryError(f"{path}: not a gallery file (missing {', '.join(sorted(missing))})")
                embeddings = data["embeddings"]
                ids = data["student_ids"]
                meta = json.loads(str(data["meta"]))
        except GalleryError:
            raise
        except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise GalleryError(f"{path}: không phải tệp thư viện khuôn mặt (unreadable gallery file: {exc})") from exc
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise GalleryError(f"{path}: not a gallery file (format tag missing)")
        if meta.get("format_version") != FORMAT_VERSION:
            raise GalleryError(f"{path}: gallery format version {meta.get('format_version')} "
                               f"is not supported (expected {FORMAT_VERSION})")
        if ids.dtype.kind != "U":
            raise GalleryError(f"{path}: student ids must be text")
        gm = GalleryMeta(str(meta.get("model_name", "")), str(meta.get("model_sha256", "")),
                         str(meta.get("version", "")))
        if expect_model_sha256 is not None and gm.model_sha256 != expect_model_sha256:
            raise GalleryError(f"{path}: templates were made with model {gm.model_name} "
                               f"({gm.model_sha256[:12]}), not the embedder in use "
                               f"({expect_model_sha256[:12]}): re-export the gallery")
        try:
            gallery = cls(embeddings, ids.tolist(), gm)
        except GalleryError as exc:
            raise GalleryError(f"{path}: {exc}") from exc
        if meta.get("dim") not in (None, gallery.dim):
            raise GalleryError(f"{path}: header says dimension {meta.get('dim')}, data has {gallery.dim}")
        return gallery
