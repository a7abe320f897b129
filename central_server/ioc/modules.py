"""Indicators of the other modules (admissions, library, signatures): small counts on their own tables,
computed by the job at each full refresh (never on a page request).

Not recorded by the library, so not shown: searches (a search writes no row; see the README).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central_server.admissions.tables import AdmApplication, AdmPlan, AdmRun
from central_server.library.tables import LibraryItem, LibrarySearch, LibraryUsage
from central_server.signature.tables import SignatureDocument, SignatureVersion

Tiles = dict[str, tuple[float | None, dict | None]]
WAITING = ("draft", "locked", "verified", "principal_signed")


def admissions(session: Session, today: dt.date, tz: ZoneInfo) -> Tiles:
    year = session.scalar(select(func.max(AdmApplication.year)))
    if year is None:
        return {"adm_applications": (0, None), "adm_today": (0, None), "adm_results_published": (0, None)}
    a = AdmApplication
    start = dt.datetime.combine(today - dt.timedelta(days=13), dt.time(0), tz)
    per_day: Counter[str] = Counter()
    for created in session.scalars(select(a.created_at).where(a.year == year, a.created_at >= start)):
        per_day[created.astimezone(tz).date().isoformat()] += 1
    first: Counter[str] = Counter()
    by_aspiration: dict[str, Counter[int]] = defaultdict(Counter)
    for aspirations in session.scalars(select(a.aspirations).where(a.year == year)):
        for k, code in enumerate(aspirations or []):
            by_aspiration[code][k + 1] += 1
        if aspirations:
            first[aspirations[0]] += 1
    plan = session.scalars(select(AdmPlan).where(AdmPlan.year == year, AdmPlan.active)).first()
    quotas = {s.get("code"): s.get("quota") for s in (plan.document.get("schools", []) if plan else [])}
    ratios = {code: {"nv": dict(by_aspiration[code]), "quota": quotas.get(code),
                     "ratio_nv1": (first[code] / quotas[code]) if quotas.get(code) else None}
              for code in sorted(set(by_aspiration) | set(quotas))}
    total = session.scalar(select(func.count()).select_from(a).where(a.year == year)) or 0
    published = session.scalar(select(func.count()).select_from(AdmRun).where(
        AdmRun.year == year, AdmRun.status == "published")) or 0
    return {"adm_applications": (total, {"year": year, "per_day": dict(sorted(per_day.items())), "schools": ratios}),
            "adm_today": (per_day.get(today.isoformat(), 0), None),
            "adm_results_published": (published, {"year": year})}


def library(session: Session) -> tuple[Tiles, dict[int, Tiles]]:
    published = dict(session.execute(select(LibraryItem.school_id, func.count()).where(
        LibraryItem.status == "published").group_by(LibraryItem.school_id)).all())
    usage: dict[tuple[int | None, str], int] = {(r[0], r[1]): r[2] for r in session.execute(
        select(LibraryUsage.school_id, LibraryUsage.kind, func.count()).group_by(LibraryUsage.school_id,
                                                                                 LibraryUsage.kind))}
    searches = dict(session.execute(select(LibrarySearch.school_id, func.count()).group_by(
        LibrarySearch.school_id)).all())  # by the searcher's school (None: signed out or province staff)
    province = {"lib_published": (sum(published.values()), None),
                "lib_views": (sum(v for (_, k), v in usage.items() if k == "view"), None),
                "lib_downloads": (sum(v for (_, k), v in usage.items() if k == "download"), None),
                "lib_searches": (sum(searches.values()), None)}
    schools: dict[int, Tiles] = defaultdict(dict)
    for sid, n in published.items():
        if sid is not None:
            schools[sid]["lib_published"] = (n, None)
    for (sid, kind), n in usage.items():
        if sid is not None and kind in ("view", "download"):
            schools[sid][f"lib_{kind}s"] = (n, None)
    for sid, n in searches.items():
        if sid is not None:
            schools[sid]["lib_searches"] = (n, None)
    return province, schools


def signatures(session: Session) -> tuple[Tiles, dict[int, Tiles]]:
    d, v = SignatureDocument, SignatureVersion
    rows = session.execute(select(d.school_id, d.kind, v.status, func.count()).join(
        v, (v.document_id == d.id) & (v.version == d.current_version)).group_by(d.school_id, d.kind, v.status)).all()
    completed: Counter[int | None] = Counter()
    waiting: Counter[int | None] = Counter()
    att_total = att_done = 0
    for school_id, kind, status, n in rows:
        if status == "completed":
            completed[school_id] += n
        elif status in WAITING:
            waiting[school_id] += n
        if kind == "attendance" and status != "superseded":
            att_total += n
            att_done += n if status == "completed" else 0
    province = {"sig_completed": (sum(completed.values()), None), "sig_waiting": (sum(waiting.values()), None),
                "target_signed_share": ((att_done / att_total) if att_total else None,
                                        {"signed": att_done, "documents": att_total})}
    schools: dict[int, Tiles] = defaultdict(dict)
    for sid in set(completed) | set(waiting):
        if sid is not None:
            schools[sid]["sig_completed"] = (completed[sid], None)
            schools[sid]["sig_waiting"] = (waiting[sid], None)
    return province, schools
