"""Alert evaluation: the rules' conditions on the aggregates and the edge status; deduplicated, audited,
notified through the webhook. People acknowledge and resolve alerts through `service.py`."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central_server.attendance.tables import AttendanceDaily
from central_server.core.audit import audit
from central_server.core.config import Settings
from central_server.core.db import utcnow
from central_server.masterdata.tables import School, SchoolClass, Student

from . import webhook
from .config import IocSettings
from .rules import BY_CODE, ensure_rules
from .stamps import ALERTS_STAMP, touch
from .tables import IocAlert, IocSchoolDaily, IocStudentState
from .tiles import monday

try:  # the ingest module is optional (CENTRAL_MODULES)
    from central_server.ingest.tables import EdgeDecisionDay, EdgeStatus
except ImportError:  # pragma: no cover
    EdgeStatus = EdgeDecisionDay = None

SYSTEM = "ioc-job"
FACES_MIN_TRACKS = 30  # camera_faces_small judges a camera on at least this many of its latest face tracks
SEEN_EVERY_S = 300  # an open alert's last_seen_at is refreshed at most this often


@dataclass(frozen=True)
class Condition:
    rule: str
    school_id: int
    subject: str
    key: str
    message: str
    value: float | None


def in_school_hours(ioc: IocSettings, local: dt.datetime) -> bool:
    start, end = (dt.time.fromisoformat(x) for x in (ioc.school_hours_start, ioc.school_hours_end))
    return local.weekday() in ioc.school_weekdays and start <= local.time() <= end


def faces_too_small(tracks: object, small: object, threshold_pct: float) -> float | None:
    """The share (%) of a camera's latest face tracks whose face never grew wider than 60 px when it is over the
    rule's threshold on at least `FACES_MIN_TRACKS` tracks (hardware/README.md section 3), else None."""
    if not (isinstance(tracks, int) and isinstance(small, int)) or tracks < FACES_MIN_TRACKS:
        return None
    share = 100 * small / tracks
    return share if share > threshold_pct else None


def _small_faces(school: School, payload: dict, threshold_pct: float):
    cameras = payload.get("cameras")
    for cam in cameras if isinstance(cameras, list) else []:
        if not isinstance(cam, dict):
            continue
        share = faces_too_small(cam.get("face_tracks"), cam.get("small_face_tracks"), threshold_pct)
        if share is None:
            continue
        name = str(cam.get("camera_id"))
        yield Condition("camera_faces_small", school.id, f"camera:{school.id}:{name}"[:64],
                        f"camera_faces_small:{school.id}:{name}",
                        f"Camera {name} của {school.name}: {share:.0f}% trong {cam['face_tracks']} vệt khuôn mặt gần "
                        "nhất không lần nào rộng quá 60 px, camera sẽ bỏ sót học sinh. Cần đặt camera gần chỗ học "
                        "sinh đi qua hơn hoặc dùng ống kính hẹp hơn (hướng dẫn lắp đặt, mục 3).", round(share, 1))


def _edge(session: Session, th: dict, ioc: IocSettings, now: dt.datetime, local: dt.datetime, schools):
    if EdgeStatus is None:
        return
    by_code = {s.code: s for s in schools}
    for row in session.scalars(select(EdgeStatus)):
        school = by_code.get(row.school)
        if school is None:
            continue
        if "edge_offline" in th and in_school_hours(ioc, local):
            minutes = (now - row.last_seen_at).total_seconds() / 60
            if row.state != "online" or minutes > th["edge_offline"]:
                seen = row.last_seen_at.astimezone(local.tzinfo)
                yield Condition("edge_offline", school.id, f"school:{school.id}", f"edge_offline:{school.id}",
                                f"Máy trạm {school.name} mất kết nối từ {seen:%H:%M %d/%m} ({minutes:.0f} phút).",
                                round(minutes, 1))
        try:
            payload = json.loads(row.payload)
        except ValueError:
            payload = None
        payload = payload if isinstance(payload, dict) else {}
        if "camera_faces_small" in th and row.state == "online":
            yield from _small_faces(school, payload, th["camera_faces_small"])
        if "outbox_backlog" in th and row.state == "online":
            age = payload.get("outbox_oldest_age_s")
            if age is not None and age > th["outbox_backlog"]:
                yield Condition("outbox_backlog", school.id, f"school:{school.id}", f"outbox_backlog:{school.id}",
                                f"Máy trạm {school.name}: sự kiện chưa gửi cũ nhất đã {age / 60:.0f} phút "
                                f"({row.outbox_backlog or 0} sự kiện chờ).", float(age))


