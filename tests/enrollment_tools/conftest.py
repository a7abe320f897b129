"""A real school for the `enroll` tests: edge.toml, keys, SQLite database, roster and consent through the CLI."""

from __future__ import annotations

import json
import shutil
import sqlite3
import unicodedata
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from edge_agent.recognition.thresholds import ThresholdsError, load_thresholds
from edge_agent.store import school_db
from edge_agent.store.school_keys import write_keys

LFW = "lfw-deepfunneled/images"
STUDENTS = {  # id -> (name, date of birth, class)
    "094209000101": ("Lâm Thị Bích", "12/05/2009", "10A1"),
    "094209000102": ("Trần Văn Cường", "03/11/2009", "10A1"),
    "094209000103": ("Nguyễn Văn Dũng", "01/01/2009", "10A2"),
    "094209000104": ("Thạch Sô Phia", "20/08/2009", "10A2"),
}


@pytest.fixture(scope="session")
def calibrated() -> float:
    """The calibrated duplicate threshold (edge_agent/recognition/thresholds.toml) that `enroll` uses."""
    try:
        return load_thresholds().duplicate
    except ThresholdsError as exc:
        pytest.fail(f"calibrated thresholds missing: {exc} (run benchmarks/accuracy.py --calibrate)")


class School:
    def __init__(self, root: Path, code: str = "THPT-LDT"):
        self.root, self.code = root, code
        self.data = root / "data"
        root.mkdir(parents=True, exist_ok=True)
        self.config = root / "edge.toml"
        self.config.write_text(f'school_code = "{code}"\n[paths]\ndata_dir = "data"\nkeys_dir = "data/keys"\n',
                               encoding="utf-8")
        write_keys(self.data / "keys")
        school_db.close(school_db.connect(self.data / "school.sqlite3"))
        self.runner = CliRunner()

    def run(self, *args: str, ok: bool = True) -> tuple[int, dict]:
        from enrollment_tools.cli import app

        result = self.runner.invoke(app, [*args, "--config", str(self.config), "--json"])
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        out = result.stdout.strip().splitlines()
        assert out, f"no JSON output (exit {result.exit_code}): {result.output}"
        data = json.loads(out[-1])
        if ok:
            assert result.exit_code == 0, data
            assert data["ok"] is True
        return result.exit_code, data

    def db(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.data / "school.sqlite3")
        conn.row_factory = sqlite3.Row
        return conn

    def dump(self) -> dict:
        """Every enrolment-relevant table, to prove that a refused command wrote nothing."""
        with self.db() as conn:
            return {t: [tuple(r) for r in conn.execute(f"SELECT * FROM {t} ORDER BY 1")]
                    for t in ("classes", "students", "consents", "face_templates", "student_thumbnails",
                              "erasure_queue", "gallery_versions", "audit_log")}

    def templates(self, sid: str) -> int:
        with self.db() as conn:
            return conn.execute("SELECT count(*) FROM face_templates WHERE student_id = ?", (sid,)).fetchone()[0]

    def add_students(self, students: dict = STUDENTS, consent: tuple[str, ...] = ("phụ huynh", "học sinh")) -> None:
        lines = ["STT,Mã định danh,Họ và tên,Ngày sinh,Giới tính,Lớp,Trạng thái HS"]
        lines += [f"{i},{sid},{n},{d},Nam,{c},Đang học" for i, (sid, (n, d, c)) in enumerate(students.items(), 1)]
        (self.root / "roster.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.run("roster", "import", str(self.root / "roster.csv"), "--school", self.code, "--apply")
        if consent:
            rows = ["Mã định danh,Người đồng ý,Mục đích,Ngày đồng ý"]
            rows += [f"{sid},{g},điểm danh,01/09/2025" for sid in students for g in consent]
            (self.root / "consent.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
            self.run("consent", "import", str(self.root / "consent.csv"))


@pytest.fixture()
def school(tmp_path, model_store, monkeypatch) -> School:
    return School(tmp_path / "school")


def lfw(datasets: Path, person: str, *numbers: int) -> list[Path]:
    return [datasets / LFW / person / f"{person}_{n:04d}.jpg" for n in numbers]


def put(folder: Path, *files: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy(f, folder / f.name)
    return folder


def write_image(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


def to_cp1258(text: str) -> bytes:
    """Encode as Vietnamese Windows does: base letters precomposed, tone marks as combining characters."""
    tones = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
    out = []
    for ch in text:
        parts = unicodedata.normalize("NFD", ch)
        tone = "".join(c for c in parts if c in tones)
        out.append(unicodedata.normalize("NFC", "".join(c for c in parts if c not in tones)) + tone)
    return "".join(out).encode("cp1258")
