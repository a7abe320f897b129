"""The transactional outbox in the school's SQLite database (real files, real WAL)."""

from __future__ import annotations

import sqlite3

import pytest
from sync_helpers import ATTENDANCE_DDL, payload

from edge_agent import protocol as p
from edge_agent.store import school_db
from edge_agent.sync import outbox as ob

KEY = bytes(32)


@pytest.fixture()
def conn(tmp_path):
    c = school_db.connect(tmp_path / "school.sqlite3", implicit_transactions=True)
    c.execute(ATTENDANCE_DDL)
    c.commit()
    yield c
    c.close()


def test_connection_is_wal_and_full_sync(conn):
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_event_commits_and_rolls_back_with_the_attendance_change(conn, tmp_path):
    box = ob.Outbox(conn, "A", KEY)
    with conn:
        conn.execute("INSERT INTO attendance (student_id) VALUES ('094207000001')")
        ev = box.enqueue(p.EventKind.ATTENDANCE_PROPOSED, payload(1))
    with pytest.raises(RuntimeError), conn:
        conn.execute("INSERT INTO attendance (student_id) VALUES ('094207000002')")
        box.enqueue(p.EventKind.ATTENDANCE_PROPOSED, payload(2))
        raise RuntimeError("the attendance rule failed after enqueue")
    other = sqlite3.connect(tmp_path / "school.sqlite3")  # what another process sees
    assert other.execute("SELECT count(*) FROM attendance").fetchone()[0] == 1
    rows = other.execute("SELECT seq, event_id, body FROM outbox").fetchall()
    assert rows == [(1, str(ev.event_id), ev.to_bytes())]
    with conn:
        ev3 = box.enqueue(p.EventKind.ATTENDANCE_PROPOSED, payload(3))
    assert ev3.seq == 2  # the rolled-back sequence number is reused: no gaps, no repeats


def test_sequence_survives_purge_and_prebuilt_events(conn):
    box = ob.Outbox(conn, "A", KEY)
    for i in range(3):
        with conn:
            box.enqueue("gate.arrival", p.GateArrivalPayload(
                student_id=f"09420700000{i}", date=payload(0).date, gate="g", observed_at=p.utcnow(),
                source=p.Source(kind="camera", camera_id="g1")))
    box.mark_sent([1, 2, 3], when=0)
    assert box.purge_sent(older_than_s=1) == 0   # a PUBACK alone is not delivery: never purged
    assert box.mark_acked([(1, 3)], when=0) == 3
    assert box.purge_sent(older_than_s=1) == 3
    with conn:
        assert box.enqueue("attendance.proposed", payload(4)).seq == 4
    pre = p.new_event("A", 5, "attendance.proposed", payload(5), KEY)
    with conn:
        box.enqueue(pre)
    with pytest.raises(ob.OutboxError, match="not the next"), conn:
        box.enqueue(p.new_event("A", 9, "attendance.proposed", payload(9), KEY))


def test_autocommit_connection_needs_an_explicit_transaction(tmp_path):
    c = school_db.connect(tmp_path / "s.sqlite3")
    box = ob.Outbox(c, "A", KEY)
    with pytest.raises(ob.OutboxError, match="transaction"):
        box.enqueue("attendance.proposed", payload(1))
    c.execute("BEGIN")
    box.enqueue("attendance.proposed", payload(1))
    c.execute("COMMIT")


def test_rollback_journal_is_refused(tmp_path):
    c = sqlite3.connect(tmp_path / "plain.sqlite3")
    with pytest.raises(ob.OutboxError, match="WAL"):
        ob.Outbox(c, "A", KEY)


def test_backlog_alerts_and_hard_bound_never_drop(conn):
    box = ob.Outbox(conn, "A", KEY, ob.Limits(soft_rows=3, soft_age_s=3600, hard_rows=5))
    for i in range(5):
        with conn:
            box.enqueue("attendance.proposed", payload(i))
    b = box.backlog()
    assert b.unsent == 5 and b.last_seq == 5 and any("backlog 5" in a for a in b.alerts)
    with pytest.raises(ob.OutboxFull), conn:
        conn.execute("INSERT INTO attendance (student_id) VALUES ('x')")
        box.enqueue("attendance.proposed", payload(6))
    assert conn.execute("SELECT count(*) FROM attendance").fetchone()[0] == 0  # caller's change rolled back
    assert box.backlog().unsent == 5  # nothing dropped
    box.mark_sent([1, 2, 3])
    with pytest.raises(ob.OutboxFull), conn:  # taken by the broker, not confirmed by the central server
        box.enqueue("attendance.proposed", payload(6))
    assert box.backlog().unacked == 5
    box.mark_acked([(1, 3)])
    with conn:
        assert box.enqueue("attendance.proposed", payload(7)).seq == 6


def test_end_to_end_ack_states(conn):
    """unsent -> sent, not acknowledged (PUBACK) -> acknowledged (central); what the central lacks goes again."""
    box = ob.Outbox(conn, "A", KEY)
    for i in range(6):
        with conn:
            box.enqueue("attendance.proposed", payload(i))
    box.mark_sent([1, 2, 3, 4, 5], when=100.0)
    assert [s for s, _ in box.pending()] == [6]
    assert box.unacked_range(sent_before=50.0) is None          # too recent to ask about
    assert box.unacked_range(sent_before=200.0) == (1, 5)
    assert box.unacked_range(sent_before=200.0, max_span=2) == (1, 2)
    assert box.mark_acked([(1, 2)]) == 2                           # the ack of a stored batch
    assert box.unacked_range(sent_before=200.0) == (3, 5)
    # the answer to a heartbeat: of 3..5 the central database holds 4 only
    assert box.mark_missing((3, 5), [(4, 4)], sent_before=50.0) == []   # sent too recently: still on its way
    assert box.mark_missing((3, 5), [(4, 4)], sent_before=200.0) == [3, 5]
    box.mark_acked([(4, 4)])
    assert [s for s, _ in box.pending()] == [3, 5, 6]               # published again
    assert box.backlog().unacked == 3
    assert conn.execute("SELECT attempts FROM outbox WHERE seq = 3").fetchone()[0] == 1
