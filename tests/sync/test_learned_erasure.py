"""A central erasure request erases learned templates end to end: the request published by the central server
reaches the running edge service over MQTT, the student leaves the live gallery, and every template of the
student in the school database (enrolled and learned from confirmed sightings) is deleted and audited."""

from __future__ import annotations

import json

import pytest
from conftest import CENTRAL_PASS, CENTRAL_USER, wait_until

from central_server.control.publisher import ControlPublisher
from central_server.control.service import erasure_message
from central_server.ingest.config import IngestSettings
from edge_agent.store import school_db
from edge_agent.store.school_keys import GALLERY_KEY, read_key

pytestmark = [pytest.mark.mqtt]


def test_central_erasure_deletes_learned_templates_in_the_school_database(edge_service, broker):
    from edge_agent.recognition import template_store
    from edge_agent.recognition.template_store import TemplateCipher

    service, demo, (obama, biden, _) = edge_service
    s = service.s
    cipher = TemplateCipher(read_key(s.paths.keys_dir, GALLERY_KEY), s.school_code)
    meta = service.gallery.meta
    model = type("M", (), {"name": meta.model_name, "sha256": meta.model_sha256})()
    snap = service.gallery._snap
    conn = school_db.connect(s.paths.db_path)
    try:
        for sid in (obama, biden):  # a learned template each: a real frame of theirs (their live template)
            emb = snap.embeddings[snap.rows[sid][0]]
            with school_db.transaction(conn):
                template_store.add(conn, cipher, sid, model, emb, 0.6, "learned",
                                   learned_from=json.dumps({"lesson_id": 1, "finalised_by": "GV001"}))
        count = lambda sid, extra="": conn.execute(  # noqa: E731
            "SELECT count(*) FROM face_templates WHERE student_id = ?" + extra, (sid,)).fetchone()[0]
        assert count(biden, " AND source = 'learned'") == 1
        key = read_key(demo.workdir / "keys")
        central = IngestSettings(port=broker.port, username=CENTRAL_USER, password=CENTRAL_PASS, _env_file=None)
        ControlPublisher(central).publish_now([erasure_message(s.school_code, key, biden, "DSR-2026-077")])
        wait_until(lambda: count(biden) == 0, 60, msg="the student's templates in the school database")
        assert biden not in service.gallery
        assert count(obama, " AND source = 'learned'") == 1 and obama in service.gallery
        audit = conn.execute("SELECT * FROM audit_log WHERE action = 'erasure.central' AND target = ?",
                             (biden,)).fetchone()
        assert audit is not None and "DSR-2026-077" in audit["detail"]
    finally:
        conn.close()
