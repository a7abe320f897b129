"""The incremental job against a rebuild from scratch, the watermark's gaps, and the indicator values."""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from central_server.attendance.service import apply_event
from central_server.attendance.tables import AttendanceHistory
from central_server.cli import app as cli
from central_server.ioc import job
from central_server.ioc.config import IocSettings
from central_server.ioc.tables import IocSchoolDaily, IocStudentState, IocTile, IocWatermark


def _snapshot(db):
    db.expire_all()
    daily = {(r.school_id, r.day): (r.total, r.attended, r.excused, r.unexcused, r.unfinalised, r.proposals,
                                    r.corrections, r.finalised, r.finalised_on_time, r.quarantined)
             for r in db.scalars(select(IocSchoolDaily))}
    students = {r.student_id: (r.excused, r.unexcused, r.absent, r.streak_days, r.recent_absent, r.prior_absent,
                               r.last_day) for r in db.scalars(select(IocStudentState))}
    return daily, students


def _tile(db, scope, key):
    db.expire_all()
    return db.get(IocTile, (scope, key))


def _school_days(today: dt.date, n: int) -> list[dt.date]:
    out, d = [], today
    while len(out) < n:
        if d.weekday() < 5:
            out.append(d)
        d -= dt.timedelta(days=1)
    return sorted(out)


def test_incremental_equals_rebuild(world, apply, run_tick, db, app, settings, ev):
    a, s = world["a"], world["students"]
    days = _school_days(world["today"], 12)
    run_tick()  # empty start
    # student 0: absent (K) both sessions on the last 11 school days; student 1: present, one P day
    for day in days:
        for sess in ("morning", "afternoon"):
            apply(ev(a.code, s[0].personal_id, day, "K" if day != days[0] else "present", session=sess),
                  ev(a.code, s[1].personal_id, day, "P" if day == days[5] else "present", session=sess))
        run_tick(full=False)  # folded day by day, as the events arrive
    # a camera proposal later corrected by the teacher, finalised the next day (late)
    late = dt.datetime.combine(days[-1] + dt.timedelta(days=1), dt.time(3), dt.UTC)
    apply(ev(a.code, s[2].personal_id, days[-1], "absent_proposed", "attendance.proposed"),
          ev(a.code, s[2].personal_id, days[-1], "present", "attendance.corrected"),
          ev(a.code, s[2].personal_id, days[-1], "present", observed_at=late))
    out = run_tick()
    assert out["rows"] == 3
    incremental = _snapshot(db)
    job.rebuild(app.state.sessionmaker, settings, app.state.ioc_settings)
    assert _snapshot(db) == incremental
    daily, students = incremental
    last = daily[(a.id, days[-1])]
    assert last[:5] == (5, 3, 0, 2, 0)  # s0 morning+afternoon K, s1 two present, s2 one present
    assert last[5:9] == (1, 1, 5, 4)    # 1 proposal, 1 correction, 5 finalised of which 4 on the lesson's day
    assert students[s[0].id][:4] == (0, 22, 22, 11)  # 22 K sessions, 11 school days in a row
    assert students[s[1].id][:3] == (2, 0, 2)
    sa = f"S{a.id}"
    assert _tile(db, sa, "dropout_streak").value == 1
    assert _tile(db, sa, "rate_day").value == 3 / 5
    assert _tile(db, sa, "k_rate_day").value == 2 / 5
    assert _tile(db, sa, "correction_share").value == 1.0
    assert _tile(db, "P", "students").value == 16 and _tile(db, "P", "classes").value == 3
    assert _tile(db, sa, "students_per_class").value == 6


def test_absence_levels_and_changed_time(world, apply, run_tick, db, ev):
    a, s = world["a"], world["students"]
    days = _school_days(world["today"], 23)
    run_tick()
    before = _tile(db, f"S{a.id}", "absent_30")
    assert before.value == 0
    absent_changed, students_changed = before.changed_at, _tile(db, f"S{a.id}", "students").changed_at
    for day in days:  # 46 sessions absent: over the 45-session limit, and past 30 and 40 on the way
        apply(ev(a.code, s[3].personal_id, day, "P", session="morning"),
              ev(a.code, s[3].personal_id, day, "P", session="afternoon"))
    run_tick()
    tiles = {k: _tile(db, f"S{a.id}", k) for k in ("absent_30", "absent_40", "absent_over_limit", "students")}
    assert [tiles[k].value for k in ("absent_30", "absent_40", "absent_over_limit")] == [1, 1, 1]
    assert tiles["absent_30"].changed_at > absent_changed
    assert tiles["students"].changed_at == students_changed  # an unchanged value keeps its time
    province = _tile(db, "P", "absent_over_limit")
    assert province.value == 1 and province.detail == {"levels": [30, 40], "limit": 45}


