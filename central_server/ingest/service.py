"""Ingest logic without MQTT: verify a batch of messages and store it idempotently in one transaction.

A message holds one event or a batch of events (`edge_agent.protocol.decode_events`); each event is judged
on its own. For each event: schema version and schema, topic school == payload school, the school's key, the
HMAC signature (all in `edge_agent.protocol.decode_event`); then the event id decides:
- new id and new (school, seq)          -> stored once, then `apply` (the modules' handlers: events.py) in the
                                           same transaction;
- known id with the same signature      -> a redelivery: not stored again, `deliveries` counts it, nothing
                                           is applied twice; but arriving later than `replay_window_s` after
                                           the first copy, and not as the broker's redelivery, it is a replay:
                                           quarantined (`replay`);
- known id with a different signature   -> quarantined (`event_id_conflict`);
- new id but a (school, seq) already held -> quarantined (`seq_reused`: a replay under a new id, or an
                                           edge restored from an old backup).
Invalid messages go to `ingest_quarantine` with the reason; nothing here raises for bad input.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from central_server.core.db import utcnow
from central_server.ingest.tables import IngestEvent, IngestQuarantine, SchoolKey
from edge_agent.protocol import MAX_PAYLOAD_BYTES, Event, ProtocolError, ReconcileResponse, decode_events

log = logging.getLogger(__name__)
ApplyFn = Callable[[Session, Event], object]


@dataclass(frozen=True)
class Incoming:
    topic: str
    payload: bytes
    received_at: dt.datetime
    redelivered: bool = False   # the broker's DUP flag: it sent this message to us before (we did not ack it)


@dataclass(frozen=True)
class StoreOutcome:
    status: str                 # stored | duplicate | quarantined
    reason: str | None = None
    event_id: str | None = None
    school: str | None = None   # the event's school, or the topic's for input that could not be read (metrics)
    seq: int | None = None
    held: bool = False          # the database holds this very event once the transaction commits (ack it)


class ApplyFailed(RuntimeError):
    pass


class KeyStore:
    """School keys from `ingest_school_keys`, cached; a miss looks the one school up (new schools work at once).

    `reload()` drops the cache (call it after a key is rotated or revoked)."""

    def __init__(self, sessions: sessionmaker[Session]):
        self._sessions = sessions
        self._keys: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def known(self, school: str) -> bool:
        """Whether `school`'s key is cached (every verified message has looked its school up): no query."""
        return school in self._keys

    def reload(self) -> None:
        with self._lock:
            self._keys = {}

    def get(self, school: str) -> bytes | None:
        key = self._keys.get(school)
        if key is None:
            with self._sessions() as session:
                hex_key = session.scalar(select(SchoolKey.key_hex).where(SchoolKey.school == school,
                                                                         SchoolKey.active))
            if hex_key is not None:
                key = bytes.fromhex(hex_key)
                with self._lock:
                    self._keys[school] = key
        return key


def set_school_key(session: Session, school: str, key: bytes) -> None:
    row = session.get(SchoolKey, school)
    if row is None:
        session.add(SchoolKey(school=school, key_hex=key.hex(), active=True))
    else:
        row.key_hex, row.active = key.hex(), True


def _quarantine_row(item: Incoming, reason: str, detail: str, school: str | None = None,
                    event_id: str | None = None) -> dict:
    if school is None:
        parts = item.topic.split("/")
        school = parts[2][:64] if len(parts) > 2 else None
    return {"received_at": item.received_at, "topic": item.topic[:255], "reason": reason, "detail": detail[:2000],
            "school": school, "event_id": event_id, "payload": bytes(item.payload[:MAX_PAYLOAD_BYTES]),
            "payload_size": len(item.payload)}


