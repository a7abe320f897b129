"""IOC logic without HTTP: read the tiles, the fleet and the alerts for a scope; acknowledge, resolve, edit rules."""

from __future__ import annotations

import datetime as dt
import json
import threading
from zoneinfo import ZoneInfo

from fastapi import HTTPException
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central_server.attendance.tables import AttendanceDaily
from central_server.core.audit import audit
from central_server.core.clock import local_today
from central_server.core.config import Settings
from central_server.core.db import utcnow
from central_server.core.tables import User
from central_server.masterdata.service import school_year_of
from central_server.masterdata.tables import School, SchoolClass, Student

from . import webhook
from .access import public_cell
from .alerts import faces_too_small
from .catalogue import PUBLIC_KEYS, STUDENT_COUNTS, TILES
from .config import IocSettings
from .rules import BY_CODE, check_threshold, ensure_rules
from .stamps import ALERTS_STAMP, TILES_STAMP, touch
from .tables import IocAlert, IocAlertRule, IocTile, IocTileWeekly, IocWatermark
from .tiles import PROVINCE, monday, scope_of

try:  # the ingest module is optional (CENTRAL_MODULES)
    from central_server.ingest.tables import EdgeStatus
except ImportError:  # pragma: no cover
    EdgeStatus = None

STATE_LABELS = {"open": "Đang mở", "acknowledged": "Đã tiếp nhận", "resolved": "Đã xử lý"}


_CACHE: dict[tuple, tuple[tuple, object]] = {}
_CACHE_LOCK = threading.Lock()


def stamp(session: Session) -> tuple:
    """When the tiles and the alerts last changed (the job and `touch_alerts` move these stamps in the same
    transaction as the data): a process may reuse what it computed from an unchanged stamp."""
    return tuple(sorted(session.execute(select(IocWatermark.name, IocWatermark.updated_at).where(
        IocWatermark.name.in_((TILES_STAMP, ALERTS_STAMP)))).all()))


def _cached(session: Session, key: tuple, compute, copy=lambda value: value):
    """`compute()` once per change stamp and process; each caller gets `copy(value)` (what it may change)."""
    now = stamp(session)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] == now:
        return copy(hit[1])
    value = compute()
    with _CACHE_LOCK:
        if len(_CACHE) > 1000:
            _CACHE.clear()
        _CACHE[key] = (now, value)
    return copy(value)


def tiles_of(session: Session, scope: str, weeks: int = 8) -> list[dict]:
    """The scope's tiles; each a fresh dict (pages add keys to them), the trend lists shared (read only)."""
    return _cached(session, ("tiles", scope, weeks), lambda: _tiles_of(session, scope, weeks),
                   lambda tiles: [dict(t) for t in tiles])


def _tiles_of(session: Session, scope: str, weeks: int = 8) -> list[dict]:
    rows = {t.key: t for t in session.scalars(select(IocTile).where(IocTile.scope == scope))}
    since = dt.date.today() - dt.timedelta(weeks=weeks + 1)
    trend: dict[str, list[tuple[dt.date, float | None]]] = {}
    for p in session.scalars(select(IocTileWeekly).where(IocTileWeekly.scope == scope, IocTileWeekly.week >= since)
                             .order_by(IocTileWeekly.week)):
        trend.setdefault(p.key, []).append((p.week, p.value))
    out = []
    for d in TILES:
        row = rows.get(d.key)
        if row is None or (d.province_only and scope != PROVINCE):
            continue
        out.append({"key": d.key, "label": d.label, "fmt": d.fmt, "group": d.group, "better": d.better,
                    "value": row.value, "detail": row.detail, "changed_at": row.changed_at,
                    "updated_at": row.updated_at,
                    "trend": [{"week": w, "value": v} for w, v in trend.get(d.key, [])[-weeks:]]})
    return out


def last_day(session: Session, scope: str) -> str | None:
    row = session.get(IocTile, (scope, "last_day"))
    return (row.detail or {}).get("day") if row is not None else None


def fleet(session: Session, settings: Settings, schools: list[School], now: dt.datetime | None = None) -> list[dict]:
    """The edge agents: state, last heartbeat, outbox backlog and its oldest event, cameras, versions."""
    now = now or utcnow()
    rule = session.get(IocAlertRule, "camera_faces_small")  # a camera is flagged as the alert rule judges it
    small_pct = (BY_CODE["camera_faces_small"].threshold if rule is None
                 else rule.threshold if rule.enabled else None)
    rows = {}
    if EdgeStatus is not None:
        rows = {r.school: r for r in session.scalars(select(EdgeStatus).where(
            EdgeStatus.school.in_([s.code for s in schools])))}
    limit = now - dt.timedelta(minutes=settings.edge_offline_after_minutes)
    today = now.astimezone(ZoneInfo(settings.timezone)).date()
    out = []
    for s in schools:
        r = rows.get(s.code)
        item = {"school_id": s.id, "code": s.code, "name": s.name, "state": "unknown", "last_seen_at": None,
                "outbox_backlog": None, "outbox_oldest_age_s": None, "cameras": [], "gallery_version": None,
                "model_versions": {}, "agent_version": None, "decisions_today": None}
        if r is not None:
            try:
                p = json.loads(r.payload)
            except ValueError:
                p = {}
            item.update(state="online" if r.state == "online" and r.last_seen_at >= limit else "offline",
                        last_seen_at=r.last_seen_at, outbox_backlog=r.outbox_backlog,
                        outbox_oldest_age_s=p.get("outbox_oldest_age_s"),
                        cameras=[_camera(c, small_pct) for c in p.get("cameras", []) if isinstance(c, dict)],
                        gallery_version=p.get("gallery_version"), model_versions=p.get("model_versions") or {},
                        agent_version=p.get("agent_version"),
                        decisions_today=_decisions_today(p.get("recognitions"), today))
        out.append(item)
    return out


