"""`enroll capture` from a real video file: K good, varied templates with guidance; a crowd gives none."""

from __future__ import annotations

import numpy as np

VIDEOS = "face-videos"


def test_capture_from_video_takes_k_varied_templates(school, datasets, calibrated):
    from edge_agent.recognition.thresholds import load_thresholds

    school.add_students()
    clip = datasets / VIDEOS / "ageitgey__face_recognition/short_hamilton_clip.mp4"
    _, out = school.run("capture", "094209000104", "--source", str(clip), "--k", "3", "--keep-thumbnails")
    assert out["taken"] == 3 and out["added"] == 3 and out["gallery_version"] == 1
    assert out["guidance"], "the operator was told what to change on the frames that failed"
    assert school.templates("094209000104") == 3
    from edge_agent.store.school_keys import GALLERY_KEY, read_key
    from enrollment_tools.templates import TemplateCipher, embedder_id

    cipher = TemplateCipher(read_key(school.data / "keys", GALLERY_KEY), school.code)
    with school.db() as conn:
        rows = conn.execute("SELECT nonce, ciphertext, source FROM face_templates").fetchall()
        assert conn.execute("SELECT count(*) FROM student_thumbnails").fetchone()[0] == 1
    sha = embedder_id().sha256
    embs = np.stack([cipher.open("094209000104", sha, r[0], r[1]) for r in rows])
    sims = embs @ embs.T
    assert {r[2] for r in rows} == {"capture"}
    assert sims[np.triu_indices(3, 1)].max() < 0.92          # varied, not three copies of one frame
    assert sims[np.triu_indices(3, 1)].min() > load_thresholds().review     # ... yet one person


def test_capture_without_a_usable_face_enrols_nothing(school, datasets, calibrated):
    school.add_students()
    before = school.dump()
    crowd = datasets / VIDEOS / "davisking__dlib/MOT20-05-raw_even_shorter.mp4"
    code, out = school.run("capture", "094209000104", "--source", str(crowd), "--max-frames", "40", ok=False)
    assert code == 1 and "40" in out["error"] and out["guidance"]
    code, out = school.run("capture", "094209000104", "--source", "/no/such/video.mp4", ok=False)
    assert code == 1 and "/no/such/video.mp4" in out["error"]
    assert school.dump() == before
