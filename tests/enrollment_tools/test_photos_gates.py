"""`enroll photos` on real photos: the gates reject tiny, blurry, multi-face, faceless and broken files, with the
reason, and accept good photos; at most K templates per student; thumbnails only on request."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np

from tests.enrollment_tools.conftest import lfw, put, write_image


def _tiny(src) -> np.ndarray:
    img = cv2.imread(str(src))
    small = cv2.resize(img, (100, 100), interpolation=cv2.INTER_AREA)  # face about 45 px
    canvas = np.full((400, 400, 3), 128, np.uint8)
    canvas[150:250, 150:250] = small
    return canvas


def test_gates_reject_bad_photos_with_reasons_and_accept_good_ones(school, datasets, calibrated, tmp_path):
    school.add_students()
    d = tmp_path / "photos"
    put(d / "094209000101", *lfw(datasets, "Colin_Powell", 1, 2, 3, 4))   # 4 good: K=3 are kept
    powell = lfw(datasets, "Colin_Powell", 5)[0]
    bad = d / "094209000102"
    write_image(bad / "tiny.jpg", _tiny(powell))
    write_image(bad / "blurry.jpg", cv2.GaussianBlur(cv2.imread(str(powell)), (0, 0), 4))
    put(bad, datasets / "face-recognition-knn-examples/test/obama_and_biden.jpg")
    write_image(bad / "no_face.jpg", cv2.resize(cv2.imread(str(powell))[:40, :40], (250, 250)))
    (bad / "notes.jpg").write_text("không phải ảnh", encoding="utf-8")
    data = powell.read_bytes()
    (bad / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (bad / "corrupt.jpg").write_bytes(data[:20] + b"\0" * 380 + data[400:])

    code, out = school.run("photos", str(d), "--school", school.code, "--workers", "1", "--k", "3",
                           "--report", str(tmp_path / "report.csv"))
    by_file = {r["path"].rsplit("/", 1)[-1]: r for r in out["rejected"]}
    assert by_file["tiny.jpg"]["code"] == "too_small" and "nhỏ" in by_file["tiny.jpg"]["reason"]
    assert by_file["blurry.jpg"]["code"] == "blurry" and "mờ" in by_file["blurry.jpg"]["reason"]
    assert by_file["obama_and_biden.jpg"]["code"] == "multi_face"
    assert by_file["no_face.jpg"]["code"] == "no_face"
    for name in ("notes.jpg", "truncated.jpg", "corrupt.jpg"):
        assert by_file[name]["code"] == "not_an_image", by_file[name]
        assert by_file[name]["path"].endswith(f"094209000102/{name}")
    assert not any(name.startswith("Colin_Powell") for name in by_file)
    assert school.templates("094209000101") == 3 and school.templates("094209000102") == 0
    assert out["templates_added"] == 3
    assert out["coverage"]["templates_per_student"] == {"0": 3, "1": 0, "2": 0, "3+": 1}
    assert out["coverage"]["rejected_by_reason"] == {"too_small": 1, "blurry": 1, "multi_face": 1, "no_face": 1,
                                                     "not_an_image": 3}
    with open(tmp_path / "report.csv", encoding="utf-8-sig") as fh:
        rows = {r["Mã định danh"]: r for r in csv.DictReader(fh)}
    assert rows["094209000101"]["Số mẫu"] == "3" and rows["094209000102"]["Số mẫu"] == "0"
    assert "blurry.jpg" in rows["094209000102"]["Ảnh bị loại (lý do)"]
    with school.db() as conn:  # photos are not kept, and no thumbnail unless asked
        assert conn.execute("SELECT count(*) FROM student_thumbnails").fetchone()[0] == 0
        assert conn.execute("SELECT max(version) FROM gallery_versions").fetchone()[0] == 1

    # re-running the same folder enrols nothing twice; a better photo replaces the worst (K best)
    code, again = school.run("photos", str(d), "--school", school.code, "--workers", "1")
    assert again["templates_added"] == 0 and school.templates("094209000101") == 3


def test_parallel_workers_and_thumbnails(school, datasets, calibrated, tmp_path):
    school.add_students()
    d = tmp_path / "photos"
    put(d / "094209000101", *lfw(datasets, "Colin_Powell", 1, 2, 3))
    put(d / "094209000102", *lfw(datasets, "Gerhard_Schroeder", 1, 2, 3))
    put(d / "094209000103", *lfw(datasets, "George_W_Bush", 1, 2, 3))
    code, out = school.run("photos", str(d), "--school", school.code, "--workers", "2", "--keep-thumbnails")
    assert out["templates_added"] == 9 and out["rejected"] == [], json.dumps(out, ensure_ascii=False)
    with school.db() as conn:
        thumbs = conn.execute("SELECT student_id, jpeg FROM student_thumbnails ORDER BY 1").fetchall()
    assert [t[0] for t in thumbs] == ["094209000101", "094209000102", "094209000103"]
    img = cv2.imdecode(np.frombuffer(thumbs[0][1], np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (128, 128, 3) and len(thumbs[0][1]) < 65536


def test_flat_folder_with_mapping_and_unknown_ids(school, datasets, calibrated, tmp_path):
    school.add_students()
    d = put(tmp_path / "flat", *lfw(datasets, "Colin_Powell", 1, 2), *lfw(datasets, "Tony_Blair", 2))
    (tmp_path / "map.csv").write_text("Tệp,Mã định danh\nColin_Powell_0001.jpg,094209000101\n"
                                      "Colin_Powell_0002.jpg,094209000101\nTony_Blair_0002.jpg,999999999999\n"
                                      "missing.jpg,094209000102\n", encoding="utf-8")
    code, out = school.run("photos", str(d), "--school", school.code, "--workers", "1",
                           "--mapping", str(tmp_path / "map.csv"))
    codes = {r["path"].rsplit("/", 1)[-1]: r["code"] for r in out["rejected"]}
    assert codes == {"Tony_Blair_0002.jpg": "unknown_student", "missing.jpg": "missing_file"}
    assert school.templates("094209000101") == 2


def test_wrong_school_code_and_missing_folder_are_refused(school, tmp_path):
    code, out = school.run("photos", str(tmp_path), "--school", "THPT-OTHER", ok=False)
    assert code == 2 and "THPT-OTHER" in out["error"]
    code, out = school.run("photos", str(tmp_path / "nope"), "--school", school.code, ok=False)
    assert code == 1 and "nope" in out["error"]
