"""IOC tables: aggregates kept up to date by the incremental job, the tiles it writes, alerts, API consumers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from central_server.core.db import Base, UTCDateTime, utcnow


class IocWatermark(Base):
    """How far the job has folded a source table in: the highest id seen, and ids skipped below it that a
    transaction still in flight may yet commit (`gaps`: {id: first seen missing, epoch seconds})."""

    __tablename__ = "ioc_watermarks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)  # attendance_history | ingest_quarantine
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    gaps: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class IocSchoolDaily(Base):
    """Per school and day: student-sessions (from attendance_daily) and event counters (from the history)."""

    __tablename__ = "ioc_school_daily"
    __table_args__ = (Index("ix_ioc_school_daily_day", "day"),)

    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    total: Mapped[int] = mapped_column(Integer, default=0)          # student-sessions recorded
    attended: Mapped[int] = mapped_column(Integer, default=0)
    excused: Mapped[int] = mapped_column(Integer, default=0)        # P
    unexcused: Mapped[int] = mapped_column(Integer, default=0)      # K
    unfinalised: Mapped[int] = mapped_column(Integer, default=0)
    proposals: Mapped[int] = mapped_column(Integer, default=0)      # camera proposals received
    corrections: Mapped[int] = mapped_column(Integer, default=0)    # teacher corrections received
    finalised: Mapped[int] = mapped_column(Integer, default=0)      # finalised marks received
    finalised_on_time: Mapped[int] = mapped_column(Integer, default=0)  # ... observed on the lesson's own day
    quarantined: Mapped[int] = mapped_column(Integer, default=0)    # ingest quarantine rows (received that day)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class IocStudentState(Base):
    """Per student in the current school year: absent sessions, the dropout signals."""

    __tablename__ = "ioc_student_state"

    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"), primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), index=True)
    class_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    school_year: Mapped[str] = mapped_column(String(9))
    excused: Mapped[int] = mapped_column(Integer, default=0)
    unexcused: Mapped[int] = mapped_column(Integer, default=0)
    absent: Mapped[int] = mapped_column(Integer, default=0, index=True)  # P + K sessions
    streak_days: Mapped[int] = mapped_column(Integer, default=0)  # school days absent in a row, up to last_day
    recent_absent: Mapped[int] = mapped_column(Integer, default=0)  # sessions in the last 10 school days
    prior_absent: Mapped[int] = mapped_column(Integer, default=0)   # sessions in the 10 school days before
    last_day: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class IocTile(Base):
    """One indicator's current value for a scope ("P" = province, "S<id>" = a school): `changed_at` moves only
    when the value changes (the tile's freshness), `updated_at` at every computation."""

    __tablename__ = "ioc_tiles"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(48), primary_key=True)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class IocTileWeekly(Base):
    """A tile's value per ISO week (Monday): the trend line."""

    __tablename__ = "ioc_tile_weekly"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(48), primary_key=True)
    week: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)


class IocAlertRule(Base):
    """An alert rule: its threshold is data, edited by a province admin."""

    __tablename__ = "ioc_alert_rules"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    threshold: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class IocAlert(Base):
    """One alert. `open_key` holds the dedup key while the alert is open or acknowledged (unique), and is
    cleared when it is resolved, so a condition that comes back later opens a new alert."""

    __tablename__ = "ioc_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_code: Mapped[str] = mapped_column(String(32), index=True)
    school_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    subject: Mapped[str] = mapped_column(String(64))             # school:3, class:12, student:40
    dedup_key: Mapped[str] = mapped_column(String(128), index=True)
    open_key: Mapped[str | None] = mapped_column(String(128), nullable=True, unique=True)
    state: Mapped[str] = mapped_column(String(16), default="open")  # open | acknowledged | resolved
    message: Mapped[str] = mapped_column(String(500))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ack_by: Mapped[str] = mapped_column(String(200), default="")
    ack_note: Mapped[str] = mapped_column(Text, default="")
    ack_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_by: Mapped[str] = mapped_column(String(200), default="")


class IocWebhookDelivery(Base):
    """An alert notification for the outgoing webhook: retried with back-off until delivered or given up."""

    __tablename__ = "ioc_webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("ioc_alerts.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(16))               # opened | acknowledged | resolved
    body: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    failed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)  # gave up
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class IocApiConsumer(Base):
    """A consumer of the read-only `/api/ioc/v1` API (the city IOC): one token each, only its SHA-256 stored;
    `school_id` None = the whole province, else that school only."""

    __tablename__ = "ioc_api_consumers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    school_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rate_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
