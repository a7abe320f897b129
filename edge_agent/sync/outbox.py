"""The transactional outbox in the school's SQLite database.

The attendance code writes its own rows and calls `Outbox.enqueue` on the *same* connection, inside the
same transaction: either the attendance change and its event are both committed, or neither is. The
outbox never commits; the caller does. Its tables are created by the school database's migrations
(`edge_agent/store/migrations/m0004_outbox.py`, `m0005_outbox_ack.py`).

A row is delivered only when the central server has confirmed that its database holds it (end-to-end
acknowledgement), never on the broker's PUBACK alone: a broker can lose what it acknowledged (a crash before
its autosave, a persistent session destroyed). A row goes through three states:
- unsent (`sent_at` NULL): the publisher (`edge_agent.sync.mqtt_link`) reads these over its own connection;
- sent, not acknowledged (`sent_at` set on PUBACK, `acked_at` NULL): kept; the central ingest worker
  answers each committed batch and each heartbeat's question about old unacknowledged rows with a signed
  `events.ack` control message, and the reconcile call (`edge_agent.sync.reconcile`) asks over HTTPS; a row
  the central server says it lacks (`mark_missing`) becomes unsent again and is published once more (the
  idempotent ingest absorbs a copy that was not really lost);
- acknowledged (`acked_at` set): only these are ever purged (`purge_sent`).

Nothing is ever dropped: past the soft bounds (row count, oldest age) the outbox raises alerts that the
heartbeat carries; past the hard bound `enqueue` raises `OutboxFull`, so the caller's transaction fails
loudly instead of losing an event silently.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field

from edge_agent.protocol import AttendancePayload, Event, EventKind, GateArrivalPayload, PadSuspectedPayload, new_event


class OutboxError(RuntimeError):
    pass


class OutboxFull(OutboxError):
    """The hard backlog bound is reached: the caller's transaction must fail, nothing is dropped."""


@dataclass(frozen=True)
class Limits:
    soft_rows: int = 100_000               # ~ a week of a large school's events
    soft_age_s: float = 24 * 3600          # a day offline
    hard_rows: int = 2_000_000


@dataclass(frozen=True)
class Backlog:
    unsent: int
    oldest_age_s: float | None
    last_seq: int
    alerts: list[str] = field(default_factory=list)
    unacked: int = 0                       # not yet confirmed by the central server (includes the unsent)


