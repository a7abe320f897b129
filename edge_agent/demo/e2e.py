"""`make demo` end to end on one machine: a demo school, its gallery from the sample photos that ship in a
registry package (obama*.jpg, biden.jpg), a generated walk-by video played through `edge-agent run`, and the
proposed attendance on the teacher kiosk (URL and PIN printed).

Barack Obama (10A1) walks past the camera of room A101 during 10A1's period: proposed present. Joe Biden
(10A2) walks past too: only "seen in room A101". Lâm Thị Bích (10A1, no consent, never enrolled) is not seen:
proposed absent once the check-in window closes; the teacher decides P or K on the kiosk.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from edge_agent.attendance.timetable import bell_schedule, import_timetable, save_bells
from edge_agent.config import load_settings
from edge_agent.demo.synthetic_stream import MovingFace, MovingFacesStream
from edge_agent.kiosk.pins import hash_pin
from edge_agent.recognition.gallery import Gallery, GalleryMeta
from edge_agent.recognition.gallery_seal import GallerySeal
from edge_agent.store import school_db
from edge_agent.store.school_keys import GALLERY_KEY, read_key, write_keys
from edge_agent.vision.analyzer import FaceAnalyzer
from edge_agent.vision.crop import face_crop
from edge_agent.vision.image_io import load_image
from models import ModelStore

TZ = "Asia/Ho_Chi_Minh"
OBAMA, BIDEN, BICH = "094210000001", "094210000002", "094210000003"
TEACHER_ID, TEACHER_PIN = "GV001", "482915"
ROOM = "A101"


@dataclass(frozen=True)
class DemoSchool:
    workdir: Path
    config: Path
    db: Path
    video: Path
    kiosk_port: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_period(now: datetime) -> tuple[datetime, int, int]:
    """The demo lesson: (start, period minutes, late grace minutes) so that a walk-by at `now` is on time.

    It starts two minutes ago (at midnight just after midnight). A period must end within its day, so late at
    night the lesson is the day's last 35 minutes and the whole period counts as on time, so `make demo`
    shows the same proposal at any hour."""
    start = max((now - timedelta(minutes=2)).replace(second=0, microsecond=0),
                now.replace(hour=0, minute=0, second=0, microsecond=0))
    latest = now.replace(hour=23, minute=24, second=0, microsecond=0)  # + 35 min ends at 23:59
    if start + timedelta(minutes=45) > latest + timedelta(minutes=35):
        return min(start, latest), 35, 45
    return start, 45, 5


def build(workdir: Path, *, kiosk_port: int | None = None, now: datetime | None = None, store=None,
          broker: bool = False, broker_port: int = 1883, broker_password: str | None = None) -> DemoSchool:
    """Create everything under `workdir`: keys, config, database, gallery and the walk-by video. With `broker`,
    the agent publishes to 127.0.0.1:`broker_port` as the school (its code is the login)."""
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in ("school.sqlite3", "school.sqlite3-wal", "school.sqlite3-shm", "health.json"):
        (workdir / stale).unlink(missing_ok=True)
    if not (workdir / "keys" / "event-hmac.key").exists():
        write_keys(workdir / "keys")
    tz = ZoneInfo(TZ)
    now = (now or datetime.now(tz)).astimezone(tz)
    start, period_min, late_min = demo_period(now)
    port = kiosk_port or free_port()
    video = workdir / "walkby.avi"
    config = workdir / "edge.toml"
    config.write_text(f"""school_code = "THPT-DEMO"