def _camera(c: dict, small_pct: float | None) -> dict:
    """One camera of the heartbeat: frame rate, signal, and the share of its latest face tracks whose faces stayed
    at or under 60 px (None from agents that do not count them, or before any track), flagged as the alert rule
    camera_faces_small judges it (`small_pct`: its threshold, None when the rule is off)."""
    tracks, small = c.get("face_tracks"), c.get("small_face_tracks")
    counted = isinstance(tracks, int) and isinstance(small, int)
    share = small / tracks if counted and tracks > 0 else None
    return {"camera_id": c.get("camera_id"), "fps": c.get("fps"), "online": c.get("online"),
            "face_tracks": tracks if counted else None, "small_face_share": share,
            "faces_too_small": small_pct is not None and faces_too_small(tracks, small, small_pct) is not None}


def _decisions_today(rec: object, today: dt.date) -> dict | None:
    """The heartbeat's counts of the cameras' decisions when they are of `today` (yesterday's are not today's)."""
    if not isinstance(rec, dict) or rec.get("day") != today.isoformat():
        return None
    accepted, review = rec.get("accepted") or 0, rec.get("review") or 0
    return {"day": today, "since": rec.get("since"), "accepted": accepted, "review": review,
            "unknown": rec.get("unknown") or 0,
            "review_share": review / (accepted + review) if accepted + review else None}


def classes_of(session: Session, settings: Settings, school: School, day: str | None) -> list[dict]:
    """The class level of a school: students, and the week's attendance and absence rates (from
    `attendance_daily`, a few rows per class)."""
    today = dt.date.fromisoformat(day) if day else local_today(settings.timezone)
    year = school_year_of(today, settings.year_start_month)
    classes = list(session.scalars(select(SchoolClass).where(SchoolClass.school_id == school.id,
                                                             SchoolClass.school_year == year)
                                   .order_by(SchoolClass.code)))
    sizes = dict(session.execute(select(Student.class_id, func.count()).where(Student.school_id == school.id)
                                 .group_by(Student.class_id)).all())
    d = AttendanceDaily
    week = {r[0]: r[1:] for r in session.execute(
        select(d.class_id, func.sum(d.total), func.sum(d.attended), func.sum(d.excused), func.sum(d.unexcused))
        .where(d.school_id == school.id, d.day >= monday(today), d.day <= today).group_by(d.class_id))}
    out = []
    for c in classes:
        total, attended, p, k = week.get(c.id, (0, 0, 0, 0))
        out.append({"id": c.id, "code": c.code, "grade": c.grade, "students": sizes.get(c.id, 0),
                    "rate_week": attended / total if total else None, "p_rate_week": p / total if total else None,
                    "k_rate_week": k / total if total else None})
    return out


def open_alert_counts(session: Session, school_ids: set[int] | None) -> dict[int | None, int]:
    q = select(IocAlert.school_id, func.count()).where(IocAlert.open_key.is_not(None)).group_by(IocAlert.school_id)
    if school_ids is not None:
        q = q.where(IocAlert.school_id.in_(school_ids))
    return dict(session.execute(q).all())


def school_state(rate: float | None, edge: str, alerts: int) -> str:
    """The grid colour: red (offline edge or attendance < 80 %), amber (open alerts or < 90 %), green, grey."""
    if rate is None and edge == "unknown":
        return "grey"
    if edge == "offline" or (rate is not None and rate < 0.8):
        return "red"
    if alerts or (rate is not None and rate < 0.9):
        return "amber"
    return "green"


def schools_in(session: Session, school_ids: set[int] | None) -> list[School]:
    q = select(School).where(School.active).order_by(School.code)
    if school_ids is not None:
        q = q.where(School.id.in_(school_ids))
    return list(session.scalars(q))


