"""Enrolment that accepts the photos schools have: a 48-80 px face is enrolled after upscaling and flagged
`low_resolution` (sharpness and pose passed); `enroll status` lists whom to photograph again and, per student,
every template with its source; the learning consent purpose is imported from the form."""

from __future__ import annotations

import cv2
import numpy as np

from tests.enrollment_tools.conftest import lfw, put, write_image


def _id_photo(src, side: int) -> np.ndarray:
    """An ID-style crop: the LFW photo's middle, shrunk so that the face is about side * 0.45 px."""
    img = cv2.imread(str(src))[40:210, 40:210]
    return cv2.resize(img, (side, side), interpolation=cv2.INTER_AREA)


def test_small_id_photo_is_enrolled_flagged_and_still_matches_the_person(school, datasets, calibrated, tmp_path):
    from edge_agent.recognition.template_store import TemplateCipher, load
    from edge_agent.store.school_keys import GALLERY_KEY, read_key
    from enrollment_tools.templates import embedder_id

    school.add_students()
    small, tiny = "094209000101", "094209000103"
    d = tmp_path / "photos"
    powell = lfw(datasets, "Colin_Powell", 1, 2)
    write_image(d / small / "id.jpg", _id_photo(powell[0], 150))          # face about 65 px: low resolution
    write_image(d / tiny / "id.jpg", _id_photo(powell[0], 80))            # face about 35 px: still refused
    put(d / small, powell[1])                                             # the same man, a normal photo
    code, out = school.run("photos", str(d), "--school", school.code, "--workers", "1")
    rejected = {r["path"].rsplit("/", 2)[-2]: r["code"] for r in out["rejected"]}
    assert rejected == {tiny: "too_small"}
    with school.db() as conn:
        flags = sorted(tuple(r) for r in conn.execute("SELECT student_id, low_resolution FROM face_templates"))
    assert flags == [(small, 0), (small, 1)]
    _, listed = school.run("status", "--student", small)
    assert sorted((t["source"], t["low_resolution"]) for t in listed["templates"]) == [("photo", False),
                                                                                        ("photo", True)]
    # the upscaled template is the same person: it matches the normal photo far above the accept threshold
    with school.db() as conn:
        tpl = load(conn, TemplateCipher(read_key(school.data / "keys", GALLERY_KEY), school.code),
                   embedder_id().sha256)
    assert tpl.student_ids == [small, small]
    assert float(tpl.embeddings[0] @ tpl.embeddings[1]) >= calibrated


def test_status_lists_students_with_zero_or_one_template(school, datasets, calibrated, tmp_path):
    school.add_students()
    d = tmp_path / "photos"
    put(d / "094209000101", *lfw(datasets, "Colin_Powell", 1, 2))
    put(d / "094209000102", *lfw(datasets, "George_W_Bush", 1))
    school.run("photos", str(d), "--school", school.code, "--workers", "1")
    _, status = school.run("status")
    few = {x["student_id"]: x["templates"] for x in status["few_templates"]}
    assert few == {"094209000102": 1, "094209000103": 0, "094209000104": 0}
    assert status["learned_templates"] == 0
    code, refused = school.run("status", "--student", "094209999999", ok=False)
    assert code != 0 and "094209999999" in refused["error"]


def test_the_learning_purpose_is_imported_from_the_consent_form(school, tmp_path):
    from edge_agent.recognition.learned_store import has_consent
    from edge_agent.store import school_db

    school.add_students()
    rows = ["Mã định danh,Người đồng ý,Mục đích,Ngày đồng ý",
            "094209000101,phụ huynh,Cải thiện nhận dạng,01/09/2025",
            "094209000101,học sinh,cai_thien_nhan_dang,01/09/2025",
            "094209000102,phụ huynh,cải thiện nhận dạng,01/09/2025"]          # the student's own consent missing
    (tmp_path / "c.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    school.run("consent", "import", str(tmp_path / "c.csv"))
    conn = school_db.connect(school.data / "school.sqlite3")
    try:
        assert has_consent(conn, "094209000101") and not has_consent(conn, "094209000102")
        assert not has_consent(conn, "094209000103"), "silence is not consent"
    finally:
        conn.close()
