"""Attendance logic without HTTP; `apply_event` is what the MQTT ingest calls for every new event.

Stage precedence: finalised (2) > corrected (1) > proposed (0). A later event of the same or a higher
stage replaces the current mark; a lower-stage event (a camera proposal arriving after the teacher
finalised the period) is kept in the history only. Every event lands in `attendance_history` exactly
once (unique event id), so redelivery never changes anything.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from central_server.core.clock import local_today
from central_server.core.config import Settings, get_settings
from central_server.core.db import utcnow
from central_server.masterdata.tables import School, Student
from edge_agent.protocol import ATTENDANCE_KINDS, AttendancePayload, Event, EventKind

from .engine import derive_session, session_of
from .tables import AttendanceDaily, AttendanceHistory, AttendanceMark, AttendanceSession

ATTENDED_SESSIONS = ("present", "partial")

STAGES = {EventKind.ATTENDANCE_PROPOSED: ("proposed", 0), EventKind.ATTENDANCE_CORRECTED: ("corrected", 1),
          EventKind.ATTENDANCE_FINALISED: ("finalised", 2)}
MAX_FUTURE_DAYS = 1
MAX_PAST_DAYS = 400


class ApplyError(ValueError):
    """An event that is valid on the wire but cannot be applied (unknown student, wrong school, …)."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason


@dataclass(frozen=True)
class ApplyResult:
    outcome: str  # applied | superseded | duplicate | ignored
    mark_id: int | None = None


def apply_event(session: Session, event: Event, settings: Settings | None = None) -> ApplyResult:
    """Apply one verified event in the caller's transaction (the caller commits). Idempotent by event id."""
    settings = settings or get_settings()
    if event.kind not in ATTENDANCE_KINDS or not isinstance(event.payload, AttendancePayload):
        return ApplyResult("ignored")
    event_id = str(event.event_id)
    if session.scalar(select(AttendanceHistory.id).where(AttendanceHistory.event_id == event_id)) is not None:
        return ApplyResult("duplicate")
    p = event.payload
    school = session.scalars(select(School).where(School.code == event.school)).one_or_none()
    if school is None:
        raise ApplyError("unknown_school", f"no school with code {event.school!r}")
    student = session.scalars(select(Student).where(Student.personal_id == p.student_id)).one_or_none()
    if student is None:
        raise ApplyError("unknown_student", f"no student {p.student_id} in the master data")
    if student.school_id != school.id:
        raise ApplyError("wrong_school", f"student {p.student_id} is not enrolled at {event.school}")
    today = local_today(settings.timezone)  # the school day: already tomorrow from 17:00 UTC
    if not today - dt.timedelta(days=MAX_PAST_DAYS) <= p.date <= today + dt.timedelta(days=MAX_FUTURE_DAYS):
        raise ApplyError("date_out_of_range", f"lesson date {p.date} is out of range")
    sess, period = session_of(p.period, p.session.value if p.session else None, settings.periods_per_session)
    stage, rank = STAGES[event.kind]
    class_id = student.class_id  # reports follow the enrolled class; the event's class code stays in history
    actor = p.source.teacher_id or p.source.camera_id or p.source.device_id or ""
    try:
        with session.begin_nested():
            history = AttendanceHistory(
                event_id=event_id, student_id=student.id, day=p.date, session=sess, period=period,
                status=p.status.value, previous_status=p.previous_status.value if p.previous_status else None,
                stage=stage, source=p.source.kind.value, actor=actor, reason=p.reason or "", class_code=p.class_code,
                observed_at=p.observed_at, applied=False)
            session.add(history)
            session.flush()
    except IntegrityError:
        return ApplyResult("duplicate")  # a concurrent transaction stored the same event first

    mark = session.scalars(select(AttendanceMark).where(
        AttendanceMark.student_id == student.id, AttendanceMark.day == p.date, AttendanceMark.session == sess,
        AttendanceMark.period == period).with_for_update()).one_or_none()
    newer = mark is None or rank > mark.stage_rank or (
        rank == mark.stage_rank and (p.observed_at, event_id) >= (mark.observed_at, mark.event_id))
    if not newer:
        return ApplyResult("superseded", mark.id)
    if mark is None:
        mark = AttendanceMark(student_id=student.id, school_id=school.id, day=p.date, session=sess, period=period)
        session.add(mark)
    mark.class_id, mark.status, mark.stage, mark.stage_rank = class_id, p.status.value, stage, rank
    mark.source, mark.event_id, mark.observed_at = p.source.kind.value, event_id, p.observed_at
    mark.updated_at = utcnow()
    history.applied = True
    session.flush()
    refresh_session(session, student.id, school.id, class_id, p.date, sess, settings)
    return ApplyResult("applied", mark.id)


def refresh_session(session: Session, student_id: int, school_id: int, class_id: int | None, day: dt.date,
                    sess: str, settings: Settings) -> AttendanceSession:
    """Recompute the derived buổi of one student from the current marks of that session."""
    rows = session.execute(select(AttendanceMark.period, AttendanceMark.status, AttendanceMark.stage).where(
        AttendanceMark.student_id == student_id, AttendanceMark.day == day, AttendanceMark.session == sess)
        .order_by(AttendanceMark.period, AttendanceMark.observed_at)).all()
    status, finalised = derive_session(((pr, st, sg == "finalised") for pr, st, sg in rows),
                                       settings.session_absent_fraction)
    row = session.get(AttendanceSession, (student_id, day, sess))
    if row is None:
        row = AttendanceSession(student_id=student_id, day=day, session=sess)
        session.add(row)
    else:
        _bump_daily(session, row.school_id, row.class_id, day, row.status, row.finalised, -1)
    row.school_id, row.class_id, row.status, row.finalised = school_id, class_id, status, finalised
    _bump_daily(session, school_id, class_id, day, status, finalised, +1)
    session.flush()
    return row


def daily_counts(status: str, finalised: bool, sign: int = 1) -> dict[str, int]:
    """The counter changes one student-session makes to its class's `attendance_daily` row."""
    return {"total": sign, "attended": sign * (status in ATTENDED_SESSIONS), "excused": sign * (status == "P"),
            "unexcused": sign * (status == "K"), "unfinalised": sign * (not finalised)}


def _bump_daily(session: Session, school_id: int, class_id: int | None, day: dt.date, status: str, finalised: bool,
                sign: int) -> None:
    key = (school_id, class_id or 0, day)
    row = session.get(AttendanceDaily, key)
    if row is None:
        row = AttendanceDaily(school_id=key[0], class_id=key[1], day=day, total=0, attended=0, excused=0,
                              unexcused=0, unfinalised=0)
        session.add(row)
        session.flush()
    for name, delta in daily_counts(status, finalised, sign).items():
        setattr(row, name, getattr(row, name) + delta)