def store_batch(session: Session, items: Sequence[Incoming], key_for: Callable[[str], bytes | None],
                apply: ApplyFn | None = None, isolate_apply: bool = False,
                replay_window_s: float | None = None) -> list[StoreOutcome]:
    """Verify and store `items` in the caller's transaction (the caller commits, then acknowledges).

    With `isolate_apply` each `apply` runs in a savepoint and a failure is recorded in `apply_error`
    instead of failing the batch (the worker retries a batch that way after an `ApplyFailed`).

    `replay_window_s`: the same signed event arriving again is a transport duplicate while it comes within
    this many seconds of the first copy's storage, or as the broker's redelivery (DUP flag); later, and not a
    redelivery, it is a replay: quarantined (`replay`), counted nowhere, applied never. The edge confirms
    its unacknowledged rows with the central server before re-sending them after a restart
    (`edge_agent.sync.reconcile.confirm_unsent`), so its own late re-sends do not look like replays.
    """
    # a message is one event or a batch of them (edge_agent.protocol.decode_events): one outcome per event
    members: list[tuple[Incoming, Event | Exception]] = []
    for item in items:
        try:
            decoded = decode_events(item.topic, item.payload, key_for)
        except Exception as exc:  # noqa: BLE001 - whatever a fuzzed payload provokes, it is quarantined
            decoded = [(item.payload, exc)]
        single = len(decoded) == 1
        members.extend((item if single else Incoming(item.topic, raw, item.received_at), result)
                       for raw, result in decoded)
    outcomes: list[StoreOutcome | None] = [None] * len(members)
    quarantine: list[dict] = []
    valid: list[tuple[int, Event, Incoming]] = []
    for i, (item, result) in enumerate(members):
        if isinstance(result, Event):
            valid.append((i, result, item))
        elif isinstance(result, ProtocolError):
            quarantine.append(_quarantine_row(item, result.reason, result.message))
            outcomes[i] = StoreOutcome("quarantined", result.reason, school=quarantine[-1]["school"])
        else:
            quarantine.append(_quarantine_row(item, "invalid", f"{type(result).__name__}: {result}"))
            outcomes[i] = StoreOutcome("quarantined", "invalid", school=quarantine[-1]["school"])

    # fast path: one multi-row INSERT .. ON CONFLICT DO NOTHING RETURNING; only the rows it skipped are examined
    stored_at = utcnow()
    rows = [{"event_id": str(ev.event_id), "school": ev.school, "seq": ev.seq, "kind": ev.kind.value,
             "student_id": getattr(ev.payload, "student_id", None), "created_at": ev.created_at,
             "stored_at": stored_at, "sig": ev.sig, "body": item.payload.decode("utf-8"), "deliveries": 1}
            for _, ev, item in valid]
    inserted: set[str] = set()
    if rows and session.get_bind().dialect.name == "postgresql":
        inserted = _insert_unnest(session, rows)
    elif rows:
        stmt = sqlite_insert(IngestEvent.__table__).on_conflict_do_nothing().returning(IngestEvent.__table__.c.event_id)
        inserted = set(session.execute(stmt, rows).scalars())
    skipped = [(i, ev, item) for i, ev, item in valid if str(ev.event_id) not in inserted]
    known_sig: dict[str, str] = {}
    known_at: dict[str, dt.datetime] = {}
    if skipped:
        for eid, sig, first_at in session.execute(select(IngestEvent.event_id, IngestEvent.sig, IngestEvent.stored_at)
                                                  .where(IngestEvent.event_id.in_([str(ev.event_id)
                                                                                   for _, ev, _ in skipped]))):
            known_sig[eid], known_at[eid] = sig, first_at
    new_events: list[Event] = []
    redelivered: dict[str, int] = {}
    batch_sig: dict[str, str] = {}
    for i, ev, item in valid:
        eid = str(ev.event_id)
        if eid in inserted and eid not in batch_sig:
            batch_sig[eid] = ev.sig
            new_events.append(ev)
            outcomes[i] = StoreOutcome("stored", None, eid, ev.school, ev.seq, True)
            continue
        held = batch_sig.get(eid) or known_sig.get(eid)
        first_at = known_at.get(eid) if eid not in batch_sig else None
        late = (replay_window_s is not None and first_at is not None and not item.redelivered
                and (stored_at - first_at).total_seconds() > replay_window_s)
        if held == ev.sig and late:
            age = (stored_at - first_at).total_seconds()
            quarantine.append(_quarantine_row(item, "replay", f"event stored {age:.0f} s ago came again, not as a "
                                              f"broker redelivery (window {replay_window_s:.0f} s)", ev.school, eid))
            outcomes[i] = StoreOutcome("quarantined", "replay", eid, ev.school, ev.seq, True)
        elif held == ev.sig:
            redelivered[eid] = redelivered.get(eid, 0) + 1  # the same event again (within or across batches)
            outcomes[i] = StoreOutcome("duplicate", None, eid, ev.school, ev.seq, True)
        elif held is not None:
            quarantine.append(_quarantine_row(item, "event_id_conflict",
                                              "an event with this id but other content is stored", ev.school, eid))
            outcomes[i] = StoreOutcome("quarantined", "event_id_conflict", eid, ev.school)
        else:
            quarantine.append(_quarantine_row(item, "seq_reused",
                                              f"sequence {ev.seq} of {ev.school} is already held by another event",
                                              ev.school, eid))
            outcomes[i] = StoreOutcome("quarantined", "seq_reused", eid, ev.school)
    for eid, n in redelivered.items():
        session.execute(update(IngestEvent).where(IngestEvent.event_id == eid)
                        .values(deliveries=IngestEvent.deliveries + n))
    if quarantine:
        session.execute(insert(IngestQuarantine), quarantine)
    if apply is not None:
        _apply_all(session, new_events, apply, isolate_apply)
    return [o for o in outcomes if o is not None]


