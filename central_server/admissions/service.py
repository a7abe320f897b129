"""Admissions logic without HTTP: plan versions, applications (online and assisted), evidence, review
sign-off, candidate numbers, score import and application ratios."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central_server.core import throttle
from central_server.core.audit import audit
from central_server.core.db import utcnow

from .config import AdmissionsSettings
from .plan import AdmissionPlan, PlanError, parse_plan
from .schemas import ApplicationForm
from .scores_import import Preview
from .tables import AdmApplication, AdmEvidence, AdmPlan, AdmScore

MAGIC = {"application/pdf": (b"%PDF-",), "image/jpeg": (b"\xff\xd8\xff",), "image/png": (b"\x89PNG\r\n\x1a\n",)}
EVIDENCE_KINDS = ("priority", "prize", "direct", "dtnt")


class AdmissionsError(ValueError):
    """A refused request; `messages` are shown to the person (Vietnamese)."""

    def __init__(self, messages: list[str] | str):
        self.messages = [messages] if isinstance(messages, str) else messages
        super().__init__("; ".join(self.messages))


# ---- plans ------------------------------------------------------------------------------------------
def third_subject_history(session: Session, year: int) -> dict[int, str]:
    out = {}
    for row in session.scalars(select(AdmPlan).where(AdmPlan.active.is_(True), AdmPlan.year < year)):
        third = parse_plan(row.document).third_subject
        if third:
            out[row.year] = third
    return out


def save_plan(session: Session, actor, document: dict, activate: bool = True, note: str = "") -> AdmPlan:
    """Validate and store a new version of a year's plan (the previous versions stay); audited."""
    year = document.get("year") if isinstance(document, dict) else None
    history = third_subject_history(session, year) if isinstance(year, int) else {}
    plan = parse_plan(document, history=history)
    version = (session.scalar(select(func.max(AdmPlan.version)).where(AdmPlan.year == plan.year)) or 0) + 1
    if activate:
        for old in session.scalars(select(AdmPlan).where(AdmPlan.year == plan.year, AdmPlan.active.is_(True))):
            old.active = False
    row = AdmPlan(year=plan.year, version=version, document=plan.model_dump(mode="json"), active=activate,
                  created_by=getattr(actor, "username", ""), note=note)
    session.add(row)
    session.flush()
    audit(session, actor, "admissions.plan.save", f"adm_plan:{row.id}", {"year": plan.year, "version": version})
    return row


def active_plan(session: Session, year: int | None = None) -> tuple[AdmPlan, AdmissionPlan]:
    q = select(AdmPlan).where(AdmPlan.active.is_(True))
    if year is not None:
        q = q.where(AdmPlan.year == year)
    row = session.scalars(q.order_by(AdmPlan.year.desc(), AdmPlan.version.desc())).first()
    if row is None:
        raise AdmissionsError("Chưa có kế hoạch tuyển sinh.")
    return row, parse_plan(row.document)


def window(plan: AdmissionPlan, now: dt.datetime) -> str:
    d = plan.dates
    if d.registration_open <= now <= d.registration_close:
        return "registration"
    if d.change_open <= now <= d.change_close:
        return "change"
    if now >= d.publication:
        return "published"
    if now < d.registration_open:
        return "before"
    return "closed"


# ---- applications ---------------------------------------------------------------------------------
def _digest(secret: str) -> str:
    return hashlib.sha256(_normal_code(secret).encode()).hexdigest()


def pid_hash(settings: AdmissionsSettings, pid: str) -> str:
    return hmac.new(settings.pid_pepper.encode(), pid.encode(), hashlib.sha256).hexdigest()


def check_file(settings: AdmissionsSettings, filename: str, content_type: str, data: bytes) -> str | None:
    """Why an uploaded evidence file is refused (Vietnamese), or None. The content is sniffed, not trusted."""
    if not data:
        return f"Tệp '{filename}' rỗng."
    if len(data) > settings.max_evidence_bytes:
        return f"Tệp '{filename}' vượt quá {settings.max_evidence_bytes // 1024} KB."
    kind = next((t for t, sigs in MAGIC.items() if t in settings.evidence_types
                 and any(data.startswith(s) for s in sigs)), None)
    if kind is None:
        return f"Tệp '{filename}' không đúng định dạng (chỉ nhận PDF, JPG, PNG)."
    return None


def _evidence(settings, files: list[tuple[str, str, str, bytes]]) -> list[AdmEvidence]:
    if len(files) > settings.max_evidence_files:
        raise AdmissionsError(f"Tối đa {settings.max_evidence_files} tệp minh chứng.")
    errors = [e for f in files if (e := check_file(settings, f[1], f[2], f[3]))]
    errors += [f"Loại minh chứng không hợp lệ: {f[0]}" for f in files if f[0] not in EVIDENCE_KINDS]
    if errors:
        raise AdmissionsError(errors)
    return [AdmEvidence(kind=k, filename=name[:200], content_type=next(t for t, s in MAGIC.items()
                                                                       if any(data.startswith(x) for x in s)),
                        size=len(data), sha256=hashlib.sha256(data).hexdigest(), data=data)
            for k, name, _ct, data in files]


