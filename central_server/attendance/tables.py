"""Attendance tables: current mark per student and period, every event's history, derived half-day sessions."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from central_server.core.db import Base, UTCDateTime, utcnow


class AttendanceMark(Base):
    """The current state of one student in one period (period 0 = the whole session)."""

    __tablename__ = "attendance_marks"
    __table_args__ = (
        UniqueConstraint("student_id", "day", "session", "period", name="uq_attendance_marks_slot"),
        Index("ix_attendance_marks_school_day", "school_id", "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    class_id: Mapped[int | None] = mapped_column(ForeignKey("classes.id", ondelete="SET NULL"), nullable=True)
    day: Mapped[dt.date] = mapped_column(Date)
    session: Mapped[str] = mapped_column(String(10))  # morning | afternoon | day
    period: Mapped[int] = mapped_column(Integer)      # 1..10, 0 = whole session
    status: Mapped[str] = mapped_column(String(16))   # present | late | absent_proposed | P | K | left_early
    stage: Mapped[str] = mapped_column(String(12))    # proposed | corrected | finalised
    stage_rank: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(36))
    observed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AttendanceHistory(Base):
    """Every attendance event received (one row per event id: this is what makes apply_event idempotent)."""

    __tablename__ = "attendance_history"
    __table_args__ = (Index("ix_attendance_history_student_day", "student_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    day: Mapped[dt.date] = mapped_column(Date)
    session: Mapped[str] = mapped_column(String(10))
    period: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    previous_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    stage: Mapped[str] = mapped_column(String(12))
    source: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64), default="")  # teacher staff code / camera id / device
    reason: Mapped[str] = mapped_column(String(500), default="")
    class_code: Mapped[str] = mapped_column(String(64), default="")
    observed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    applied: Mapped[bool] = mapped_column(Boolean)  # False: superseded by a later or higher-stage mark


class AttendanceSession(Base):
    """A derived half-day session (buổi) of one student: present / P / K / partial / unconfirmed."""

    __tablename__ = "attendance_sessions"
    __table_args__ = (
        Index("ix_attendance_sessions_school_day", "school_id", "day"),
        Index("ix_attendance_sessions_class_day", "class_id", "day"),
        Index("ix_attendance_sessions_status_day", "status", "day"),
    )

    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    session: Mapped[str] = mapped_column(String(10), primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    class_id: Mapped[int | None] = mapped_column(ForeignKey("classes.id", ondelete="SET NULL"), nullable=True)
    status: Mapped[str] = mapped_column(String(12))
    finalised: Mapped[bool] = mapped_column(Boolean)


class SchoolYear(Base):
    """A school year's calendar (from the MOET / provincial decision): terms for the totals."""

    __tablename__ = "attendance_school_years"

    name: Mapped[str] = mapped_column(String(9), primary_key=True)  # "2025-2026"
    starts_on: Mapped[dt.date] = mapped_column(Date)
    term2_starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)


class AttendanceDaily(Base):
    """Per class and day: sessions recorded, attended, absent (P/K) and not finalised — kept in step with
    `attendance_sessions` by `service.refresh_session`, so that overviews never scan student rows."""

    __tablename__ = "attendance_daily"
    __table_args__ = (Index("ix_attendance_daily_day_school", "day", "school_id"),)

    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), primary_key=True)
    class_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0 = student without a class
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    total: Mapped[int] = mapped_column(Integer, default=0)
    attended: Mapped[int] = mapped_column(Integer, default=0)
    excused: Mapped[int] = mapped_column(Integer, default=0)
    unexcused: Mapped[int] = mapped_column(Integer, default=0)
    unfinalised: Mapped[int] = mapped_column(Integer, default=0)
