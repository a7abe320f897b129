"""Face templates in the school database, AES-GCM encrypted at rest, and the gallery version counter.

The template key is derived (HKDF) from the school's gallery key for the purpose "templates-at-rest"; the
associated data binds each ciphertext to its student and embedder, so a row copied onto another student
does not decrypt.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from edge_agent.recognition.gallery_package import derive_key
from edge_agent.store.school_db import now_iso
from models import ModelStore


@dataclass(frozen=True)
class ModelId:
    name: str
    sha256: str


def embedder_id(store=None, settings=None) -> ModelId:
    """The embedder the school runs: `recognition.embedder` of its settings (mfn | sface | fusion), the model
    store's default without settings. Templates carry it; those of another embedder are never mixed in."""
    if store is None:
        store = ModelStore()
    choice = embedder_choice(settings)
    if choice == "mfn":
        entry = store.default("embedder")
        return ModelId(entry.name, entry.final.sha256 or "")
    from edge_agent.vision.embedder_choice import identity  # the vision stack stays out of light commands

    ident = identity(choice, store, fusion_weight_of(settings))
    return ModelId(ident.name, ident.sha256)


def embedder_choice(settings=None) -> str:
    return "mfn" if settings is None else settings.recognition.embedder


def fusion_weight_of(settings=None) -> float | None:
    """The fused pair's weight from its calibrated thresholds (None for a single embedder)."""
    if embedder_choice(settings) != "fusion":
        return None
    from edge_agent.recognition.thresholds import load_thresholds

    return load_thresholds(settings.paths.thresholds, embedder="fusion").fusion_weight


class TemplateCipher:
    def __init__(self, school_key: bytes, school: str):
        self._aes = AESGCM(derive_key(school_key, "templates-at-rest", school))

    @staticmethod
    def _aad(student_id: str, model_sha256: str) -> bytes:
        return f"{student_id}|{model_sha256}".encode()

    def seal(self, student_id: str, model_sha256: str, embedding: np.ndarray) -> tuple[bytes, bytes]:
        nonce = os.urandom(12)
        data = np.ascontiguousarray(embedding, dtype="<f4").tobytes()
        return nonce, self._aes.encrypt(nonce, data, self._aad(student_id, model_sha256))

    def open(self, student_id: str, model_sha256: str, nonce: bytes, ciphertext: bytes) -> np.ndarray:
        try:
            data = self._aes.decrypt(nonce, ciphertext, self._aad(student_id, model_sha256))
        except InvalidTag:
            raise ValueError(f"mẫu khuôn mặt của {student_id} không giải mã được (sai khoá trường "
                             "hoặc dữ liệu bị sửa)") from None
        return np.frombuffer(data, dtype="<f4").astype(np.float32)


@dataclass(frozen=True)
class Templates:
    """Decrypted templates: one row per template."""

    row_ids: np.ndarray        # (N,) face_templates.id
    student_ids: list[str]
    quality: np.ndarray        # (N,)
    embeddings: np.ndarray     # (N, D)

    def __len__(self) -> int:
        return len(self.student_ids)


def add(conn: sqlite3.Connection, cipher: TemplateCipher, student_id: str, model: ModelId, embedding: np.ndarray,
        quality: float, source: str, photo_sha256: str | None = None, forced: bool = False) -> int:
    nonce, ct = cipher.seal(student_id, model.sha256, embedding)
    cur = conn.execute(
        "INSERT INTO face_templates (student_id, model_name, model_sha256, dim, quality, source, photo_sha256, "
        "nonce, ciphertext, forced, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (student_id, model.name, model.sha256, int(embedding.shape[-1]), float(quality), source, photo_sha256,
         nonce, ct, int(forced), now_iso()))
    return int(cur.lastrowid)


def load(conn: sqlite3.Connection, cipher: TemplateCipher, model_sha256: str,
         student_ids: list[str] | None = None) -> Templates:
    """Templates of the given embedder (of the given students, or all), decrypted."""
    sql = "SELECT id, student_id, quality, nonce, ciphertext, dim FROM face_templates WHERE model_sha256 = ?"
    params: list = [model_sha256]
    if student_ids is not None:
        sql += f" AND student_id IN ({','.join('?' * len(student_ids))})"
        params += list(student_ids)
    rows = conn.execute(sql + " ORDER BY student_id, id", params).fetchall()
    if not rows:
        return Templates(np.zeros(0, np.int64), [], np.zeros(0, np.float32), np.zeros((0, 0), np.float32))
    emb = np.stack([cipher.open(r["student_id"], model_sha256, r["nonce"], r["ciphertext"]) for r in rows])
    return Templates(np.array([r["id"] for r in rows], np.int64), [r["student_id"] for r in rows],
                     np.array([r["quality"] for r in rows], np.float32), emb)


def known_photos(conn: sqlite3.Connection, model_sha256: str) -> set[tuple[str, str]]:
    """(student id, photo sha256) already enrolled with this embedder (re-runs skip them)."""
    return {(r[0], r[1]) for r in conn.execute(
        "SELECT student_id, photo_sha256 FROM face_templates WHERE model_sha256 = ? AND photo_sha256 IS NOT NULL",
        (model_sha256,))}


def delete_rows(conn: sqlite3.Connection, row_ids: list[int]) -> int:
    if not row_ids:
        return 0
    return conn.execute(f"DELETE FROM face_templates WHERE id IN ({','.join('?' * len(row_ids))})",
                        [int(r) for r in row_ids]).rowcount


def counts_per_student(conn: sqlite3.Connection, model_sha256: str) -> dict[str, int]:
    return {r[0]: r[1] for r in conn.execute(
        "SELECT student_id, count(*) FROM face_templates WHERE model_sha256 = ? GROUP BY student_id",
        (model_sha256,))}


def bump_version(conn: sqlite3.Connection, actor: str, reason: str) -> int:
    """Record a new gallery version (inside the caller's transaction) and return it."""
    n_students, n_templates = conn.execute(
        "SELECT count(DISTINCT student_id), count(*) FROM face_templates").fetchone()
    cur = conn.execute("INSERT INTO gallery_versions (created_at, actor, reason, n_students, n_templates) "
                       "VALUES (?, ?, ?, ?, ?)", (now_iso(), actor, reason, n_students, n_templates))
    return int(cur.lastrowid)


def current_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT max(version) FROM gallery_versions").fetchone()
    return int(row[0] or 0)
