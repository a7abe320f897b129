"""Face templates in the school database, AES-GCM encrypted at rest, and the gallery version counter.

The template key is derived (HKDF) from the school's gallery key for the purpose "templates-at-rest"; the
associated data binds each ciphertext to its student and embedder, so a row copied onto another student
does not decrypt. Templates come from photos and captures (`enroll`) or were learned from confirmed sightings
(`source = 'learned'`, `edge_agent.recognition.learned_store`); both travel in gallery packages.
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


def add(conn: sqlite3.Connection, cipher: TemplateCipher, student_id: str, model, embedding: np.ndarray,
        quality: float, source: str, photo_sha256: str | None = None, forced: bool = False,
        low_resolution: bool = False, learned_from: str | None = None) -> int:
    """Insert one encrypted template; `model` has `name` and `sha256` (caller's transaction)."""
    nonce, ct = cipher.seal(student_id, model.sha256, embedding)
    cur = conn.execute(
        "INSERT INTO face_templates (student_id, model_name, model_sha256, dim, quality, source, photo_sha256, "
        "nonce, ciphertext, forced, created_at, low_resolution, learned_from) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (student_id, model.name, model.sha256, int(embedding.shape[-1]), float(quality), source, photo_sha256,
         nonce, ct, int(forced), now_iso(), int(low_resolution), learned_from))
    return int(cur.lastrowid)


def load(conn: sqlite3.Connection, cipher: TemplateCipher, model_sha256: str,
         student_ids: list[str] | None = None, learned: bool | None = None) -> Templates:
    """Templates of the given embedder (of the given students, or all), decrypted; `learned` True/False keeps
    only the learned / only the enrolled ones (None: both)."""
    sql = "SELECT id, student_id, quality, nonce, ciphertext, dim FROM face_templates WHERE model_sha256 = ?"
    params: list = [model_sha256]
    if learned is not None:
        sql += " AND source " + ("= 'learned'" if learned else "!= 'learned'")
    if student_ids is not None:
        sql += f" AND student_id IN ({','.join('?' * len(student_ids))})"
        params += list(student_ids)
    rows = conn.execute(sql + " ORDER BY student_id, id", params).fetchall()
    if not rows:
        return Templates(np.zeros(0, np.int64), [], np.zeros(0, np.float32), np.zeros((0, 0), np.float32))
    emb = np.stack([cipher.open(r["student_id"], model_sha256, r["nonce"], r["ciphertext"]) for r in rows])
    return Templates(np.array([r["id"] for r in rows], np.int64), [r["student_id"] for r in rows],
                     np.array([r["quality"] for r in rows], np.float32), emb)


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
