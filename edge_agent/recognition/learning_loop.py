"""The running service's side of learning from confirmed sightings (rules: `learning`, storage: `learned_store`).

`keep` is called for each camera proposal (the track's best frame is kept, encrypted, until finalisation);
`tick` runs with the attendance tick: it learns from the lessons finalised since, purges the unused embeddings of
earlier days and, when templates were learned or replaced or the school's gallery version changed, refreshes
the live gallery (and its file) from the school database: the students it still holds and who have templates
there get exactly those (`Gallery.update_students`: a student erased meanwhile is never brought back).
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import date
from pathlib import Path

from edge_agent.recognition import learned_store, template_store
from edge_agent.recognition.gallery import Gallery
from edge_agent.recognition.gallery_seal import GallerySeal
from edge_agent.recognition.learning import LearningPolicy
from edge_agent.recognition.template_store import TemplateCipher
from edge_agent.store.school_db import transaction

log = logging.getLogger(__name__)


class LearningLoop:
    def __init__(self, conn: sqlite3.Connection, cipher: TemplateCipher, model, policy: LearningPolicy,
                 gallery: Gallery, gallery_path: Path | None = None, enabled: bool = True,
                 seal: GallerySeal | None = None) -> None:
        self.conn, self.cipher, self.model, self.policy = conn, cipher, model, policy
        self.gallery, self.gallery_path, self.enabled = gallery, gallery_path, enabled
        self.seal = seal  # the school's gallery key: the installed file stays encrypted (gallery_seal.py)
        self.version = template_store.current_version(conn)

    def keep(self, decision, *, proposed_at: str, camera: str, track_id: str | None, via: str = "proposal") -> bool:
        """Keep the best frame of a track the camera just proposed present or sent to review (nothing when
        learning is off)."""
        if not self.enabled or decision.best_embedding is None or decision.student_id is None:
            return False
        with transaction(self.conn):
            return learned_store.keep_sighting(
                self.conn, self.cipher, self.model.sha256, student_id=decision.student_id, proposed_at=proposed_at,
                camera=camera, track_id=track_id, quality=decision.best_quality, score=decision.score,
                margin=decision.margin, embedding=decision.best_embedding, via=via)

    def tick(self, today: date) -> dict[str, int]:
        counts = learned_store.learn_finalised(self.conn, self.cipher, self.model, self.policy, self.enabled)
        learned_store.purge_unused(self.conn, today)
        version = template_store.current_version(self.conn)
        if counts.get("learned") or counts.get("replaced") or version != self.version:
            self.refresh()  # learned here, or templates changed at the school (e.g. a learning consent withdrawn)
            log.info("learning from confirmed sightings: %s (gallery version %d)", counts, version)
        self.version = version
        return counts

    def refresh(self) -> None:
        tpl = template_store.load(self.conn, self.cipher, self.model.sha256, sorted(self.gallery.student_ids))
        if not len(tpl) or not self.gallery.update_students(tpl.embeddings, tpl.student_ids):
            return
        if self.gallery_path is not None:
            self.gallery.save(self.gallery_path, seal=self.seal)
