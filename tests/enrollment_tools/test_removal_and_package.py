"""Erasure deletes every template and thumbnail, is audited and queued; the gallery package is encrypted,
installs with `edge-agent gallery import`, and a tampered, foreign, stale or post-erasure package is refused
or cleaned."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from edge_agent.cli import app as edge_app
from edge_agent.recognition.gallery import Gallery
from edge_agent.recognition.gallery_package import PackageError, read_package_file
from edge_agent.recognition.gallery_seal import GallerySeal
from edge_agent.store import erasure_queue
from edge_agent.store.school_keys import GALLERY_KEY, read_key
from edge_agent.vision.analyzer import FaceAnalyzer
from edge_agent.vision.image_io import load_image
from tests.enrollment_tools.conftest import School, lfw, put


@pytest.fixture()
def enrolled(school, datasets, calibrated, tmp_path) -> School:
    school.add_students()
    d = tmp_path / "photos"
    put(d / "094209000101", *lfw(datasets, "Colin_Powell", 1, 2, 3))
    put(d / "094209000102", *lfw(datasets, "Gerhard_Schroeder", 1, 2, 3))
    school.run("photos", str(d), "--school", school.code, "--workers", "1", "--keep-thumbnails")
    return school


def seal_of(school: School) -> GallerySeal:
    """The installed gallery is encrypted with the school's gallery key."""
    return GallerySeal(read_key(school.data / "keys", GALLERY_KEY), school.code)


def gallery_import(school: School, package, *extra: str) -> tuple[int, dict]:
    result = CliRunner().invoke(edge_app, ["gallery", "import", str(package), "--config", str(school.config),
                                           "--json", *extra])
    return result.exit_code, json.loads(result.stdout.strip().splitlines()[-1])


def test_remove_deletes_every_template_and_thumbnail_and_is_audited(enrolled, tmp_path):
    s = enrolled
    s.run("export", "--school", s.code, "--out", str(tmp_path / "g.pkg"))
    assert gallery_import(s, tmp_path / "g.pkg")[0] == 0
    gallery_file = s.data / "gallery.npz"
    assert "094209000101" in Gallery.load(gallery_file, seal=seal_of(s))
    _, out = s.run("remove", "094209000101", "--reason", "phụ huynh yêu cầu xoá", "--actor", "it-admin")
    assert out["templates_removed"] == 3 and out["thumbnails_removed"] == 1
    assert out["gallery_file_templates_removed"] == 3
    assert s.templates("094209000101") == 0 and s.templates("094209000102") == 3
    with s.db() as conn:
        assert conn.execute("SELECT count(*) FROM student_thumbnails WHERE student_id = '094209000101'"
                            ).fetchone()[0] == 0
        audit = conn.execute("SELECT actor, detail FROM audit_log WHERE action = 'enroll.erase'").fetchone()
        assert audit[0] == "it-admin" and "phụ huynh yêu cầu xoá" in audit[1]
        pending = erasure_queue.pending(conn)
        assert [(p.student_id, p.request_id) for p in pending] == [("094209000101", out["request_id"])]
        assert erasure_queue.mark_propagated(conn, out["request_id"]) and not erasure_queue.pending(conn)
    gallery = Gallery.load(gallery_file, seal=seal_of(s))
    assert "094209000101" not in gallery and "094209000102" in gallery
    # the package made before the erasure cannot bring the student back
    code, imported = gallery_import(s, tmp_path / "g.pkg", "--allow-downgrade")
    assert code == 0 and imported["erased_since_export"] == ["094209000101"]
    assert "094209000101" not in Gallery.load(gallery_file, seal=seal_of(s))
    # unknown and malformed ids: clear message, exit 1
    assert s.run("remove", "094209000199", ok=False)[0] == 1
    code, out = s.run("remove", "12ab", ok=False)
    assert code == 1 and "12ab" in out["error"]


