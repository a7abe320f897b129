"""Personal data at rest on the school box (issue 15 item 7): after `edge-agent init`, a real enrolment
(roster, consent, photos with thumbnails, export, gallery import, backup) and a service run, every file under
the data dir is 0600 and every folder 0700, and the installed gallery holds no personal id in clear."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edge_agent.cli import app as edge_app
from edge_agent.config import load_settings
from edge_agent.recognition.gallery import Gallery, GalleryError, GalleryMeta
from edge_agent.recognition.gallery_seal import GallerySeal
from edge_agent.service import EdgeService
from edge_agent.store.school_keys import GALLERY_KEY, read_key
from tests.enrollment_tools.conftest import STUDENTS, School, lfw, put


class InitSchool(School):
    """A school provisioned by `edge-agent init` (not by hand), enrolled through the `enroll` CLI."""

    def __init__(self, root: Path):  # noqa: D107 - the config and keys come from `edge-agent init`
        self.root, self.code = root, "THPT-LDT"
        root.mkdir(parents=True)
        self.config, self.data = root / "edge.toml", root / "data"
        self.runner = CliRunner()
        result = self.runner.invoke(edge_app, ["init", "--school", self.code, "--out", str(self.config),
                                               "--data-dir", "data"])
        assert result.exit_code == 0, result.output


def _walk(root: Path) -> list[str]:
    """Every path under `root` (root included) whose mode lets the group or others in."""
    loose = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        want = 0o700 if path.is_dir() else 0o600
        if mode & 0o077 or (mode & want) != want:
            loose.append(f"{path.relative_to(root)}: {oct(mode)}")
    return loose


def _id_in_clear(data: bytes, sid: str) -> bool:
    # numpy keeps unicode arrays as UTF-32: look for every plausible encoding of the id
    return any(sid.encode(enc) in data for enc in ("ascii", "utf-16-le", "utf-32-le", "utf-32-be"))


def test_data_dir_is_private_and_gallery_encrypted(tmp_path, datasets, calibrated, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = InitSchool(tmp_path / "school")
    s.add_students()
    d = tmp_path / "photos"
    put(d / "094209000101", *lfw(datasets, "Colin_Powell", 1, 2))
    put(d / "094209000102", *lfw(datasets, "George_W_Bush", 1, 2))
    s.run("photos", str(d), "--school", s.code, "--workers", "1", "--keep-thumbnails")
    s.run("export", "--school", s.code, "--out", str(s.data / "exports" / "g.pkg"))
    result = s.runner.invoke(edge_app, ["gallery", "import", str(s.data / "exports" / "g.pkg"),
                                        "--config", str(s.config)])
    assert result.exit_code == 0, result.output
    assert s.runner.invoke(edge_app, ["backup", "--config", str(s.config)]).exit_code == 0

    settings = load_settings(s.config)
    service = EdgeService(settings, with_kiosk=False, with_link=False)   # no cameras: starts, loads, stops
    assert service.run(until_idle=True) == 0
    assert service.gallery is not None and sorted(service.gallery.student_ids) == ["094209000101", "094209000102"]

    assert _walk(s.data) == []
    names = {p.relative_to(s.data).as_posix() for p in s.data.rglob("*") if p.is_file()}
    assert {"school.sqlite3", "gallery.npz", "keys/gallery-aes.key", "exports/g.pkg"} <= names
    assert any(n.startswith("backups/school-") for n in names) and any(n.startswith("reports/") for n in names)
    blob = settings.paths.gallery_path.read_bytes()
    for sid in STUDENTS:
        assert not _id_in_clear(blob, sid), f"{sid} readable in the installed gallery"
    assert b"PK\x03\x04" not in blob and b"embeddings" not in blob     # not even the npz structure shows
    # the file is authenticated: one flipped byte and it is refused, not half-read
    bad = bytearray(blob)
    bad[-5] ^= 1
    settings.paths.gallery_path.write_bytes(bytes(bad))
    seal = GallerySeal(read_key(settings.paths.keys_dir, GALLERY_KEY), s.code)
    with pytest.raises(GalleryError, match="authentication failed"):
        Gallery.load(settings.paths.gallery_path, seal=seal)
    with pytest.raises(GalleryError, match="encrypted gallery"):
        Gallery.load(tmp_path / "school" / "data" / "gallery.npz")          # no key: refused with a clear message


def _plain(path: Path) -> list[str]:
    ids = ["094209000101", "094209000102"]
    emb = np.eye(2, 8, dtype=np.float32)
    Gallery(emb, ids, GalleryMeta("m", "sha")).save(path)
    return ids


def test_plain_old_gallery_is_refused_or_migrated(tmp_path):
    seal, other = GallerySeal(os.urandom(32), "THPT-LDT"), GallerySeal(os.urandom(32), "THPT-LDT")
    path = tmp_path / "gallery.npz"
    ids = _plain(path)
    assert _id_in_clear(path.read_bytes(), ids[0])            # what an old box has on disk
    with pytest.raises(GalleryError, match="chưa mã hoá.*edge-agent gallery encrypt"):
        Gallery.load(path, seal=seal)
    assert Gallery.load(path, seal=seal, migrate_plain=True).student_ids == ids
    assert not _id_in_clear(path.read_bytes(), ids[0])        # rewritten encrypted in place
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Gallery.load(path, seal=seal).student_ids == ids
    with pytest.raises(GalleryError, match="authentication failed"):
        Gallery.load(path, seal=other)                         # another key (another school's box) cannot read it
    with pytest.raises(GalleryError, match="THPT-LDT"):
        Gallery.load(path, seal=GallerySeal(seal.key, "THPT-KHAC"))


def test_gallery_encrypt_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(edge_app, ["init", "--school", "THPT-LDT", "--data-dir", "data"]).exit_code == 0
    ids = _plain(tmp_path / "data" / "gallery.npz")
    result = runner.invoke(edge_app, ["gallery", "encrypt"])
    assert result.exit_code == 0 and "Đã mã hoá" in result.output, result.output
    blob = (tmp_path / "data" / "gallery.npz").read_bytes()
    assert not _id_in_clear(blob, ids[0])
    again = runner.invoke(edge_app, ["gallery", "encrypt"])
    assert again.exit_code == 0 and "đã được mã hoá" in again.output
    assert (tmp_path / "data" / "gallery.npz").read_bytes() == blob
