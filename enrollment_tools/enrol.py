"""Turning accepted photos into templates: duplicate check, K best per student, one transaction.

Duplicate check: a new template whose cosine similarity to a template of a *different* enrolled student
(already in the database, or enrolled earlier in the same run) reaches the calibrated `duplicate` threshold
is reported and not enrolled, unless `force` (then it is marked `forced` and audited).
K best: a student keeps at most K templates, the highest-quality ones among the old and the new.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field

import numpy as np

from edge_agent.store import school_db
from enrollment_tools import templates
from enrollment_tools.faces import PhotoResult
from enrollment_tools.templates import ModelId, TemplateCipher


@dataclass
class StudentOutcome:
    student_id: str
    added: int = 0
    dropped_old: int = 0
    duplicates: list[dict] = field(default_factory=list)   # {"path", "other", "score"}
    forced: int = 0


class DuplicateIndex:
    """Every enrolled template (this embedder), to find the best *other* student for a new one."""

    def __init__(self, existing: templates.Templates, dim: int):
        self.ids: list[str] = list(existing.student_ids)
        self.matrix = existing.embeddings if len(existing) else np.zeros((0, dim), np.float32)

    def best_other(self, student_id: str, emb: np.ndarray) -> tuple[str | None, float]:
        if not len(self.ids):
            return None, -1.0
        sims = self.matrix @ emb
        mask = np.array([s != student_id for s in self.ids])
        if not mask.any():
            return None, -1.0
        i = int(np.argmax(np.where(mask, sims, -2.0)))
        return self.ids[i], float(sims[i])

    def add(self, student_id: str, emb: np.ndarray) -> None:
        self.ids.append(student_id)
        self.matrix = np.vstack([self.matrix, emb[None].astype(np.float32)])


def enrol_students(conn: sqlite3.Connection, cipher: TemplateCipher, model: ModelId,
                   accepted: dict[str, list[PhotoResult]], *, k: int, duplicate_threshold: float, force: bool,
                   source: str, actor: str, keep_thumbnails: bool) -> tuple[dict[str, StudentOutcome], int | None]:
    """Decide and write, in one transaction, the templates of each student; returns outcomes and new version."""
    existing = templates.load(conn, cipher, model.sha256)
    dim = next((len(r.embedding) for rs in accepted.values() for r in rs), existing.embeddings.shape[-1] or 1)
    index = DuplicateIndex(existing, dim)
    outcomes: dict[str, StudentOutcome] = {}
    version = None
    with school_db.transaction(conn):
        for sid in sorted(accepted):
            out = outcomes[sid] = StudentOutcome(sid)
            keep: list[tuple[PhotoResult, bool]] = []
            for r in sorted(accepted[sid], key=lambda r: -r.quality):
                other, score = index.best_other(sid, r.embedding)
                if other is not None and score >= duplicate_threshold:
                    out.duplicates.append({"path": r.path, "other": other, "score": round(score, 3)})
                    if not force:
                        r.code = "duplicate"
                        r.reasons = [("duplicate", f"giống học sinh {other} (độ tương đồng {score:.2f} ≥ "
                                      f"{duplicate_threshold:.2f}): có thể một người bị đăng ký hai mã; "
                                      "kiểm tra lại, dùng --force nếu đúng là hai người")]
                        continue
                keep.append((r, other is not None and score >= duplicate_threshold))
            old = [(int(rid), float(q)) for rid, s, q in zip(existing.row_ids, existing.student_ids,
                                                            existing.quality, strict=True) if s == sid]
            pool = [("old", rid, q) for rid, q in old] + [("new", i, r.quality) for i, (r, _) in enumerate(keep)]
            pool.sort(key=lambda x: -x[2])
            chosen, dropped = pool[:k], pool[k:]
            drop_old = [rid for kind, rid, _ in dropped if kind == "old"]
            out.dropped_old = templates.delete_rows(conn, drop_old)
            for kind, i, _ in chosen:
                if kind != "new":
                    continue
                r, forced = keep[i]
                templates.add(conn, cipher, sid, model, r.embedding, r.quality, source, r.sha256 or None, forced,
                              low_resolution=r.low_resolution)
                index.add(sid, r.embedding)
                out.added += 1
                out.forced += int(forced)
            for kind, i, _ in dropped:
                if kind == "new":
                    keep[i][0].code = "surplus"
            if keep_thumbnails and out.added:
                best = max((r for r, _ in keep if r.code == "ok" and r.thumbnail), key=lambda r: r.quality,
                           default=None)
                if best is not None:
                    conn.execute("INSERT INTO student_thumbnails (student_id, jpeg, created_at) VALUES (?, ?, ?) "
                                 "ON CONFLICT(student_id) DO UPDATE SET jpeg = excluded.jpeg, "
                                 "created_at = excluded.created_at", (sid, best.thumbnail, school_db.now_iso()))
            if out.added or out.dropped_old or out.duplicates:
                school_db.audit(conn, actor, f"enroll.{source}", sid, json.dumps(
                    {"added": out.added, "dropped_old": out.dropped_old, "forced": out.forced,
                     "duplicates": [{"other": d["other"], "score": d["score"]} for d in out.duplicates]}))
        if any(o.added or o.dropped_old for o in outcomes.values()):
            version = templates.bump_version(conn, actor, f"enrol ({source})")
    return outcomes, version
