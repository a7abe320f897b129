"""Allocation runs over the database: build the engine's input, store and inspect a run, publish it
(precomputing every candidate's lookup row), and the audited supplementary round after re-marking."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from central_server.core.audit import audit
from central_server.core.db import utcnow

from .allocation import AllocationResult, allocate
from .config import AdmissionsSettings
from .deferred import deferred_acceptance
from .plan import AdmissionPlan, parse_plan
from .scoring import Applicant, Scorer
from .service import AdmissionsError, pid_hash
from .tables import AdmApplication, AdmLookup, AdmPlan, AdmResult, AdmRun, AdmScore

STAGE_VI = {"direct": "Tuyển thẳng", "specialised": "Lớp chuyên", "regular": "Nguyện vọng"}
EXCLUDED_VI = {"cancelled": "Bị hủy kết quả thi", "missing_paper": "Thiếu bài thi",
               "zero_paper": "Có bài thi bị điểm 0", "below_min_total": "Chưa đạt điểm tối thiểu"}


def _ok(app: AdmApplication, item: str) -> bool:
    return bool((app.review or {}).get(item, {}).get("ok"))


def engine_input(session: Session, plan: AdmissionPlan) -> tuple[list[Applicant], dict[str, AdmApplication]]:
    """Applicants as the engine sees them. Bonus points, direct admission and DTNT eligibility count only
    after a reviewer signed them off; candidates without scores are treated as absent."""
    scores = {s.application_id: s for s in session.scalars(select(AdmScore))}
    out, by_key = [], {}
    for app in session.scalars(select(AdmApplication).where(AdmApplication.year == plan.year)
                               .order_by(AdmApplication.id)):
        key = app.candidate_no or f"app{app.id}"
        sc = scores.get(app.id)
        out.append(Applicant(
            key, dict(sc.scores) if sc else {}, tuple(app.aspirations or ()), tuple(app.specialised or ()),
            tuple(app.priority or ()) if _ok(app, "priority") else (),
            tuple(app.prizes or ()) if _ok(app, "prizes") else (),
            bool(sc.cancelled) if sc else False,
            app.direct_group or None if _ok(app, "direct") else None,
            _ok(app, "dtnt"), app.ethnicity, {}))
        by_key[key] = app
    return out, by_key


def run_allocation(session: Session, actor, plan_row: AdmPlan, mode: str = "rule") -> AdmRun:
    plan = parse_plan(plan_row.document)
    pool, by_key = engine_input(session, plan)
    declined = [k for k, a in by_key.items() if a.specialised_declined]
    fn = deferred_acceptance if mode == "deferred_acceptance" else allocate
    res = fn(plan, pool, specialised_declined=declined)
    run = AdmRun(year=plan.year, plan_id=plan_row.id, mode=res.mode, created_by=actor.username,
                 summary=_summary(res, len(pool)), cutoffs=res.cutoffs and {u: {str(k): v for k, v in c.items()}
                                                                         for u, c in res.cutoffs.items()},
                 ties=[asdict(t) for t in res.ties])
    session.add(run)
    session.flush()
    _store_results(session, run, res, pool, by_key)
    audit(session, actor, "admissions.run", f"adm_run:{run.id}", {"mode": res.mode, **run.summary})
    return run


def _summary(res: AllocationResult, n: int) -> dict:
    return {"applicants": n, "admitted": len(res.admissions), "excluded": len(res.excluded), "ties": len(res.ties)}


def _store_results(session, run, res: AllocationResult, pool, by_key) -> None:
    rows = []
    for a in pool:
        adm = res.admissions.get(a.id)
        rows.append({"run_id": run.id, "application_id": by_key[a.id].id, "unit": adm.unit if adm else "",
                     "school": adm.school if adm else "", "stage": adm.stage if adm else "",
                     "aspiration": adm.aspiration if adm else 0, "score": res.scores[a.id],
                     "excluded": res.excluded.get(a.id, "")[:40]})
    if rows:
        session.execute(AdmResult.__table__.insert(), rows)


def inspect(session: Session, run: AdmRun, plan: AdmissionPlan) -> list[dict]:
    """Per unit (school or chuyên class): quota, admitted list, cutoff per aspiration, tie decisions."""
    apps = {a.id: a for a in session.scalars(select(AdmApplication).where(AdmApplication.year == run.year))}
    results = session.scalars(select(AdmResult).where(AdmResult.run_id == run.id, AdmResult.unit != "")
                              .order_by(AdmResult.score.desc(), AdmResult.application_id)).all()
    units = [(s.code, s.name, s.quota) for s in plan.schools if s.quota] + \
            [(c.code, c.name, c.quota) for c in plan.specialised_classes()]
    out = []
    for code, name, quota in units:
        admitted = [{"candidate_no": apps[r.application_id].candidate_no, "name": apps[r.application_id].full_name,
                     "score": r.score, "stage": r.stage, "aspiration": r.aspiration}
                    for r in results if r.unit == code]
        out.append({"code": code, "name": name, "quota": quota, "admitted": admitted,
                    "cutoffs": (run.cutoffs or {}).get(code, {}),
                    "ties": [t for t in run.ties if t["unit"] == code]})
    return out


def publish(session: Session, settings: AdmissionsSettings, actor, run: AdmRun, now: dt.datetime) -> int:
    """Publish a run at (or after) the plan's publication time: precompute every candidate's lookup row."""
    plan = parse_plan(session.get(AdmPlan, run.plan_id).document)
    if now < plan.dates.publication:
        raise AdmissionsError(f"Chưa đến thời điểm công bố ({plan.dates.publication:%d/%m/%Y %H:%M}).")
    if run.kind == "main" and session.scalar(select(AdmRun.id).where(
            AdmRun.year == run.year, AdmRun.kind == "main", AdmRun.status == "published")):
        raise AdmissionsError("Kết quả chính thức đã được công bố; dùng đợt xét tuyển bổ sung.")
    run.status, run.published_at = "published", utcnow()
    count = _rebuild_lookup(session, settings, plan, run.year)
    audit(session, actor, "admissions.publish", f"adm_run:{run.id}", {"candidates": count})
    return count


def _rebuild_lookup(session: Session, settings: AdmissionsSettings, plan: AdmissionPlan, year: int) -> int:
    """The lookup rows reflect the main published run plus every published supplementary round."""
    runs = session.scalars(select(AdmRun).where(AdmRun.year == year, AdmRun.status == "published")
                           .order_by(AdmRun.id)).all()
    final: dict[int, AdmResult] = {}
    for r in runs:
        for res in session.scalars(select(AdmResult).where(AdmResult.run_id == r.id)):
            if r.kind == "main" or res.unit:
                final[res.application_id] = res
    names = {s.code: s.name for s in plan.schools} | {c.code: c.name for c in plan.specialised_classes()}
    scores = {s.application_id: s for s in session.scalars(select(AdmScore))}
    session.execute(delete(AdmLookup).where(AdmLookup.year == year))
    rows = []
    for app in session.scalars(select(AdmApplication).where(AdmApplication.year == year,
                                                            AdmApplication.candidate_no.is_not(None))):
        res = final.get(app.id)
        if res is None:
            continue
        sc = scores.get(app.id)
        papers = [{"name": s.name, "score": (sc.scores.get(s.code) if sc else None)} for s in plan.subjects]
        reason = res.excluded.split(":")[0]
        rows.append({"year": year, "candidate_no": app.candidate_no, "pid_hash": pid_hash(settings, app.personal_id),
                     "dob": app.dob, "run_id": res.run_id, "published_at": utcnow(), "payload": {
                         "candidate_no": app.candidate_no, "name": app.full_name, "papers": papers,
                         "total": res.score, "admitted": bool(res.unit), "school": names.get(res.unit, ""),
                         "stage": STAGE_VI.get(res.stage, ""), "aspiration": res.aspiration,
                         "excluded": EXCLUDED_VI.get(reason, "") if res.excluded else ""}})
    if rows:
        session.execute(AdmLookup.__table__.insert(), rows)
    return len(rows)


def supplementary(session: Session, settings: AdmissionsSettings, actor, base: AdmRun) -> AdmRun:
    """After re-marking: candidates not admitted in the published results whose new score now reaches the
    published cutoff (or floor) of one of their aspirations are admitted there, in aspiration order.
    Published admissions are never moved; the round is stored as its own run and audited."""
    if base.status != "published" or base.kind != "main":
        raise AdmissionsError("Chỉ xét bổ sung sau khi kết quả chính thức đã công bố.")
    plan_row = session.get(AdmPlan, base.plan_id)
    plan = parse_plan(plan_row.document)
    pool, by_key = engine_input(session, plan)
    published = {r.application_id: r for r in session.scalars(select(AdmResult).where(AdmResult.run_id == base.id))}
    for r in session.scalars(select(AdmResult).join(AdmRun, AdmRun.id == AdmResult.run_id).where(
            AdmRun.year == base.year, AdmRun.kind == "supplementary", AdmRun.status == "published",
            AdmResult.unit != "")):
        published[r.application_id] = r
    fresh = allocate(plan, pool)  # the same engine: eligibility and floors as in the main round
    scorer = Scorer(plan)
    cut = {u: {int(k): v for k, v in c.items()} for u, c in (base.cutoffs or {}).items()}
    run = AdmRun(year=base.year, plan_id=base.plan_id, kind="supplementary", mode="rule", base_run_id=base.id,
                 created_by=actor.username, cutoffs=base.cutoffs, ties=[])
    session.add(run)
    session.flush()
    rows, changes = [], []
    for a in pool:
        app = by_key[a.id]
        old = published.get(app.id)
        if old is None or old.unit or a.id in fresh.excluded:
            continue
        new_score = scorer(a).total / 100
        if new_score <= old.score:
            continue
        for k, school in enumerate(a.aspirations, start=1):
            need = cut.get(school, {}).get(k)
            if need is None:
                need = (fresh.floors.get(school) or {}).get(k)
            if need is not None and new_score >= need:
                rows.append({"run_id": run.id, "application_id": app.id, "unit": school, "school": school,
                             "stage": "regular", "aspiration": k, "score": new_score, "excluded": ""})
                changes.append({"candidate_no": a.id, "school": school, "aspiration": k,
                                "old": old.score, "new": new_score})
                break
    if rows:
        session.execute(AdmResult.__table__.insert(), rows)
    run.summary = {"admitted": len(rows), "changes": changes}
    audit(session, actor, "admissions.supplementary", f"adm_run:{run.id}", run.summary)
    return run
