"""Learned templates are part of the school's gallery: `enroll export` packages them, `enroll status` counts and
lists them per student, and `enroll remove` erases them."""

from __future__ import annotations

import json

from tests.enrollment_tools.conftest import lfw, put


def test_learned_template_is_exported_listed_and_removed(school, datasets, calibrated, tmp_path):
    from edge_agent.recognition import template_store
    from edge_agent.recognition.gallery_package import read_package_file
    from edge_agent.store import school_db
    from edge_agent.store.school_keys import GALLERY_KEY, read_key
    from enrollment_tools.templates import embedder_id

    school.add_students()
    sid = "094209000101"
    put(tmp_path / "photos" / sid, *lfw(datasets, "Colin_Powell", 1, 2))
    school.run("photos", str(tmp_path / "photos"), "--school", school.code, "--workers", "1")
    key = read_key(school.data / "keys", GALLERY_KEY)
    cipher = template_store.TemplateCipher(key, school.code)
    model = embedder_id()
    conn = school_db.connect(school.data / "school.sqlite3")
    try:
        enrolled = template_store.load(conn, cipher, model.sha256, [sid])
        with school_db.transaction(conn):  # what a finalised lesson leaves (edge_agent.recognition.learned_store)
            template_store.add(conn, cipher, sid, model, enrolled.embeddings[0], 0.5, "learned",
                               learned_from=json.dumps({"lesson_id": 3, "date": "2025-09-08",
                                                        "finalised_by": "GV001"}))
    finally:
        conn.close()
    _, status = school.run("status")
    assert status["learned_templates"] == 1 and status["templates"] == 3
    _, listed = school.run("status", "--student", sid)
    learned = [t for t in listed["templates"] if t["source"] == "learned"]
    assert len(learned) == 1 and learned[0]["learned_from"]["finalised_by"] == "GV001"
    _, out = school.run("export", "--school", school.code, "--out", str(tmp_path / "g.pkg"))
    pkg = read_package_file(tmp_path / "g.pkg", school.code, key)
    assert out["templates"] == 3 and pkg.student_ids.count(sid) == 3
    _, removed = school.run("remove", sid)
    assert removed["templates_removed"] == 3 and school.templates(sid) == 0