def test_watermark_gap_is_folded_when_its_transaction_commits(world, apply, run_tick, db, ev):
    """A history id taken by a transaction that commits after a higher id was folded is not lost."""
    a, s = world["a"], world["students"]
    day = world["today"]
    apply(ev(a.code, s[0].personal_id, day, "K"))
    run_tick()
    top = db.scalar(select(IocWatermark.last_id).where(IocWatermark.name == "attendance_history"))
    # a later transaction's row (id top+100) is visible before an earlier one's (top+1)
    apply(ev(a.code, s[1].personal_id, day, "present"))
    _move(db, s[1].id, top + 100)
    run_tick()
    mark = db.scalars(select(IocWatermark).where(IocWatermark.name == "attendance_history")).one()
    assert mark.last_id == top + 100 and str(top + 1) in mark.gaps and len(mark.gaps) == 99
    assert db.get(IocSchoolDaily, (a.id, day)).finalised == 2
    apply(ev(a.code, s[2].personal_id, day, "P"))
    _move(db, s[2].id, top + 1)  # the earlier transaction commits now
    run_tick()
    db.expire_all()
    mark = db.scalars(select(IocWatermark).where(IocWatermark.name == "attendance_history")).one()
    assert str(top + 1) not in mark.gaps and mark.last_id == top + 100
    assert db.get(IocSchoolDaily, (a.id, day)).finalised == 3
    assert db.get(IocSchoolDaily, (a.id, day)).excused == 1


def _move(db, student_id: int, new_id: int) -> None:
    """Give the student's history row the id a concurrent transaction would have taken."""
    db.execute(AttendanceHistory.__table__.update().where(AttendanceHistory.student_id == student_id)
               .values(id=new_id))
    db.commit()


def test_rebuild_command(db_url, world, apply, db, ev):
    a, s = world["a"], world["students"]
    apply(ev(a.code, s[0].personal_id, world["today"], "K"))
    result = CliRunner().invoke(cli, ["ioc", "rebuild", "--url", db_url])
    assert result.exit_code == 0, result.output
    assert '"students": 16' in result.output
    db.expire_all()
    assert db.get(IocSchoolDaily, (a.id, world["today"])).unexcused == 1
    assert db.get(IocTile, (f"S{a.id}", "k_rate_day")).value == 1.0


def test_the_job_runs_inside_the_app(world, app, ev, settings):
    """With the app running, an applied event reaches its tile through the background job (no manual tick)."""
    app.state.ioc_settings = IocSettings(_env_file=None, run_job=True, job_interval_s=0.1, full_refresh_s=3600)
    a, s = world["a"], world["students"]
    with TestClient(app):
        assert app.state.ioc_job is not None
        with app.state.sessionmaker() as session:
            apply_event(session, ev(a.code, s[0].personal_id, world["today"], "P"), settings)
            session.commit()
        deadline = time.monotonic() + 90  # a generous bound for a loaded machine: this is no speed test
        value = None
        while time.monotonic() < deadline and value != 1.0:
            with app.state.sessionmaker() as session:
                tile = session.get(IocTile, (f"S{a.id}", "p_rate_day"))
                value = tile.value if tile else None
            time.sleep(0.1)
        assert value == 1.0, app.state.ioc_job.last_error
    assert app.state.ioc_job is None  # stopped with the app


