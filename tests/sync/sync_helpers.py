"""Shared pieces for the sync tests and the load benchmark: an edge site (attendance table + outbox in one
SQLite database), a running MQTT link, a running ingest worker."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path

from edge_agent import protocol as p
from edge_agent.store import school_db
from edge_agent.sync import outbox as ob
from edge_agent.sync.mqtt_link import Link, MqttLinkSettings

ATTENDANCE_DDL = ("CREATE TABLE IF NOT EXISTS attendance (id INTEGER PRIMARY KEY, student_id TEXT, period INT, "
                  "status TEXT, event_id TEXT)")


def payload(i: int, school_day: dt.date | None = None) -> p.AttendancePayload:
    return p.AttendancePayload(
        student_id=f"{94207000000 + i:012d}", class_code=f"10A{i % 9 + 1}", date=school_day or dt.date(2025, 9, 8),
        session=p.Session.MORNING, period=i % 5 + 1, subject="Toán", status=p.AttendanceStatus.PRESENT,
        source=p.Source(kind=p.SourceKind.CAMERA, camera_id=f"cam-{i % 9 + 1}"), observed_at=p.utcnow(),
        confidence=0.71, track_id=f"t{i}")


class EdgeSite:
    """The school's database: the attendance change and its outbox event are committed together."""

    def __init__(self, db_path: Path, school: str, key: bytes):
        self.db_path, self.school, self.key = Path(db_path), school, key
        self.conn = school_db.connect(self.db_path, implicit_transactions=True)
        self.conn.execute(ATTENDANCE_DDL)
        self.outbox = ob.Outbox(self.conn, school, key)
        self.conn.commit()

    def record(self, i: int) -> p.Event:
        with self.conn:  # one transaction: attendance row + outbox row
            cur = self.conn.execute("INSERT INTO attendance (student_id, period, status) VALUES (?, ?, ?)",
                                    (f"{94207000000 + i:012d}", i % 5 + 1, "present"))
            event = self.outbox.enqueue(p.EventKind.ATTENDANCE_PROPOSED, payload(i))
            self.conn.execute("UPDATE attendance SET event_id = ? WHERE id = ?", (str(event.event_id), cur.lastrowid))
        return event

    def event_ids(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT event_id FROM outbox ORDER BY seq")]

    def unsent(self) -> int:
        return self.conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]


def link_settings(site: EdgeSite, port: int, password: str | None = None, **kw) -> MqttLinkSettings:
    return MqttLinkSettings(school=site.school, key_hex=site.key.hex(), db_path=site.db_path, port=port,
                            password=password, retry_backoff_s=0.3, **kw)


class RunningLink:
    def __init__(self, settings: MqttLinkSettings, **kw):
        self.link = Link(settings, **kw)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.link.run, args=(self.stop_event,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=20)


def open_edge_db(path: Path) -> sqlite3.Connection:
    return school_db.connect(path, implicit_transactions=True)