def _review(session: Session, th: dict, today: dt.date, schools):
    """A school whose teachers correct, or whose cameras send to review, `review_doubling` times last week's share
    (at least 20 decisions in each week)."""
    if "review_doubling" not in th:
        return
    this, last = monday(today), monday(today) - dt.timedelta(weeks=1)
    names = {s.id: s.name for s in schools}
    d = IocSchoolDaily
    teachers = session.execute(select(d.school_id, d.day, d.proposals, d.corrections).where(
        d.day >= last, d.day <= today)).all()
    for sid, before, now in _doubled(teachers, this, names, th["review_doubling"]):
        yield Condition("review_doubling", sid, f"school:{sid}", f"review_doubling:{sid}:{this}",
                        f"{names[sid]}: giáo viên sửa {now:.0%} kết quả nhận diện tuần này "
                        f"(tuần trước {before:.0%}).", round(now, 4))
    if EdgeDecisionDay is None:
        return
    # the cameras' own share of decisions sent to teacher review (named + review, from the heartbeats' daily counts)
    e = EdgeDecisionDay
    codes = {s.code: s.id for s in schools}
    cameras = [(codes[code], day, accepted + review, review) for code, day, accepted, review in session.execute(
        select(e.school, e.day, e.accepted, e.review).where(e.day >= last, e.day <= today,
                                                            e.school.in_(list(codes))))]
    for sid, before, now in _doubled(cameras, this, names, th["review_doubling"]):
        yield Condition("review_doubling", sid, f"school:{sid}", f"review_doubling:camera:{sid}:{this}",
                        f"{names[sid]}: camera gửi {now:.0%} lượt nhận diện cho giáo viên xem lại tuần này "
                        f"(tuần trước {before:.0%}).", round(now, 4))


def _doubled(rows, this: dt.date, schools: dict[int, str], factor: float, floor: int = 20):
    """(school id, last week's share, this week's share) where this week's share of (total, part) rows is at least
    `factor` times last week's, each week with at least `floor` in total and last week's part above 0."""
    sums: dict[tuple[int, bool], list[int]] = {}
    for sid, day, total, part in rows:
        s = sums.setdefault((sid, day >= this), [0, 0])
        s[0], s[1] = s[0] + total, s[1] + part
    for sid in schools:
        (n0, k0), (n1, k1) = sums.get((sid, False), [0, 0]), sums.get((sid, True), [0, 0])
        if n0 >= floor and n1 >= floor and k0 > 0 and (k1 / n1) >= factor * (k0 / n0):
            yield sid, k0 / n0, k1 / n1


def _classes(session: Session, th: dict, today: dt.date):
    if "class_attendance_below" not in th:
        return
    d = AttendanceDaily
    limit = th["class_attendance_below"] / 100
    for row, code in session.execute(select(d, SchoolClass.code).join(SchoolClass, SchoolClass.id == d.class_id)
                                     .where(d.day == today, d.total >= 5)):
        rate = row.attended / row.total
        if row.unfinalised == 0 and rate < limit:
            yield Condition("class_attendance_below", row.school_id, f"class:{row.class_id}",
                            f"class_attendance_below:{row.class_id}:{today}",
                            f"Lớp {code}: chuyên cần {rate:.0%} ngày {today:%d/%m/%Y}.", round(rate, 4))


def _unfinalised(session: Session, th: dict, today: dt.date, schools):
    if "period_not_finalised" not in th:
        return
    names = {s.id: s.name for s in schools}
    d = IocSchoolDaily
    for sid, day, n in session.execute(select(d.school_id, d.day, d.unfinalised).where(
            d.day >= today - dt.timedelta(days=7), d.day < today, d.unfinalised >= th["period_not_finalised"])):
        if sid in names:
            yield Condition("period_not_finalised", sid, f"school:{sid}", f"period_not_finalised:{sid}:{day}",
                            f"{names[sid]}: {n} lượt học sinh chưa chốt điểm danh ngày {day:%d/%m/%Y}.", n)