school_name = "Trường THPT Demo"
timezone = "{TZ}"
[paths]
data_dir = "."
keys_dir = "keys"
[bells]
morning_start = {start.strftime('%H:%M:00')}
morning_periods = 1
afternoon_periods = 0
period_minutes = {period_min}
[attendance]
checkin_after_min = {max(late_min, 15)}
late_grace_min = {late_min}
[kiosk]
host = "127.0.0.1"
port = {port}
[broker]
enabled = {'true' if broker else 'false'}
port = {broker_port}
{f'password = "{broker_password}"' if broker_password else ''}
[cpu]
budget_cores = 1.5
[[cameras]]
name = "a101-door"
source = "{video.name}"
role = "classroom"
room = "{ROOM}"
max_fps = 12
""", encoding="utf-8")
    db = workdir / "school.sqlite3"
    _school_db(db, hash_pin(TEACHER_PIN))
    tkb = workdir / "tkb.csv"
    weekday = now.isoweekday()
    tkb.write_text("Lớp,Thứ,Buổi,Tiết,Môn học,Phòng,Mã GV\n"
                   f"10A1,{'CN' if weekday == 7 else weekday + 1},Sáng,1,Toán,{ROOM},{TEACHER_ID}\n", encoding="utf-8")
    conn = school_db.connect(db)
    save_bells(conn, bell_schedule(load_settings(config).bells))
    import_timetable(conn, tkb)
    school_db.close(conn)
    crops = _enrol_and_crops(workdir / "gallery.npz", store, db)
    _walk_by_video(video, crops)
    return DemoSchool(workdir, config, db, video, port)


def _school_db(db: Path, pin_hash: str) -> None:
    conn = school_db.connect(db)
    now = school_db.now_iso()
    with school_db.transaction(conn):
        conn.executemany("INSERT INTO classes (id, name, grade, school_year) VALUES (?, ?, 10, '2025-2026')",
                         [("10A1", "10A1"), ("10A2", "10A2")])
        for sid, name, cls in ((OBAMA, "Barack Obama", "10A1"), (BIDEN, "Joe Biden", "10A2"),
                               (BICH, "Lâm Thị Bích", "10A1")):
            conn.execute("INSERT INTO students (id, full_name, class_id, created_at, updated_at) "
                         "VALUES (?, ?, ?, ?, ?)", (sid, name, cls, now, now))
        for sid in (OBAMA, BIDEN):      # Bích's parents did not consent: she is never enrolled
            conn.execute("INSERT INTO consents (student_id, purpose, given_by, given_at) "
                         "VALUES (?, 'attendance', 'parent', ?)", (sid, now))
        conn.execute("INSERT INTO teachers (id, full_name, pin_hash) VALUES (?, ?, ?)",
                     (TEACHER_ID, "Nguyễn Văn An", pin_hash))
    school_db.close(conn)


def _enrol_and_crops(gallery_path: Path, store, db: Path) -> dict[str, list[np.ndarray]]:
    """Templates from obama.jpg, obama2.jpg (Obama) and biden.jpg (Biden) for consenting students; returns the
    face crops that walk past the camera: obama3.jpg (never enrolled) and biden.jpg."""
    store = store or ModelStore()
    photos = store.samples("face_recognition")
    analyzer = FaceAnalyzer.from_store(store)
    conn = school_db.connect(db)
    consented = {r[0] for r in conn.execute("SELECT student_id FROM consents WHERE purpose = 'attendance' "
                                            "AND withdrawn_at IS NULL")}
    school_db.close(conn)
    embeddings, ids = [], []
    for name, sid in (("obama.jpg", OBAMA), ("obama2.jpg", OBAMA), ("biden.jpg", BIDEN)):
        if sid not in consented:
            continue
        faces = analyzer.analyze(load_image(photos[name]))
        if not faces:
            raise RuntimeError(f"no face found in the sample photo {name}")
        embeddings.append(faces[0].embedding)
        ids.append(sid)
    entry = store.default("embedder")
    seal = GallerySeal(read_key(gallery_path.parent / "keys", GALLERY_KEY), "THPT-DEMO")  # encrypted at rest
    Gallery(np.stack(embeddings), ids, GalleryMeta(entry.name, entry.final.sha256 or "")).save(gallery_path, seal)
    crops = {}
    for name in ("obama3.jpg", "biden.jpg"):
        img = load_image(photos[name])
        crops[name] = [face_crop(img, analyzer.detect(img)[0])]
    return crops


def _walk_by_video(path: Path, crops: dict[str, list[np.ndarray]], fps: float = 12.0, seconds: float = 4.0) -> None:
    stream = MovingFacesStream([
        MovingFace(crops["obama3.jpg"], 120, (110.0, 200.0), (7.0, 0.8), bounce=False),
        MovingFace(crops["biden.jpg"], 110, (540.0, 300.0), (-7.0, -0.8), bounce=False),
    ])
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, stream.frame_size)
    if not writer.isOpened():
        raise RuntimeError(f"cannot write {path}")
    for i in range(int(fps * seconds)):
        writer.write(stream.frame(i))
    writer.release()


def start_service(demo: DemoSchool) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "from edge_agent.cli import app; app()", "run", "--config",
                             str(demo.config)],
                            cwd=demo.workdir, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def wait_until_played(demo: DemoSchool, proc: subprocess.Popen, timeout: float = 120.0) -> dict:
    """Wait for the health file to say the video camera has ended (every frame went through the pipeline)."""
    health_path = demo.workdir / "health.json"
    deadline = time.monotonic() + timeout
    health: dict = {}
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"edge-agent run exited early with status {proc.returncode}")
        try:
            health = json.loads(health_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            health = {}
        cams = health.get("cameras") or []
        if cams and all(c["state"] == "ended" for c in cams) and health.get("recognition", {}).get("outcomes"):
            return health
        time.sleep(0.5)
    raise RuntimeError(f"the walk-by video was not played within {timeout:.0f} s; last health: {health}")


def proposed(db: Path) -> list[tuple[str, str, str | None]]:
    conn = school_db.connect(db)
    try:
        rows = conn.execute("SELECT s.full_name, l.class_id, m.proposal FROM marks m JOIN students s "
                            "ON s.id = m.student_id JOIN lessons l ON l.id = m.lesson_id ORDER BY s.full_name")
        return [tuple(r) for r in rows]
    finally:
        conn.close()
