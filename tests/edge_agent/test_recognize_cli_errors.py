"""`edge-agent recognize` answers bad input with one clear Vietnamese line (issue 15 item 11, issue 20):
a class of 45 ids inline, a gallery package given as the gallery, an encrypted gallery without the key."""

from __future__ import annotations

import os

import numpy as np
from typer.testing import CliRunner

from edge_agent.cli import app
from edge_agent.cli.recognize import read_roster
from edge_agent.recognition.gallery import Gallery, GalleryMeta
from edge_agent.recognition.gallery_package import build_package
from edge_agent.recognition.gallery_seal import GallerySeal

runner = CliRunner()
CLASS = [f"0942090{i:05d}" for i in range(1, 46)]


def test_roster_of_45_ids_inline_or_in_a_file(tmp_path):
    inline = ",".join(CLASS)
    assert len(inline) > 255                          # longer than a file name may be: used to raise OSError
    assert read_roster(inline) == CLASS
    assert read_roster(" " + ", ".join(CLASS[:3]) + ", ") == CLASS[:3]
    listed = tmp_path / "10A1.txt"
    listed.write_text("# lớp 10A1\n" + "\n".join(f"{sid},Học sinh {i}" for i, sid in enumerate(CLASS)) + "\n",
                      encoding="utf-8")
    assert read_roster(str(listed)) == CLASS
    assert read_roster(CLASS[0]) == CLASS[:1]         # one id that names no file is one id
    assert read_roster("x" * 5000) == ["x" * 5000]    # absurdly long, no comma: still no OSError


def _gallery(tmp_path, model_store) -> tuple[np.ndarray, list[str], GalleryMeta]:
    entry = model_store.default("embedder")
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(3, 192)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return emb, CLASS[:3], GalleryMeta(entry.name, entry.final.sha256)


def test_roster_of_45_ids_on_the_command_line(tmp_path, model_store):
    emb, ids, meta = _gallery(tmp_path, model_store)
    Gallery(emb, ids, meta).save(tmp_path / "g.npz")
    result = runner.invoke(app, ["recognize", "--source", str(tmp_path / "none.mp4"), "--gallery",
                                 str(tmp_path / "g.npz"), "--roster", ",".join(CLASS)])
    # the roster is accepted; what stops the run is the missing video, said in one line
    assert result.exit_code == 2 and not isinstance(result.exception, OSError), result.output
    assert result.output.startswith("Lỗi: ") and "none.mp4" in result.output


def test_a_package_given_as_gallery_says_to_import_it(tmp_path, model_store):
    emb, ids, meta = _gallery(tmp_path, model_store)
    pkg = tmp_path / "gallery.pkg"
    pkg.write_bytes(build_package("THPT-LDT", os.urandom(32), embeddings=emb, student_ids=ids,
                                  class_ids=["10A1"] * 3, model_name=meta.model_name, model_sha256=meta.model_sha256,
                                  gallery_version=1, created_at="2026-01-01T00:00:00+00:00"))
    result = runner.invoke(app, ["recognize", "--source", "0", "--gallery", str(pkg)])
    assert result.exit_code == 2
    assert "Lỗi: " in result.output and "edge-agent gallery import gallery.pkg" in result.output
    assert "allow_pickle" not in result.output and "Traceback" not in result.output


def test_encrypted_gallery_is_opened_with_the_schools_key(tmp_path, model_store, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["init", "--school", "THPT-LDT", "--data-dir", "data"]).exit_code == 0
    from edge_agent.store.school_keys import GALLERY_KEY, read_key

    emb, ids, meta = _gallery(tmp_path, model_store)
    seal = GallerySeal(read_key(tmp_path / "data" / "keys", GALLERY_KEY), "THPT-LDT")
    Gallery(emb, ids, meta).save(tmp_path / "data" / "gallery.npz", seal=seal)
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)                      # no edge.toml here: the key cannot be found
    result = runner.invoke(app, ["recognize", "--source", "none.mp4", "--gallery", "../data/gallery.npz"])
    assert result.exit_code == 2 and result.output.startswith("Lỗi: ") and "edge.toml" in result.output
    result = runner.invoke(app, ["recognize", "--source", "none.mp4", "--gallery", "../data/gallery.npz",
                                 "--config", "../edge.toml"])
    assert result.exit_code == 2 and "none.mp4" in result.output, result.output   # decrypted; the video is missing
