"""Face templates in the school database, AES-GCM encrypted at rest, and the gallery version counter.

The template key is derived (HKDF) from the school's gallery key for the purpose "templates-at-rest"; the
associated data binds each ciphertext to its student and embedder, so a row copied onto another student
does not decrypt.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from edge_agent.recognition.template_store import (  # noqa: F401 - the enrolment tools' names for them
    TemplateCipher,
    Templates,
    add,
    bump_version,
    counts_per_student,
    current_version,
    delete_rows,
    load,
)
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


def known_photos(conn: sqlite3.Connection, model_sha256: str) -> set[tuple[str, str]]:
    """(student id, photo sha256) already enrolled with this embedder (re-runs skip them)."""
    return {(r[0], r[1]) for r in conn.execute(
        "SELECT student_id, photo_sha256 FROM face_templates WHERE model_sha256 = ? AND photo_sha256 IS NOT NULL",
        (model_sha256,))}