def test_set_based_rebuild_equals_the_incremental_fold(world, apply, run_tick, db, app, settings, ev):
    """A random year's worth of events folded batch by batch (the job's path, a student at a time in Python)
    gives exactly the tables that the set-based rebuild (one INSERT ... SELECT per table) computes."""
    import random

    from central_server.ingest.tables import IngestQuarantine

    rng = random.Random(3)
    a, b, s = world["a"], world["b"], world["students"]
    school = {st.id: (a if st.school_id == a.id else b) for st in s}
    days = _school_days(world["today"], 48)  # more than the signals' 60-day window
    run_tick()
    rates = {st.id: rng.choice([0.0, 0.05, 0.2, 0.5]) for st in s}
    for i, day in enumerate(days):
        batch = []
        for st in s:
            if st is s[15] and i > 2:
                continue  # left after three days: absences only outside the window
            if st is s[14] and i > 2:
                continue  # present on the first days only: a year total of 0 and no recent day
            if rng.random() < 0.15 and st not in (s[0], s[14], s[15]):
                continue  # no mark that day
            for sess in ("morning", "afternoon"):
                absent = rng.random() < rates[st.id] or (st is s[0] and i >= len(days) - 12) or \
                    (st is s[15] and i <= 2)
                status = rng.choice(["P", "K"]) if absent else rng.choice(["present", "present", "late"])
                code = school[st.id].code
                if rng.random() < 0.2:
                    batch.append(ev(code, st.personal_id, day, "absent_proposed" if absent else "present",
                                    "attendance.proposed", session=sess))
                    if rng.random() < 0.5:
                        batch.append(ev(code, st.personal_id, day, status, "attendance.corrected", session=sess))
                if rng.random() < 0.1 and st is not s[0]:
                    batch.append(ev(code, st.personal_id, day, "present", session=sess, period=1))
                    batch.append(ev(code, st.personal_id, day, "K", session=sess, period=2))
                    continue  # a partial session (periods marked)
                observed = dt.datetime.combine(day + dt.timedelta(days=rng.choice([0, 0, 0, 1])), dt.time(3),
                                               dt.UTC)
                batch.append(ev(code, st.personal_id, day, status, session=sess, observed_at=observed))
        apply(*batch)
        if i % 7 == 6 or i == len(days) - 1:
            run_tick(full=False)
    # received on the last school day (not "now": on a weekend that would be a day with no marks and its own row)
    received = dt.datetime.combine(days[-1], dt.time(12), ZoneInfo(settings.timezone))
    db.add(IngestQuarantine(received_at=received, topic="x", reason="bad_signature", detail="",
                            school=a.code, payload=b"", payload_size=0))
    db.commit()
    run_tick()
    incremental = _snapshot(db)
    daily, students = incremental
    assert len(daily) == len(days) * 2 and sum(r[9] for r in daily.values()) == 1
    assert sum(r[6] for r in daily.values()) > 0 and sum(r[8] for r in daily.values()) < \
        sum(r[7] for r in daily.values())  # corrections, and late finalisations
    assert students[s[0].id][3] >= 12 and s[14].id not in students
    assert students[s[15].id][2] > 0 and students[s[15].id][6] is None  # absent only outside the window
    job.rebuild(app.state.sessionmaker, settings, app.state.ioc_settings)
    rebuilt = _snapshot(db)
    assert rebuilt[0] == daily
    assert rebuilt[1] == students


def test_tiles_catch_up_with_a_fold_committed_without_them(world, apply, run_tick, db, app, settings, ev):
    """Fold and tiles are two transactions: a run that stopped after the fold (or another process's fold) leaves
    `tiles:attendance_history` behind, and the next run rewrites the tiles although it folds nothing new."""
    from central_server.ioc import aggregates

    a, s = world["a"], world["students"]
    run_tick()
    apply(ev(a.code, s[0].personal_id, world["today"], "K"))
    with app.state.sessionmaker() as session:  # the fold's transaction only
        assert aggregates.fold(session, settings, app.state.ioc_settings, world["today"]).rows == 1
        session.commit()
    db.expire_all()
    marks = {m.name: m.last_id for m in db.scalars(select(IocWatermark))}
    assert marks["tiles:attendance_history"] < marks["attendance_history"]
    assert _tile(db, f"S{a.id}", "k_rate_day").value != 1.0
    out = run_tick(full=False)
    assert out["rows"] == 0 and out["tiles_changed"] > 0
    assert _tile(db, f"S{a.id}", "k_rate_day").value == 1.0
    db.expire_all()
    marks = {m.name: m.last_id for m in db.scalars(select(IocWatermark))}
    assert marks["tiles:attendance_history"] == marks["attendance_history"]
    assert run_tick(full=False)["tiles_changed"] == 0  # caught up: nothing to do