def register(session: Session, settings: AdmissionsSettings, plan: AdmissionPlan, form: ApplicationForm,
             files: list[tuple[str, str, str, bytes]], now: dt.datetime, actor=None, ip: str = ""
             ) -> tuple[AdmApplication, str]:
    """Create an application; returns it and the edit code (shown once). Online registration only in the
    registration window; staff (assisted channel) also until the change window closes."""
    w = window(plan, now)
    if w != "registration" and not (actor is not None and w == "change"):
        raise AdmissionsError("Ngoài thời gian đăng ký tuyển sinh.")
    errors = form.check_against(plan)
    if errors:
        raise AdmissionsError(errors)
    dup = session.scalar(select(AdmApplication.id).where(AdmApplication.year == plan.year,
                                                         AdmApplication.personal_id == form.personal_id))
    if dup:
        raise AdmissionsError("Số định danh này đã có hồ sơ đăng ký. Hãy dùng chức năng sửa hồ sơ.")
    evidence = _evidence(settings, files)
    code = new_edit_code()
    app = AdmApplication(year=plan.year, edit_secret_hash=_digest(code), receipt_code=secrets.token_urlsafe(16),
                         channel="assisted" if actor is not None else "online", review={},
                         **form.model_dump())
    session.add(app)
    session.flush()
    for ev in evidence:
        ev.application_id = app.id
        session.add(ev)
    audit(session, actor, "admissions.application.create", f"adm_application:{app.id}",
          {"channel": app.channel, "files": len(evidence)}, ip=ip, actor_name="applicant")
    return app, code


# Edit codes: 15 symbols of Crockford's base32 (no I, L, O, U), 75 bits, shown in groups of five. Codes issued
# before (8 hex digits) are still accepted: only their hash is stored and the comparison ignores dashes.
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
WRONG_CODE = "Số định danh hoặc mã hồ sơ không đúng."
TOO_MANY = "Bạn đã nhập sai quá nhiều lần. Vui lòng thử lại sau ít phút."


def new_edit_code() -> str:
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(15))
    return "-".join(raw[i:i + 5] for i in range(0, 15, 5))


def _normal_code(code: str) -> str:
    return code.strip().upper().replace("-", "").replace(" ", "")


def applicant_login(session: Session, settings: AdmissionsSettings, year: int, personal_id: str, code: str,
                    ip: str = "") -> AdmApplication:
    """The application for (personal id, edit code), throttled per client and per personal id: failures are
    counted whether or not the application exists (the answer never says which), and committed at once."""
    window = dt.timedelta(minutes=settings.edit_failure_window_minutes)
    pid = personal_id.strip()[:32]
    app_key, client_key = f"{year}|{pid}", ip or "-"
    if (throttle.exceeded(session, "adm_edit_client", client_key, settings.edit_failures_per_client, window)
            or throttle.exceeded(session, "adm_edit_app", app_key, settings.edit_failures_per_application, window)):
        raise AdmissionsError(TOO_MANY)
    app = session.scalars(select(AdmApplication).where(AdmApplication.year == year,
                                                       AdmApplication.personal_id == pid)).first()
    expected = app.edit_secret_hash if app else _digest(secrets.token_hex(8))
    given = _normal_code(code)[:64]
    if not (hmac.compare_digest(expected, _digest(given)) and app is not None):
        throttle.record(session, "adm_edit_client", client_key)
        throttle.record(session, "adm_edit_app", app_key)
        session.commit()
        raise AdmissionsError(WRONG_CODE)
    return app


def update_application(session: Session, settings: AdmissionsSettings, plan: AdmissionPlan, app: AdmApplication,
                       form: ApplicationForm, files, now: dt.datetime, actor=None, ip: str = "") -> AdmApplication:
    if window(plan, now) not in ("registration", "change"):
        raise AdmissionsError("Đã hết thời gian sửa hồ sơ.")
    if form.personal_id != app.personal_id:
        raise AdmissionsError("Không được đổi số định danh cá nhân.")
    errors = form.check_against(plan)
    if errors:
        raise AdmissionsError(errors)
    evidence = _evidence(settings, files)
    before = {"aspirations": list(app.aspirations), "priority": list(app.priority), "prizes": list(app.prizes)}
    for k, v in form.model_dump().items():
        setattr(app, k, v)
    app.updated_at = utcnow()
    app.edits += 1
    app.review = {}  # changed data needs a new sign-off
    for ev in evidence:
        ev.application_id = app.id
        session.add(ev)
    audit(session, actor, "admissions.application.update", f"adm_application:{app.id}",
          {"before": before, "after": {k: getattr(app, k) for k in before}}, ip=ip, actor_name="applicant")
    return app


