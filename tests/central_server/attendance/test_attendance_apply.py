"""apply_event: current state + full history, stage precedence, idempotency, 46 buổi ⇒ flag (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from central_server.attendance import reports
from central_server.attendance.service import ApplyError, apply_event
from central_server.attendance.tables import AttendanceHistory, AttendanceMark, AttendanceSession
from central_server.core.clock import local_today


def _count(db, model):
    return db.scalar(select(func.count()).select_from(model))


def test_proposal_then_correction_then_final_keeps_full_history(db, world, settings, make_ev):
    s = world["students"][0]
    day = local_today() - dt.timedelta(days=1)
    t0 = dt.datetime.combine(day, dt.time(7, 5), dt.UTC)
    m = dt.timedelta(minutes=1)
    evs = [make_ev("94000701", s.personal_id, day, 1, "absent_proposed", "attendance.proposed", observed_at=t0),
           make_ev("94000701", s.personal_id, day, 1, "P", "attendance.corrected", observed_at=t0 + 10 * m),
           make_ev("94000701", s.personal_id, day, 1, "K", "attendance.finalised", observed_at=t0 + 40 * m)]
    outcomes = [apply_event(db, ev, settings).outcome for ev in evs]
    db.commit()
    assert outcomes == ["applied", "applied", "applied"]
    mark = db.scalars(select(AttendanceMark)).one()
    assert (mark.status, mark.stage) == ("K", "finalised")
    hist = db.scalars(select(AttendanceHistory).order_by(AttendanceHistory.observed_at)).all()
    assert [h.status for h in hist] == ["absent_proposed", "P", "K"]
    sess = db.get(AttendanceSession, (s.id, day, "morning"))
    assert sess.status == "K" and sess.finalised


def test_redelivered_event_is_applied_once(db, world, settings, make_ev):
    s = world["students"][1]
    ev = make_ev("94000701", s.personal_id, local_today(), 2, "P")
    assert apply_event(db, ev, settings).outcome == "applied"
    db.commit()
    assert apply_event(db, ev, settings).outcome == "duplicate"
    db.commit()
    assert _count(db, AttendanceHistory) == 1 and _count(db, AttendanceMark) == 1


def test_late_camera_proposal_does_not_override_teacher_final(db, world, settings, make_ev):
    s = world["students"][0]
    day = local_today()
    nine = dt.datetime.combine(day, dt.time(9), dt.UTC)
    final = make_ev("94000701", s.personal_id, day, 3, "present", observed_at=nine)
    late = make_ev("94000701", s.personal_id, day, 3, "absent_proposed", "attendance.proposed",
                   observed_at=dt.datetime.combine(day, dt.time(10), dt.UTC))
    assert apply_event(db, final, settings).outcome == "applied"
    assert apply_event(db, late, settings).outcome == "superseded"
    db.commit()
    assert db.scalars(select(AttendanceMark)).one().status == "present"
    assert [h.applied for h in db.scalars(select(AttendanceHistory).order_by(AttendanceHistory.id))] == [True, False]


def test_out_of_order_corrections_keep_the_latest(db, world, settings, make_ev):
    s = world["students"][0]
    day = local_today()
    newer = make_ev("94000701", s.personal_id, day, 4, "K", "attendance.corrected",
                    observed_at=dt.datetime.combine(day, dt.time(11), dt.UTC))
    older = make_ev("94000701", s.personal_id, day, 4, "P", "attendance.corrected",
                    observed_at=dt.datetime.combine(day, dt.time(10), dt.UTC))
    apply_event(db, newer, settings)
    assert apply_event(db, older, settings).outcome == "superseded"
    db.commit()
    assert db.scalars(select(AttendanceMark)).one().status == "K"


@pytest.mark.parametrize("case", ["unknown_student", "wrong_school", "unknown_school", "date_out_of_range"])
def test_unappliable_events_raise_and_write_nothing(db, world, settings, make_ev, case):
    s_a, s_b = world["students"][0], world["students"][3]
    ev = {"unknown_student": make_ev("94000701", "999999999999", local_today(), 1, "P"),
          "wrong_school": make_ev("94000701", s_b.personal_id, local_today(), 1, "P"),
          "unknown_school": make_ev("94009999", s_a.personal_id, local_today(), 1, "P"),
          "date_out_of_range": make_ev("94000701", s_a.personal_id, local_today() + dt.timedelta(days=30), 1, "P"),
          }[case]
    with pytest.raises(ApplyError) as err:
        apply_event(db, ev, settings)
    assert err.value.reason == case
    db.rollback()
    assert _count(db, AttendanceHistory) == 0 and _count(db, AttendanceMark) == 0


def test_gate_event_is_ignored(db, world, settings):
    from edge_agent.protocol import GateArrivalPayload, Source, new_event

    s = world["students"][0]
    ev = new_event("94000701", 999, "gate.arrival", GateArrivalPayload(
        student_id=s.personal_id, date=local_today(), gate="cong-chinh", source=Source(kind="camera", camera_id="g1"),
        observed_at=dt.datetime.now(dt.UTC)), b"k" * 32)
    assert apply_event(db, ev, settings).outcome == "ignored"


def test_46_half_day_absences_mixed_p_k_flag_not_eligible(db, world, settings, make_ev):
    """T-1: 46 absent buổi (mixed P/K, whole-session marks) ⇒ warning 40 and 'not eligible for promotion'."""
    s, other = world["students"][0], world["students"][1]
    start = local_today() - dt.timedelta(days=40)
    n = 0
    for i in range(23):
        day = start + dt.timedelta(days=i)
        for sess in ("morning", "afternoon"):
            status = "P" if n % 2 else "K"
            apply_event(db, make_ev("94000701", s.personal_id, day, None, status, session=sess), settings)
            n += 1
        # 45 buổi for the other student: at the limit, not over it
        if i < 22:
            for sess in ("morning", "afternoon"):
                apply_event(db, make_ev("94000701", other.personal_id, day, None, "P", session=sess), settings)
    apply_event(db, make_ev("94000701", other.personal_id, start + dt.timedelta(days=22), None, "K",
                            session="morning"), settings)
    db.commit()
    assert n == 46
    year = reports.year_terms(db, local_today(), settings)[-1]
    totals = {t.student_id: t for t in reports.student_totals(db, settings, year.start, year.end)}
    t = totals[s.id]
    assert (t.excused, t.unexcused, t.total, t.level, t.not_eligible) == (23, 23, 46, 40, True)
    o = totals[other.id]
    assert (o.total, o.level, o.not_eligible) == (45, 40, False)
    warned = reports.warnings(db, settings, local_today())
    assert [w.student_id for w in warned] == [s.id, other.id]


def test_period_marks_make_a_buoi_only_when_all_missed(db, world, settings, make_ev):
    s = world["students"][2]
    day = local_today()
    for period in range(1, 6):
        apply_event(db, make_ev("94000701", s.personal_id, day, period, "P", class_code="10A2"), settings)
    for period in range(6, 9):
        apply_event(db, make_ev("94000701", s.personal_id, day, period, "K" if period < 8 else "present",
                                class_code="10A2"), settings)
    db.commit()
    assert db.get(AttendanceSession, (s.id, day, "morning")).status == "P"
    assert db.get(AttendanceSession, (s.id, day, "afternoon")).status == "partial"
    rates = reports.school_rates(db, day, day)
    assert rates[world["a"].id] == (1, 2)


def test_daily_rollup_stays_equal_to_a_full_recount(app, db, world, settings, make_ev):
    """The incremental per-class counters equal a recount from the sessions after corrections and overrides."""
    from central_server.attendance.demo import rebuild_daily
    from central_server.attendance.tables import AttendanceDaily

    s = world["students"]
    day = local_today()
    t = lambda h: dt.datetime.combine(day, dt.time(h), dt.UTC)  # noqa: E731
    events = [
        make_ev("94000701", s[0].personal_id, day, 1, "absent_proposed", "attendance.proposed", observed_at=t(7)),
        make_ev("94000701", s[0].personal_id, day, 1, "P", "attendance.corrected", observed_at=t(8)),
        make_ev("94000701", s[0].personal_id, day, 1, "present", "attendance.finalised", observed_at=t(9)),
        make_ev("94000701", s[1].personal_id, day, None, "K", session="morning", observed_at=t(7)),
        make_ev("94000701", s[2].personal_id, day, 6, "P", "attendance.corrected", observed_at=t(13)),
        make_ev("94000702", s[3].personal_id, day - dt.timedelta(days=1), 2, "late", observed_at=t(8)),
    ]
    for ev in events:
        apply_event(db, ev, settings)
    db.commit()
    snapshot = lambda: sorted((r.school_id, r.class_id, r.day, r.total, r.attended, r.excused, r.unexcused,  # noqa: E731
                               r.unfinalised) for r in db.scalars(select(AttendanceDaily)))
    incremental = snapshot()
    rebuild_daily(app.state.engine)
    db.expire_all()
    assert incremental == snapshot()
    c1 = world["classes"][0].id
    assert [r for r in incremental if r[1] == c1] == [(world["a"].id, c1, day, 2, 1, 0, 1, 0)]
