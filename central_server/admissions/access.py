"""Which staff member sees which admission application: every scope decision of the admissions staff pages.

* `province_admin`, `province_staff`: every application; only they import scores, assign candidate numbers and
  inspect runs; only the province admin uploads plans and runs, publishes and reruns allocations.
* `school_admin`: the applications that concern their school: an aspiration (NV) or a specialised class of their
  school, or their school's name or code written as the applicant's lower-secondary school (a multi-level
  THCS&THPT school).
  A plan names a school by its `code`; it is the school of the masterdata school whose MOET code (`schools.code`)
  equals that `code` or the plan school's `moet_code`.
* `teacher` (and anyone else): no application.
"""

from __future__ import annotations

from fastapi import HTTPException
from sqlalchemy import String, cast, false, func, or_, select
from sqlalchemy.orm import Session

from central_server.core.tables import User
from central_server.masterdata.tables import School

from .tables import AdmApplication, AdmPlan

PROVINCE = ("province_admin", "province_staff")
REVIEWER_ROLES = (*PROVINCE, "school_admin")
FORBIDDEN = "Hồ sơ này không thuộc trường của bạn."


def _school(session: Session, user: User) -> School | None:
    return session.get(School, user.school_id) if user.school_id is not None else None


def school_codes(session: Session, school: School) -> set[str]:
    """Every plan code (schools and their specialised classes, in any stored plan) that means this school."""
    codes = {school.code}
    for document in session.scalars(select(AdmPlan.document)):
        for s in (document or {}).get("schools", []):
            if school.code in (s.get("code"), s.get("moet_code")):
                codes.add(s["code"])
                codes.update(c["code"] for c in s.get("specialised_classes", []))
    return codes


def _like_token(code: str) -> str:
    return '%"' + code.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + '"%'


def scope_filter(session: Session, user: User):
    """A WHERE clause for the applications `user` may see (None: every one)."""
    if user.role in PROVINCE:
        return None
    school = _school(session, user) if user.role == "school_admin" else None
    if school is None:
        return false()
    conds = [func.trim(AdmApplication.lower_secondary).in_(sorted({school.name, school.code}))]
    for code in sorted(school_codes(session, school)):
        pattern = _like_token(code)
        conds.append(cast(AdmApplication.aspirations, String).like(pattern, escape="\\"))
        conds.append(cast(AdmApplication.specialised, String).like(pattern, escape="\\"))
    return or_(*conds)


def may_see(session: Session, user: User, app: AdmApplication) -> bool:
    if user.role in PROVINCE:
        return True
    school = _school(session, user) if user.role == "school_admin" else None
    if school is None:
        return False
    if (app.lower_secondary or "").strip() in (school.name, school.code):
        return True
    return bool((set(app.aspirations or []) | set(app.specialised or [])) & school_codes(session, school))


def check_application(session: Session, user: User, app: AdmApplication) -> AdmApplication:
    if not may_see(session, user, app):
        raise HTTPException(403, FORBIDDEN)
    return app
