"""One `connect` for the school database and the outbox: the outbox's tables come from the versioned migrations,
and a database written by the version before (outbox tables created by the outbox itself) upgrades cleanly."""

from __future__ import annotations

import datetime as dt

import pytest

from edge_agent import protocol as p
from edge_agent.store import school_db
from edge_agent.sync.outbox import Outbox, OutboxError

KEY = b"k" * 32

# What `outbox.ensure_schema` of the previous version ran on the school database, verbatim.
OLD_OUTBOX_DDL = """
CREATE TABLE IF NOT EXISTS outbox (
    seq        INTEGER PRIMARY KEY,          -- per-school monotonic sequence number
    event_id   TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    body       BLOB NOT NULL,                -- the signed event, canonical JSON
    created_at REAL NOT NULL,                -- unix seconds
    sent_at    REAL,                         -- set on PUBACK, NULL = still to deliver
    attempts   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox(seq) WHERE sent_at IS NULL;
CREATE TABLE IF NOT EXISTS outbox_state (
    school   TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL                -- never decreases, even when old rows are purged
);
"""


def gate(i: int) -> p.GateArrivalPayload:
    return p.GateArrivalPayload(student_id=f"{94207000000 + i:012d}", date=dt.date(2025, 9, 8), gate="g1",
                                observed_at=p.utcnow(), source=p.Source(kind="camera", camera_id="g1"))


def previous_version_db(path, with_outbox: bool):
    """A school database as the previous version left it: every migration but the outbox's, and (when the agent
    had run) the outbox tables its outbox created, holding one sent and one unsent event."""
    conn = school_db.connect(path)
    conn.execute("DROP TABLE outbox")
    conn.execute("DROP TABLE outbox_state")
    conn.execute("DELETE FROM schema_migrations WHERE id = '0004_outbox'")
    if with_outbox:
        for stmt in OLD_OUTBOX_DDL.split(";"):
            if stmt.strip():
                conn.execute(stmt)
        box = Outbox(conn, "A", KEY)
        for i in (1, 2):
            with school_db.transaction(conn):
                box.enqueue("gate.arrival", gate(i))
        box.mark_sent([1])
    school_db.close(conn)


def test_outbox_tables_come_from_the_migrations(tmp_path):
    conn = school_db.connect(tmp_path / "s.sqlite3")
    assert "0004_outbox" in school_db.applied(conn)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"outbox", "outbox_state"} <= tables
    school_db.close(conn)


@pytest.mark.parametrize("with_outbox", [True, False])
def test_previous_version_database_upgrades_cleanly(tmp_path, with_outbox):
    path = tmp_path / "s.sqlite3"
    previous_version_db(path, with_outbox)
    conn = school_db.connect(path)
    assert {"0100_enrolment", "0004_outbox"} <= set(school_db.applied(conn))
    assert school_db.migrate(conn) == []
    rows = [tuple(r) for r in conn.execute("SELECT seq, sent_at IS NULL FROM outbox ORDER BY seq")]
    assert rows == ([(1, 0), (2, 1)] if with_outbox else [])
    box = Outbox(conn, "A", KEY)
    with school_db.transaction(conn):
        ev = box.enqueue("gate.arrival", gate(3))
    assert ev.seq == (3 if with_outbox else 1)  # the sequence carries on: no reuse of a number already sent
    school_db.close(conn)
    # the publisher's connection (implicit transactions) sees the same outbox
    pub = school_db.connect(path, implicit_transactions=True)
    assert [s for s, _ in Outbox(pub, "A", KEY).pending()] == ([2, 3] if with_outbox else [1])
    pub.close()


def test_outbox_refuses_a_database_without_its_tables(tmp_path):
    conn = school_db.connect(tmp_path / "bare.sqlite3", migrate_schema=False)
    with pytest.raises(OutboxError, match="no outbox tables"):
        Outbox(conn, "A", KEY)
    conn.close()