def _students(session: Session, th: dict, year: str, only: set[int] | None):
    if only is not None and not only:
        return
    st = IocStudentState
    low = min([th[c] for c in ("student_absent_30", "student_absent_40", "student_absent_45") if c in th] or [1e9])
    q = select(st, Student.full_name).join(Student, Student.id == st.student_id).where(
        (st.absent >= low) | (st.streak_days >= th.get("dropout_streak", 1e9)) | (st.recent_absent >= 4))
    rows = []
    if only is None:
        rows = session.execute(q).all()
    else:
        ids = sorted(only)
        for i in range(0, len(ids), 500):
            rows += session.execute(q.where(st.student_id.in_(ids[i:i + 500]))).all()
    for s, name in rows:
        for code in ("student_absent_30", "student_absent_40", "student_absent_45"):
            if code in th and s.absent >= th[code]:
                yield Condition(code, s.school_id, f"student:{s.student_id}", f"{code}:{s.student_id}:{year}",
                                f"Học sinh {name} đã vắng {s.absent} buổi (mức {th[code]:g}).", s.absent)
        if "dropout_streak" in th and s.streak_days >= th["dropout_streak"]:
            yield Condition("dropout_streak", s.school_id, f"student:{s.student_id}",
                            f"dropout_streak:{s.student_id}:{year}",
                            f"Học sinh {name} vắng {s.streak_days} ngày học liên tục.", s.streak_days)
        if ("dropout_rising" in th and s.recent_absent >= 4
                and s.recent_absent >= th["dropout_rising"] * s.prior_absent and s.last_day is not None):
            yield Condition("dropout_rising", s.school_id, f"student:{s.student_id}",
                            f"dropout_rising:{s.student_id}:{monday(s.last_day)}",
                            f"Học sinh {name}: {s.recent_absent} buổi vắng trong 10 ngày gần nhất "
                            f"(10 ngày trước: {s.prior_absent}).", s.recent_absent)


def evaluate(session: Session, settings: Settings, ioc: IocSettings, today: dt.date, year: str,
             now: dt.datetime | None = None, students: set[int] | None = None) -> dict[str, int]:
    """Open new alerts, refresh the open ones, resolve recurring ones whose condition cleared (caller commits).

    `students`: judge the student rules for these students only (None: all)."""
    now = now or utcnow()
    local = now.astimezone(ZoneInfo(settings.timezone))
    rules = ensure_rules(session)
    th = {c: r.threshold for c, r in rules.items() if r.enabled}
    schools = list(session.scalars(select(School).where(School.active)))
    found: dict[str, Condition] = {}
    for gen in (_edge(session, th, ioc, now, local, schools), _review(session, th, today, schools),
                _classes(session, th, today), _unfinalised(session, th, today, schools),
                _students(session, th, year, students)):
        for c in gen:
            found[c.key] = c
    live = {a.open_key: a for a in session.scalars(select(IocAlert).where(IocAlert.open_key.is_not(None)))}
    one_off = [k for k, c in found.items() if not BY_CODE[c.rule].recurring and k not in live]
    once: set[str] = set()
    for i in range(0, len(one_off), 500):
        once |= set(session.scalars(select(IocAlert.dedup_key).where(IocAlert.dedup_key.in_(one_off[i:i + 500]))))
    counts = {"opened": 0, "resolved": 0, "open": 0}
    changed = 0
    for key, c in found.items():
        alert = live.get(key)
        if alert is not None:  # still there: write only what changed (thousands of open alerts, every run)
            if alert.value != c.value:
                alert.value = c.value
                changed += 1
            if (now - alert.last_seen_at).total_seconds() > SEEN_EVERY_S:
                alert.last_seen_at = now
            continue
        if key in once:
            continue  # a one-off condition (a student crossing a level) alerts once, even after it was resolved
        alert = IocAlert(rule_code=c.rule, school_id=c.school_id, subject=c.subject, dedup_key=key, open_key=key,
                         state="open", message=c.message[:500], value=c.value, opened_at=now, last_seen_at=now)
        session.add(alert)
        session.flush()
        audit(session, None, "ioc.alert.open", f"alert:{alert.id}", {"rule": c.rule, "subject": c.subject},
              actor_name=SYSTEM)
        webhook.enqueue(session, ioc, alert, "opened", now)
        counts["opened"] += 1
    for key, alert in live.items():
        if key not in found and BY_CODE.get(alert.rule_code) is not None and BY_CODE[alert.rule_code].recurring:
            alert.state, alert.open_key, alert.resolved_at, alert.resolved_by = "resolved", None, now, SYSTEM
            audit(session, None, "ioc.alert.resolve", f"alert:{alert.id}", {"auto": True}, actor_name=SYSTEM)
            webhook.enqueue(session, ioc, alert, "resolved", now)
            counts["resolved"] += 1
    if counts["opened"] or counts["resolved"] or changed:
        touch(session, ALERTS_STAMP)
    session.flush()
    counts["open"] = session.scalar(select(func.count()).select_from(IocAlert).where(
        IocAlert.open_key.is_not(None))) or 0
    return counts
