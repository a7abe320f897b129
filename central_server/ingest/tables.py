"""Ingest tables: stored events (one row per event id), quarantine, school signing keys, edge status and the
cameras' daily decision counts, the outbox of control messages to the schools."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, Date, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from central_server.core.db import Base, UTCDateTime, utcnow


class IngestEvent(Base):
    """Every accepted event exactly once, keyed by its UUIDv7; (school, seq) is unique too."""

    __tablename__ = "ingest_events"
    __table_args__ = (UniqueConstraint("school", "seq"),)

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    school: Mapped[str] = mapped_column(String(32), nullable=False)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    student_id: Mapped[str | None] = mapped_column(String(12), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)   # at the edge
    stored_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)    # committed here
    sig: Mapped[str] = mapped_column(String(64), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)                            # signed JSON as received
    deliveries: Mapped[int] = mapped_column(Integer, nullable=False, default=1)       # > 1: redelivered/replayed
    apply_error: Mapped[str | None] = mapped_column(Text, nullable=True)              # attendance could not apply it


class IngestQuarantine(Base):
    """A message that was not accepted, with the reason; never applied, kept for inspection."""

    __tablename__ = "ingest_quarantine"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    topic: Mapped[str] = mapped_column(String(255), nullable=False)
    reason: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    detail: Mapped[str] = mapped_column(Text, nullable=False)
    school: Mapped[str | None] = mapped_column(String(64), nullable=True)
    event_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)                # truncated to 64 KiB
    payload_size: Mapped[int] = mapped_column(Integer, nullable=False)


class SchoolKey(Base):
    """The HMAC-SHA256 key each school signs its events with (shared with the school's edge agent)."""

    __tablename__ = "ingest_school_keys"

    school: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_hex: Mapped[str] = mapped_column(String(128), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class EdgeStatus(Base):
    """The latest retained status (heartbeat or last will) of each school's edge agent."""

    __tablename__ = "ingest_edge_status"

    school: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    outbox_backlog: Mapped[int | None] = mapped_column(Integer, nullable=True)
    payload: Mapped[str] = mapped_column(Text, nullable=False)


class EdgeDecisionDay(Base):
    """The cameras' track decisions of one school on one local day, as its heartbeats last reported them.

    One row per agent run (`since`: when that run started counting; a restart mid-day starts a new row), so the
    day's total is the sum over its rows. The IOC's "review share doubles week over week" alert reads it."""

    __tablename__ = "ingest_edge_decisions"
    __table_args__ = (Index("ix_ingest_edge_decisions_day", "day"),)

    school: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime(), primary_key=True)
    accepted: Mapped[int] = mapped_column(Integer, nullable=False)
    review: Mapped[int] = mapped_column(Integer, nullable=False)
    unknown: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class ControlOutbox(Base):
    """A signed control message (erasure request, package notice) waiting for, or done with, delivery.

    Written in the same transaction as the change that asks for it; the dispatcher
    (`central_server.control.dispatcher.ControlDispatcher`) publishes the pending rows of each school in id
    order and sets `sent_at` only once the broker took the message (PUBACK).
    Sent rows are kept: they record when each erasure request left the central server.
    """

    __tablename__ = "ingest_control_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(36), nullable=False, unique=True)   # Control.message_id
    school: Mapped[str] = mapped_column(String(32), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    control: Mapped[str] = mapped_column(Text, nullable=False)                          # signed canonical JSON
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)                # kept after delivery
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)          # dispatcher sending it
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