REVIEW_ITEMS = ("identity", "priority", "prizes", "direct", "dtnt")


def sign_off(session: Session, actor, app: AdmApplication, item: str, ok: bool, note: str = "") -> None:
    if item not in REVIEW_ITEMS:
        raise AdmissionsError("Mục thẩm định không hợp lệ.")
    review = dict(app.review or {})
    review[item] = {"ok": ok, "by": actor.username, "at": utcnow().isoformat(), "note": note[:500]}
    app.review = review
    audit(session, actor, "admissions.application.review", f"adm_application:{app.id}", {item: ok})


def dtnt_check(plan: AdmissionPlan, app: AdmApplication) -> list[str]:
    """The DTNT rules the reviewer confirms (Vietnamese reasons it fails; empty = meets the rules)."""
    rules = plan.dtnt
    if rules is None:
        return ["Kế hoạch năm nay không có tuyển sinh DTNT."]
    problems = []
    minority = app.ethnicity and app.ethnicity != rules.majority_ethnicity
    if not minority and app.ethnicity not in rules.very_small_groups:
        problems.append(f"Dân tộc {rules.majority_ethnicity}: chỉ tuyển tối đa "
                        f"{rules.majority_max_share:.0%} chỉ tiêu (xét trong giới hạn này).")
    if app.ethnicity not in rules.very_small_groups:
        if app.residence_months < rules.min_residence_months:
            problems.append(f"Thường trú {app.residence_months} tháng, cần ít nhất {rules.min_residence_months}.")
        if rules.communes and app.commune not in rules.communes:
            problems.append("Nơi thường trú không thuộc danh sách xã/phường được tuyển.")
    return problems


def assign_candidate_numbers(session: Session, actor, year: int, prefix: str = "") -> int:
    apps = session.scalars(select(AdmApplication).where(AdmApplication.year == year,
                                                        AdmApplication.candidate_no.is_(None))
                           .order_by(AdmApplication.id)).all()
    start = session.scalar(select(func.count()).select_from(AdmApplication).where(
        AdmApplication.year == year, AdmApplication.candidate_no.is_not(None))) or 0
    for i, app in enumerate(apps, start=start + 1):
        app.candidate_no = f"{prefix}{i:06d}"
    audit(session, actor, "admissions.candidate_numbers", f"year:{year}", {"assigned": len(apps)})
    return len(apps)


def commit_scores(session: Session, actor, year: int, preview: Preview, remark: bool = False) -> int:
    """Write a previewed import; refuses any file with errors. `remark`: scores changed by re-marking."""
    if not preview.ok:
        raise AdmissionsError(preview.errors or ["Không có dòng điểm nào."])
    ids = dict(session.execute(select(AdmApplication.candidate_no, AdmApplication.id)
                               .where(AdmApplication.year == year)).all())
    existing = {s.application_id: s for s in session.scalars(
        select(AdmScore).where(AdmScore.application_id.in_(list(ids.values()))))}
    changed = 0
    for r in preview.rows:
        app_id = ids.get(r.candidate_no)
        if app_id is None:
            raise AdmissionsError(f"Dòng {r.row}: số báo danh {r.candidate_no} không có trong danh sách thí sinh")
        row = existing.get(app_id)
        if row is None:
            session.add(AdmScore(application_id=app_id, scores=r.scores, cancelled=r.cancelled, remarked=remark))
            changed += 1
        elif row.scores != r.scores or row.cancelled != r.cancelled:
            audit(session, actor, "admissions.score.change", f"adm_application:{app_id}",
                  {"before": row.scores, "after": r.scores, "remark": remark})
            row.scores, row.cancelled, row.remarked, row.updated_at = r.scores, r.cancelled, remark, utcnow()
            changed += 1
    audit(session, actor, "admissions.scores.import", f"year:{year}", {"rows": len(preview.rows), "changed": changed})
    return changed


def ratios(session: Session, plan: AdmissionPlan) -> list[dict]:
    """Applications per school and aspiration, and the NV1 ratio to the quota (published in the change window)."""
    counts: Counter[tuple[str, int]] = Counter()
    for (asp,) in session.execute(select(AdmApplication.aspirations).where(AdmApplication.year == plan.year)):
        for k, code in enumerate(asp or [], start=1):
            counts[(code, k)] += 1
    out = []
    for s in plan.schools:
        if s.quota == 0:
            continue
        nv = [counts[(s.code, k)] for k in range(1, plan.aspiration_count + 1)]
        out.append({"code": s.code, "name": s.name, "quota": s.quota, "nv": nv,
                    "ratio": round(nv[0] / s.quota, 2) if s.quota else None})
    return out


def load_plan_text(text: str) -> dict:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError([f"JSON không hợp lệ: {exc}"]) from exc
    if not isinstance(doc, dict):
        raise PlanError(["Kế hoạch phải là một đối tượng JSON."])
    return doc
