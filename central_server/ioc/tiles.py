"""Tiles: every indicator's value per scope ("P" province, "S<id>" school), written by the job from the
aggregate tables, with its weekly trend and the time its value last changed. Pages and APIs only read them."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from central_server.core.config import Settings
from central_server.core.db import utcnow
from central_server.masterdata.service import school_year_of
from central_server.masterdata.tables import School, SchoolClass, Student, Teacher

from . import modules
from .config import IocSettings
from .rules import rule_thresholds
from .stamps import TILES_STAMP, touch
from .tables import IocSchoolDaily, IocStudentState, IocTile, IocTileWeekly

PROVINCE = "P"
SUMS = ("total", "attended", "excused", "unexcused", "unfinalised", "proposals", "corrections", "finalised",
        "finalised_on_time", "quarantined")


def scope_of(school_id: int | None) -> str:
    return PROVINCE if school_id is None else f"S{school_id}"


def monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _share(num: float, den: float) -> float | None:
    return num / den if den else None


class _Acc:
    """Sums of `ioc_school_daily` columns over a window."""

    def __init__(self):
        self.v = dict.fromkeys(SUMS, 0)

    def add(self, row: IocSchoolDaily) -> None:
        for k in SUMS:
            self.v[k] += getattr(row, k) or 0

    def __getitem__(self, k: str) -> int:
        return self.v[k]


def _attendance_tiles(acc: dict[str, _Acc]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for w in ("day", "week", "month"):
        a = acc[w]
        out[f"rate_{w}"] = _share(a["attended"], a["total"])
        out[f"p_rate_{w}"] = _share(a["excused"], a["total"])
        out[f"k_rate_{w}"] = _share(a["unexcused"], a["total"])
    out["on_time_share"] = _share(acc["28d"]["finalised_on_time"], acc["28d"]["finalised"])
    out["correction_share"] = _share(acc["week"]["corrections"], acc["week"]["proposals"])
    out["quarantined_7d"] = acc["7d"]["quarantined"]
    out["unfinalised_past"] = acc["past"]["unfinalised"]
    out["face_active"] = 1.0 if acc["7d"]["proposals"] > 0 else 0.0
    return out


def compute(session: Session, settings: Settings, ioc: IocSettings, today: dt.date, full: bool = True
            ) -> dict[str, dict]:
    """{scope: {key: (value, detail)}} and weekly trend points {scope: {key: {week: value}}}.

    Not `full` (an incremental run): only what attendance facts move; master data and the other modules'
    counts keep their stored tiles until the next full refresh."""
    tz = ZoneInfo(settings.timezone)
    schools = list(session.scalars(select(School).where(School.active).order_by(School.code)))
    ids = [s.id for s in schools]
    start = min(monday(today) - dt.timedelta(weeks=ioc.trend_weeks), today.replace(day=1), today - dt.timedelta(28))
    rows = list(session.scalars(select(IocSchoolDaily).where(IocSchoolDaily.day >= start,
                                                             IocSchoolDaily.day <= today)))
    recorded = [r.day for r in rows if r.total]
    last_day = max(recorded) if recorded else today
    windows = {"day": (last_day, last_day), "week": (monday(last_day), last_day),
               "month": (last_day.replace(day=1), last_day), "28d": (today - dt.timedelta(27), today),
               "7d": (today - dt.timedelta(6), today), "past": (today - dt.timedelta(7), today - dt.timedelta(1))}
    acc: dict[int | None, dict[str, _Acc]] = defaultdict(lambda: {w: _Acc() for w in windows})
    weekly: dict[int | None, dict[dt.date, _Acc]] = defaultdict(lambda: defaultdict(_Acc))
    for r in rows:
        for w, (lo, hi) in windows.items():
            if lo <= r.day <= hi:
                acc[r.school_id][w].add(r)
                acc[None][w].add(r)
        weekly[r.school_id][monday(r.day)].add(r)
        weekly[None][monday(r.day)].add(r)
    tiles: dict[str, dict] = defaultdict(dict)
    trends: dict[str, dict[str, dict[dt.date, float | None]]] = defaultdict(lambda: defaultdict(dict))
    for sid in [None, *ids]:
        scope = scope_of(sid)
        for k, v in _attendance_tiles(acc[sid]).items():
            tiles[scope][k] = (v, None)
        for week, a in weekly[sid].items():
            trends[scope]["rate_week"][week] = _share(a["attended"], a["total"])
            trends[scope]["p_rate_week"][week] = _share(a["excused"], a["total"])
            trends[scope]["k_rate_week"][week] = _share(a["unexcused"], a["total"])
            trends[scope]["correction_share"][week] = _share(a["corrections"], a["proposals"])
            trends[scope]["quarantined_7d"][week] = a["quarantined"]
        tiles[scope]["last_day"] = (None, {"day": last_day.isoformat()})
    _students(session, settings, ids, tiles)
    active = sum(tiles[scope_of(i)]["face_active"][0] for i in ids)
    tiles[PROVINCE]["target_face_share"] = (_share(active, len(ids)), {"target": ioc.target_face_attendance_share,
                                                                        "schools": len(ids), "active": active})
    if full:
        _master(session, settings, today, ids, tiles)
        _modules(session, settings, today, tz, ids, tiles, ioc)
    return {"tiles": tiles, "trends": trends}


def _master(session: Session, settings: Settings, today: dt.date, ids: list[int], tiles) -> None:
    year = school_year_of(today, settings.year_start_month)
    classes = dict(session.execute(select(SchoolClass.school_id, func.count()).where(
        SchoolClass.school_year == year).group_by(SchoolClass.school_id)).all())
    students = dict(session.execute(select(Student.school_id, func.count()).group_by(Student.school_id)).all())
    with_id = dict(session.execute(select(Student.school_id, func.count()).where(
        func.length(Student.personal_id) == 12, Student.moet_code.is_not(None)).group_by(Student.school_id)).all())
    teachers = dict(session.execute(select(Teacher.school_id, func.count()).group_by(Teacher.school_id)).all())
    def pick(d: dict, sid: int | None) -> int:
        return sum(d.get(i, 0) for i in ids) if sid is None else d.get(sid, 0)

    for sid in [None, *ids]:
        t = tiles[scope_of(sid)]
        c, s = pick(classes, sid), pick(students, sid)
        t["classes"], t["students"], t["teachers"] = (c, None), (s, None), (pick(teachers, sid), None)
        t["students_per_class"] = (_share(s, c), None)
        t["target_digital_records"] = (_share(pick(with_id, sid), s), None)
    tiles[PROVINCE]["schools"] = (len(ids), None)


def _students(session: Session, settings: Settings, ids: list[int], tiles) -> None:
    levels = settings.absence_warning_levels
    limit = settings.absence_limit_sessions
    th = rule_thresholds(session)
    st = IocStudentState
    cols = {f"absent_{lv}": func.sum(case((st.absent >= lv, 1), else_=0)) for lv in levels}
    cols["absent_over_limit"] = func.sum(case((st.absent > limit, 1), else_=0))
    cols["dropout_streak"] = func.sum(case((st.streak_days >= th["dropout_streak"], 1), else_=0))
    cols["dropout_rising"] = func.sum(case(((st.recent_absent >= 4)
                                            & (st.recent_absent >= st.prior_absent * th["dropout_rising"]), 1),
                                           else_=0))
    got = {r[0]: r[1:] for r in session.execute(select(st.school_id, *cols.values()).group_by(st.school_id))}
    for sid in ids:
        for k, v in zip(cols, got.get(sid, [0] * len(cols)), strict=True):
            tiles[scope_of(sid)][k] = (v or 0, None)
    for k in cols:
        tiles[PROVINCE][k] = (sum(tiles[scope_of(i)][k][0] for i in ids), {"levels": levels, "limit": limit})


def _modules(session: Session, settings: Settings, today: dt.date, tz: ZoneInfo, ids: list[int], tiles,
             ioc: IocSettings) -> None:
    loaded = settings.modules
    if loaded is None or "admissions" in loaded:
        tiles[PROVINCE].update(modules.admissions(session, today, tz))
    for name, fn in (("library", modules.library), ("signature", modules.signatures)):
        if loaded is not None and name not in loaded:
            continue
        province, per_school = fn(session)
        tiles[PROVINCE].update(province)
        for sid in ids:
            tiles[scope_of(sid)].update(per_school.get(sid, {}))
    if "target_signed_share" in tiles[PROVINCE]:
        value, detail = tiles[PROVINCE]["target_signed_share"]
        tiles[PROVINCE]["target_signed_share"] = (value, {**(detail or {}), "target": ioc.target_signed_share})


def write(session: Session, computed: dict, today: dt.date, only: set[str] | None = None) -> int:
    """Store the tiles; `changed_at` moves only for a value that changed. Returns how many changed."""
    now = utcnow()
    existing = {(t.scope, t.key): t for t in session.scalars(select(IocTile))}
    changed = 0
    for scope, keys in computed["tiles"].items():
        if only is not None and scope not in only:
            continue
        for key, (value, detail) in keys.items():
            value = None if value is None else float(value)
            row = existing.get((scope, key))
            if row is None:
                session.add(IocTile(scope=scope, key=key, value=value, detail=detail, changed_at=now, updated_at=now))
                changed += 1
            elif row.value != value or row.detail != detail:
                row.value, row.detail, row.changed_at, row.updated_at = value, detail, now, now
                changed += 1
    week = monday(today)
    weeks = [wk for keys in computed["trends"].values() for series in keys.values() for wk in series]
    points = {(t.scope, t.key, t.week): t for t in session.scalars(select(IocTileWeekly).where(
        IocTileWeekly.week >= min([week, *weeks])))}
    for scope, keys in computed["tiles"].items():
        for key, (value, _) in keys.items():
            if value is not None and key not in computed["trends"][scope]:
                computed["trends"][scope][key][week] = value  # a snapshot: the trend grows week by week
    for scope, keys in computed["trends"].items():
        for key, series in keys.items():
            for wk, value in series.items():
                row = points.get((scope, key, wk))
                value = None if value is None else float(value)
                if row is None:
                    session.add(IocTileWeekly(scope=scope, key=key, week=wk, value=value))
                    changed += 1
                elif row.value != value:
                    row.value = value
                    changed += 1
    if changed:
        touch(session, TILES_STAMP)
    session.flush()
    return changed
