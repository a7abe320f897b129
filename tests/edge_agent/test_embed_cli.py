"""`edge-agent embed`: the .npz contract, a bad file in the middle of a batch, --list and --all-faces."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edge_agent.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def samples(model_store):
    return model_store.samples("face_recognition")


def test_batch_with_bad_files_in_the_middle(tmp_path, samples):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    missing = tmp_path / "missing.jpg"
    listed = tmp_path / "list.txt"
    listed.write_text(f"# enrolment photos\n{samples['obama3.jpg']}\n\n{missing}\n", encoding="utf-8")
    out = tmp_path / "out.npz"
    args = ["embed", str(samples["obama.jpg"]), str(broken), str(samples["obama2.jpg"]), str(empty),
            str(samples["biden.jpg"]), "--list", str(listed), "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output  # some files were bad...
    assert out.is_file()  # ...and the rest of the batch is still written
    for bad in (broken, empty, missing):
        assert f"Lỗi: {bad}" in result.output

    z = np.load(out)
    assert set(z.files) >= {"paths", "found", "embeddings", "boxes", "landmarks", "det_scores", "quality"}
    names = [p.split("/")[-1] for p in z["paths"]]
    assert names == ["obama.jpg", "broken.jpg", "obama2.jpg", "empty.png", "biden.jpg", "obama3.jpg",
                     "missing.jpg"]
    assert z["found"].tolist() == [True, False, True, False, True, True, False]
    assert [bool(e) for e in z["errors"]] == [False, True, False, True, False, False, True]
    emb = z["embeddings"]
    assert emb.dtype == np.float32 and emb.shape == (7, 192)
    assert np.allclose(np.linalg.norm(emb[z["found"]], axis=1), 1.0, atol=1e-5)
    assert not emb[~z["found"]].any()
    assert z["boxes"].shape == (7, 4) and z["landmarks"].shape == (7, 5, 2)
    assert (z["det_scores"][z["found"]] >= 0.8).all() and (z["quality"][z["found"]] > 0).all()
    obama, obama2, biden, obama3 = emb[0], emb[2], emb[4], emb[5]
    assert obama @ obama2 > 0.6 and obama @ obama3 > 0.6 and obama @ biden < 0.3


def test_all_faces_of_a_group_photo(tmp_path, datasets):
    photo = datasets / "face-detection-groups" / "davisking__dlib" / "2008_002470.jpg"
    out = tmp_path / "group.npz"
    result = runner.invoke(app, ["embed", str(photo), "--out", str(out), "--all-faces"])
    assert result.exit_code == 0, result.output
    z = np.load(out)
    assert len(z["paths"]) == 6 and z["found"].all()  # 6 annotated faces
    assert z["face_index"].tolist() == list(range(6))
    one = tmp_path / "largest.npz"
    assert runner.invoke(app, ["embed", str(photo), "--out", str(one)]).exit_code == 0
    z1 = np.load(one)
    areas = (z["boxes"][:, 2] - z["boxes"][:, 0]) * (z["boxes"][:, 3] - z["boxes"][:, 1])
    assert len(z1["paths"]) == 1 and np.allclose(z1["boxes"][0], z["boxes"][areas.argmax()])


def test_no_face_is_not_an_error(tmp_path):
    import cv2

    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 180, np.uint8))
    out = tmp_path / "out.npz"
    result = runner.invoke(app, ["embed", str(blank), "--out", str(out)])
    assert result.exit_code == 0, result.output
    z = np.load(out)
    assert z["found"].tolist() == [False] and z["errors"].tolist() == [""]


def test_nothing_readable_writes_nothing(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("ghi chú, không phải ảnh\n", encoding="utf-8")
    out = tmp_path / "x.npz"
    result = runner.invoke(app, ["embed", str(notes), "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "Lỗi: không đọc được tệp ảnh nào" in result.output and f"không ghi {out}" in result.output
    assert not out.exists() and list(tmp_path.iterdir()) == [notes]    # no temporary file left either


def test_usage_errors(tmp_path):
    assert runner.invoke(app, ["embed", "--out", str(tmp_path / "x.npz")]).exit_code == 2
    result = runner.invoke(app, ["embed", "a.jpg", "--out", str(tmp_path / "x.txt")])
    assert result.exit_code == 2 and "Lỗi: tệp kết quả phải có đuôi .npz" in result.output
    assert not (tmp_path / "x.txt").exists()


def test_console_script_runs(tmp_path, samples):
    out = tmp_path / "cli.npz"
    script = Path(sys.executable).with_name("edge-agent")  # installed by `pip install -e .`
    assert script.is_file(), "console script missing: run `make install`"
    proc = subprocess.run([str(script), "embed", str(samples["biden.jpg"]),
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert np.load(out)["found"].tolist() == [True]