_EVENT_COLUMNS = ("event_id", "school", "seq", "kind", "student_id", "created_at", "stored_at", "sig", "body",
                  "deliveries")
_PG_TYPES = ("VARCHAR", "VARCHAR", "BIGINT", "VARCHAR", "VARCHAR", "TIMESTAMPTZ", "TIMESTAMPTZ", "VARCHAR", "TEXT",
             "INTEGER")
_PG_INSERT = (
    f"INSERT INTO {IngestEvent.__tablename__} ({', '.join(_EVENT_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(f"%b::{t}[]" for t in _PG_TYPES) + ") ON CONFLICT DO NOTHING RETURNING event_id")


def _insert_unnest(session: Session, rows: list[dict]) -> set[str]:
    """PostgreSQL: all rows in one INSERT .. SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING RETURNING,
    on the session's own connection (same transaction), with binary parameters.

    One short statement with ten array parameters instead of a multi-row VALUES list with thousands of
    placeholders, which the driver re-parses for every batch, and binary arrays instead of text ones, whose
    quoting the driver does with a regular expression per element: together most of the ingest's time."""
    raw = session.connection().connection.driver_connection
    with raw.cursor(binary=True) as cur:
        cur.execute(_PG_INSERT, [[r[c] for r in rows] for c in _EVENT_COLUMNS])
        return {row[0] for row in cur.fetchall()}


def _apply_all(session: Session, events: Iterable[Event], apply: ApplyFn, isolate: bool) -> None:
    for ev in events:
        if not isolate:
            try:
                apply(session, ev)
            except Exception as exc:
                raise ApplyFailed(f"apply_event failed for {ev.event_id}: {exc}") from exc
            continue
        try:
            with session.begin_nested():
                apply(session, ev)
        except (OperationalError, ProgrammingError):
            raise  # the database itself is unwell (down, not migrated): fail the batch, retry, never ack
        except Exception as exc:  # noqa: BLE001 - this event's data: stored, flagged, re-applied later
            log.warning("apply_event failed for %s: %s", ev.event_id, exc)
            session.execute(update(IngestEvent).where(IngestEvent.event_id == str(ev.event_id))
                            .values(apply_error=f"{type(exc).__name__}: {exc}"[:2000]))


def reconcile(session: Session, school: str, from_seq: int, to_seq: int, max_missing: int = 10_000
              ) -> ReconcileResponse:
    """Which of the school's sequence numbers in [from_seq, to_seq] are held, as ranges, and which are not."""
    seqs = session.execute(select(IngestEvent.seq).where(
        IngestEvent.school == school, IngestEvent.seq >= from_seq, IngestEvent.seq <= to_seq
    ).order_by(IngestEvent.seq)).scalars().all()
    held: list[tuple[int, int]] = []
    missing: list[int] = []
    expect = from_seq
    for s in seqs:
        if s > expect and len(missing) < max_missing:
            missing.extend(range(expect, min(s, expect + max_missing - len(missing))))
        if held and held[-1][1] == s - 1:
            held[-1] = (held[-1][0], s)
        else:
            held.append((s, s))
        expect = s + 1
    if expect <= to_seq and len(missing) < max_missing:
        missing.extend(range(expect, min(to_seq + 1, expect + max_missing - len(missing))))
    top = session.execute(select(IngestEvent.seq).where(IngestEvent.school == school)
                          .order_by(IngestEvent.seq.desc()).limit(1)).scalar()
    return ReconcileResponse(school=school, from_seq=from_seq, to_seq=to_seq, held=held, missing=missing,
                             max_seq=top)