class Outbox:
    def __init__(self, conn: sqlite3.Connection, school: str | None = None, key: bytes | None = None,
                 limits: Limits | None = None):
        self.conn = conn
        self.school = school
        self.key = key
        self.limits = limits or Limits()
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            raise OutboxError(f"the outbox needs WAL mode, the database is in {mode!r}; "
                              "open it with edge_agent.store.school_db.connect()")
        if not conn.in_transaction:
            conn.execute("PRAGMA synchronous=FULL")  # per connection: the caller's commits must reach the disk
        if conn.execute("PRAGMA synchronous").fetchone()[0] < 2:
            raise OutboxError("the outbox needs PRAGMA synchronous=FULL on this connection")
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbox'").fetchone() is None:
            raise OutboxError("the database has no outbox tables: open it with edge_agent.store.school_db.connect(), "
                              "which applies the migrations")

    # ------------------------------------------------------------ writing (caller's transaction)
    def enqueue(self, item: Event | EventKind | str,
                payload: AttendancePayload | GateArrivalPayload | PadSuspectedPayload | None = None) -> Event:
        """Add one event inside the caller's open transaction; returns the signed event.

        `enqueue(kind, payload)` allocates the next sequence number and signs with the school key;
        `enqueue(event)` stores an already signed event (its `seq` must be the next one).
        """
        if self.conn.isolation_level is None and not self.conn.in_transaction:
            raise OutboxError("enqueue must run inside the caller's transaction (BEGIN first)")
        if isinstance(item, Event):
            school = item.school
        else:
            if self.school is None or self.key is None or payload is None:
                raise OutboxError("enqueue(kind, payload) needs an Outbox(conn, school, key)")
            school = self.school
        seq = self._next_seq(school)
        if isinstance(item, Event):
            if not item.sig:
                raise OutboxError("enqueue(event) needs a signed event")
            if item.seq != seq:
                raise OutboxError(f"event seq {item.seq} is not the next sequence number {seq}")
            event = item
        else:
            event = new_event(school, seq, item, payload, self.key)
        self._check_hard_bound()
        self.conn.execute(
            "INSERT INTO outbox (seq, event_id, kind, body, created_at) VALUES (?, ?, ?, ?, ?)",
            (seq, str(event.event_id), event.kind.value, event.to_bytes(), time.time()))
        return event

    def _next_seq(self, school: str) -> int:
        row = self.conn.execute(
            "INSERT INTO outbox_state (school, last_seq) VALUES (?, 1) "
            "ON CONFLICT(school) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq", (school,)).fetchone()
        return int(row[0])

    def _check_hard_bound(self) -> None:
        # cheap: only count when the sequence says the table might be that large
        last = self.conn.execute("SELECT max(seq) FROM outbox").fetchone()[0] or 0
        if last < self.limits.hard_rows:
            return
        unsent = self.conn.execute("SELECT count(*) FROM outbox WHERE acked_at IS NULL").fetchone()[0]
        if unsent >= self.limits.hard_rows:
            raise OutboxFull(f"outbox holds {unsent} undelivered events (hard bound {self.limits.hard_rows}); "
                             "the MQTT link has been down too long")

    # ------------------------------------------------------------ reading / delivery (publisher side)
    def pending(self, after_seq: int = 0, limit: int = 100) -> list[tuple[int, bytes]]:
        return [(r[0], r[1]) for r in self.conn.execute(
            "SELECT seq, body FROM outbox WHERE sent_at IS NULL AND seq > ? ORDER BY seq LIMIT ?", (after_seq, limit))]

    def mark_sent(self, seqs: list[int], when: float | None = None) -> None:
        """Record PUBACKs (own short transaction): sent, not yet acknowledged by the central server."""
        if not seqs:
            return
        when = time.time() if when is None else when
        with self.conn:
            self.conn.executemany("UPDATE outbox SET sent_at = ? WHERE seq = ? AND sent_at IS NULL",
                                  [(when, s) for s in seqs])

    def mark_unsent(self, seqs: list[int]) -> int:
        """Reconciliation: the central server lacks these sequence numbers (even acknowledged ones, after a
        restore of its database); deliver them again and wait for a new acknowledgement."""
        with self.conn:
            cur = self.conn.executemany("UPDATE outbox SET sent_at = NULL, acked_at = NULL WHERE seq = ?",
                                        [(s,) for s in seqs])
        return cur.rowcount

    # ------------------------------------------------------------ end-to-end acknowledgement (central side)
    def mark_acked(self, held: list[tuple[int, int]], when: float | None = None) -> int:
        """The central database holds these ranges of sequence numbers: the rows are delivered."""
        if not held:
            return 0
        when = time.time() if when is None else when
        with self.conn:
            n = 0
            for lo, hi in held:
                n += self.conn.execute(
                    "UPDATE outbox SET acked_at = ?, sent_at = coalesce(sent_at, ?) "
                    "WHERE seq BETWEEN ? AND ? AND acked_at IS NULL", (when, when, lo, hi)).rowcount
        return n

    def mark_missing(self, checked: tuple[int, int], held: list[tuple[int, int]], sent_before: float) -> list[int]:
        """The central server looked at `checked` and holds only `held`: every row in it that the broker took
        before `sent_before` and that is not held becomes unsent again (published once more). Rows sent after
        `sent_before` may still be on their way (queued at the broker) and are left alone."""
        lo, hi = checked
        rows = [r[0] for r in self.conn.execute(
            "SELECT seq FROM outbox WHERE seq BETWEEN ? AND ? AND acked_at IS NULL AND sent_at IS NOT NULL "
            "AND sent_at < ? ORDER BY seq", (lo, hi, sent_before))]
        missing = [s for s in rows if not any(a <= s <= b for a, b in held)]
        if missing:
            with self.conn:
                self.conn.executemany("UPDATE outbox SET sent_at = NULL, attempts = attempts + 1 "
                                      "WHERE seq = ? AND acked_at IS NULL", [(s,) for s in missing])
        return missing

    def unacked_range(self, sent_before: float, max_span: int = 5000) -> tuple[int, int] | None:
        """The oldest rows the broker took before `sent_before` and the central server has not acknowledged:
        (first, last) sequence number, at most `max_span` apart; None when there is none."""
        row = self.conn.execute("SELECT min(seq) FROM outbox WHERE acked_at IS NULL AND sent_at IS NOT NULL "
                                "AND sent_at < ?", (sent_before,)).fetchone()
        if row[0] is None:
            return None
        lo = int(row[0])
        hi = self.conn.execute("SELECT max(seq) FROM outbox WHERE acked_at IS NULL AND sent_at IS NOT NULL "
                               "AND sent_at < ? AND seq < ?", (sent_before, lo + max_span)).fetchone()[0]
        return lo, int(hi)

    def purge_sent(self, older_than_s: float = 30 * 86400) -> int:
        """Delete acknowledged rows past the reconciliation window; the sequence counter is kept. A row the
        central server has not confirmed is never deleted, however old."""
        with self.conn:
            cur = self.conn.execute("DELETE FROM outbox WHERE acked_at IS NOT NULL AND acked_at < ?",
                                    (time.time() - older_than_s,))
        return cur.rowcount

    def backlog(self) -> Backlog:
        unsent, oldest = self.conn.execute(
            "SELECT count(*), min(created_at) FROM outbox WHERE sent_at IS NULL").fetchone()
        unacked, oldest_unacked = self.conn.execute(
            "SELECT count(*), min(created_at) FROM outbox WHERE acked_at IS NULL").fetchone()
        last = self.conn.execute("SELECT max(last_seq) FROM outbox_state").fetchone()[0] or 0
        now = time.time()
        age = None if oldest is None else max(0.0, now - oldest)
        alerts = []
        if unsent >= self.limits.soft_rows:
            alerts.append(f"outbox backlog {unsent} >= {self.limits.soft_rows}")
        if age is not None and age >= self.limits.soft_age_s:
            alerts.append(f"oldest undelivered event is {age / 3600:.1f} h old")
        elif oldest_unacked is not None and now - oldest_unacked >= self.limits.soft_age_s:
            alerts.append(f"oldest event not acknowledged by the central server is "
                          f"{(now - oldest_unacked) / 3600:.1f} h old")
        return Backlog(unsent=int(unsent), oldest_age_s=age, last_seq=int(last), alerts=alerts,
                       unacked=int(unacked))