def test_templates_are_encrypted_at_rest(enrolled, model_store, datasets):
    s = enrolled
    analyzer = FaceAnalyzer.from_store(model_store)
    with s.db() as conn:
        rows = conn.execute("SELECT student_id, nonce, ciphertext FROM face_templates").fetchall()
    img = load_image(lfw(datasets, "Colin_Powell", 1)[0])
    emb = analyzer.embed_faces(img, analyzer.detect(img, padded=True)[:1])[0]
    raw = emb.astype("<f4").tobytes()
    assert all(raw[:16] not in r["ciphertext"] for r in rows)  # no plaintext floats anywhere
    from enrollment_tools.templates import TemplateCipher, embedder_id

    cipher = TemplateCipher(read_key(s.data / "keys", GALLERY_KEY), s.code)
    sha = embedder_id(model_store).sha256
    r = next(r for r in rows if r["student_id"] == "094209000101")
    assert float(np.dot(cipher.open("094209000101", sha, r["nonce"], r["ciphertext"]), emb)) > 0.5
    with pytest.raises(ValueError):  # bound to its student: a row moved to another student does not decrypt
        cipher.open("094209000102", sha, r["nonce"], r["ciphertext"])


def test_package_installs_and_recognises(enrolled, model_store, datasets, tmp_path):
    s = enrolled
    _, out = s.run("export", "--school", s.code, "--out", str(tmp_path / "g.pkg"))
    assert (out["students"], out["templates"], out["gallery_version"]) == (2, 6, 1)
    pkg = read_package_file(tmp_path / "g.pkg", s.code, read_key(s.data / "keys", GALLERY_KEY))
    assert sorted(set(zip(pkg.student_ids, pkg.class_ids, strict=True))) == [("094209000101", "10A1"),
                                                                             ("094209000102", "10A1")]
    assert b"JFIF" not in (tmp_path / "g.pkg").read_bytes()
    code, imported = gallery_import(s, tmp_path / "g.pkg")
    assert code == 0 and imported["templates"] == 6
    gallery = Gallery.load(s.data / "gallery.npz", expect_model_sha256=pkg.header["model_sha256"],
                           seal=seal_of(s))
    analyzer = FaceAnalyzer.from_store(model_store)
    img = load_image(lfw(datasets, "Colin_Powell", 7)[0])       # a photo never enrolled
    q = analyzer.embed_faces(img, analyzer.detect(img, padded=True)[:1])
    assert gallery.search(q)[0][0].student_id == "094209000101"
    _, status = s.run("status")
    assert status["last_export"]["gallery_version"] == 1 and status["templates"] == 6


def test_tampered_foreign_and_stale_packages_are_refused(enrolled, tmp_path):
    s = enrolled
    s.run("export", "--school", s.code, "--out", str(tmp_path / "g.pkg"))
    gallery_import(s, tmp_path / "g.pkg")
    installed = (s.data / "gallery.npz").read_bytes()
    data = bytearray((tmp_path / "g.pkg").read_bytes())
    for offset in (len(data) - 40, 60):   # in the ciphertext, and in the authenticated header
        bad = bytearray(data)
        bad[offset] ^= 0x01
        (tmp_path / "bad.pkg").write_bytes(bytes(bad))
        code, out = gallery_import(s, tmp_path / "bad.pkg")
        assert code == 1 and out["ok"] is False and "bad.pkg" in out["error"], out
    other = School(tmp_path / "other", code="THPT-HMD")                   # another school, other keys
    code, out = gallery_import(other, tmp_path / "g.pkg")
    assert code == 1 and "THPT-LDT" in out["error"]
    with pytest.raises(PackageError, match="khoá|key"):                   # same code, but not its key
        read_package_file(tmp_path / "g.pkg", s.code, read_key(other.data / "keys", GALLERY_KEY))
    (tmp_path / "junk.pkg").write_bytes(b"PK\x03\x04 not a package")
    assert gallery_import(s, tmp_path / "junk.pkg")[0] == 1
    assert (s.data / "gallery.npz").read_bytes() == installed              # the installed gallery stayed
    # an older version is refused once a newer one is installed
    s.run("remove", "094209000102")
    s.run("export", "--school", s.code, "--out", str(tmp_path / "g2.pkg"))
    assert gallery_import(s, tmp_path / "g2.pkg")[0] == 0
    code, out = gallery_import(s, tmp_path / "g.pkg")
    assert code == 1 and "cũ hơn bản đã cài" in out["error"]