def grid(session: Session, settings: Settings, school_ids: set[int] | None) -> list[dict]:
    schools = schools_in(session, school_ids)
    values, alerts = _cached(session, ("grid", tuple(sorted(school_ids)) if school_ids is not None else None),
                             lambda: ({(t.scope, t.key): t.value for t in session.scalars(select(IocTile).where(
                                 IocTile.key.in_(("rate_day", "rate_week", "students", "absent_30"))))},
                                 open_alert_counts(session, school_ids)))
    out = []
    for s, f in zip(schools, fleet(session, settings, schools), strict=True):
        scope = scope_of(s.id)
        rate = values.get((scope, "rate_day"))
        out.append({"id": s.id, "code": s.code, "name": s.name, "rate_day": rate,
                    "rate_week": values.get((scope, "rate_week")), "students": values.get((scope, "students")),
                    "absent_30": values.get((scope, "absent_30")), "edge": f["state"],
                    "open_alerts": alerts.get(s.id, 0), "state": school_state(rate, f["state"], alerts.get(s.id, 0))})
    return out


def alerts_of(session: Session, school_ids: set[int] | None, state: str | None = None, limit: int = 200
              ) -> list[IocAlert]:
    q = select(IocAlert).order_by(IocAlert.opened_at.desc(), IocAlert.id.desc()).limit(limit)
    if school_ids is not None:
        q = q.where(IocAlert.school_id.in_(school_ids))
    if state == "active":
        q = q.where(IocAlert.open_key.is_not(None))
    elif state:
        q = q.where(IocAlert.state == state)
    return list(session.scalars(q))


def _person(user: User) -> str:
    return f"{user.full_name or user.username} ({user.username})"


def acknowledge(session: Session, ioc: IocSettings, user: User, alert: IocAlert, note: str, ip: str = "") -> IocAlert:
    note = (note or "").strip()
    if not note:
        raise HTTPException(422, "Cần ghi chú khi tiếp nhận cảnh báo.")
    if len(note) > 1000:
        raise HTTPException(422, "Ghi chú tối đa 1000 ký tự.")
    if alert.state != "open":
        raise HTTPException(409, "Chỉ tiếp nhận được cảnh báo đang mở.")
    alert.state, alert.ack_by, alert.ack_note, alert.ack_at = "acknowledged", _person(user), note, utcnow()
    audit(session, user, "ioc.alert.ack", f"alert:{alert.id}", {"note": note[:200]}, ip=ip)
    touch(session, ALERTS_STAMP)
    webhook.enqueue(session, ioc, alert, "acknowledged")
    return alert


def resolve(session: Session, ioc: IocSettings, user: User, alert: IocAlert, note: str = "", ip: str = "") -> IocAlert:
    if alert.state == "resolved":
        raise HTTPException(409, "Cảnh báo đã được xử lý.")
    alert.state, alert.open_key, alert.resolved_at, alert.resolved_by = "resolved", None, utcnow(), _person(user)
    if note.strip():
        alert.ack_note = (alert.ack_note + "\n" if alert.ack_note else "") + note.strip()[:1000]
    audit(session, user, "ioc.alert.resolve", f"alert:{alert.id}", {"note": note[:200]}, ip=ip)
    touch(session, ALERTS_STAMP)
    webhook.enqueue(session, ioc, alert, "resolved")
    return alert


def rules(session: Session) -> list[IocAlertRule]:
    rows = ensure_rules(session)
    return [rows[d.code] for d in BY_CODE.values()]


def update_rule(session: Session, user: User, code: str, threshold: float, enabled: bool, ip: str = ""
                ) -> IocAlertRule:
    error = check_threshold(code, threshold)
    if error:
        raise HTTPException(404 if code not in BY_CODE else 422, error)
    row = ensure_rules(session)[code]
    before = {"threshold": row.threshold, "enabled": row.enabled}
    row.threshold, row.enabled, row.updated_by, row.updated_at = threshold, enabled, user.username, utcnow()
    audit(session, user, "ioc.rule.update", f"rule:{code}", {"before": before,
                                                             "after": {"threshold": threshold, "enabled": enabled}},
          ip=ip)
    return row


def public_view(session: Session, ioc: IocSettings) -> dict:
    """Aggregates only: per school and province, the public keys; counts of 1..4 students are suppressed."""
    schools = list(session.scalars(select(School).where(School.active).order_by(School.code)))
    values = {(t.scope, t.key): t.value for t in session.scalars(select(IocTile).where(IocTile.key.in_(PUBLIC_KEYS)))}

    def row(scope: str) -> dict:
        students = values.get((scope, "students"))
        small = students is None or students < ioc.public_min_cell
        out: dict = {"suppressed": []}
        for k in PUBLIC_KEYS:
            v = values.get((scope, k))
            if k in STUDENT_COUNTS:
                shown = public_cell(v, ioc.public_min_cell)
            else:  # a rate or a mean over fewer than 5 students tells about individuals
                shown = None if small else v
            if v is not None and shown is None:
                out["suppressed"].append(k)
            out[k] = shown
        return out

    return {"province": row(PROVINCE), "schools": [{"code": s.code, "name": s.name, **row(scope_of(s.id))}
                                                   for s in schools], "min_cell": ioc.public_min_cell}
