"""Master-data API (`/api/masterdata/...`); the import pages (`/masterdata/import`) are in pages.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from central_server.core.audit import audit
from central_server.core.auth import client_ip, require_roles
from central_server.core.params import RowId as Id
from central_server.core.tables import User
from central_server.core.templating import add_nav
from central_server.core.uploads import off_loop

from . import access, imports, service
from .deps import CurrentUser, DbSession, Manager, current_year, school_year_param
from .pages import router as pages_router
from .schemas import (
    SCHOOL_YEAR,
    ClassOut,
    EnrolmentOut,
    ImportApplyOut,
    ImportPreviewOut,
    PreviewRowOut,
    SchoolIn,
    SchoolOut,
    StudentDetail,
    StudentOut,
    TeacherImportPreviewOut,
    TeacherIn,
    TeacherOut,
    TeacherPreviewRowOut,
)
from .tables import Enrolment, ImportBatch, School, Teacher

router = APIRouter()


def setup(app) -> None:
    add_nav("/masterdata/import", "Nhập dữ liệu", ("province_admin", "school_admin"))


def _school_out(s: School) -> SchoolOut:
    return SchoolOut(id=s.id, code=s.code, name=s.name, level=s.level, province_code=s.province_code,
                     former_province_code=s.former_province_code)


def _student_out(s) -> dict:
    return dict(id=s.id, personal_id=s.personal_id, moet_code=s.moet_code, full_name=s.full_name,
                birth_date=s.birth_date, gender=s.gender, status=s.status, school_id=s.school_id, class_id=s.class_id)


@router.get("/api/masterdata/schools", response_model=list[SchoolOut], tags=["masterdata"])
def api_schools(request: Request, user: CurrentUser, session: DbSession):
    schools = service.list_schools(session, user)
    audit(session, user, "school.list", "schools", {"count": len(schools)}, ip=client_ip(request))
    session.commit()
    return [_school_out(s) for s in schools]


@router.post("/api/masterdata/schools", response_model=SchoolOut, status_code=201, tags=["masterdata"],
             responses={409: {"description": "Mã trường đã tồn tại"}})
def api_create_school(request: Request, body: SchoolIn, session: DbSession,
                      user: Annotated[User, Depends(require_roles("province_admin"))]):
    if session.scalars(select(School).where(School.code == body.code)).first():
        raise HTTPException(409, "Mã trường đã tồn tại.")
    try:
        school = service.create_school(session, body.code, body.name, level=body.level,
                                       province_code=body.province_code,
                                       former_province_code=body.former_province_code,
                                       commune_code=body.commune_code)
    except IntegrityError:
        session.rollback()
        raise HTTPException(422, "Mã tỉnh không tồn tại.") from None
    audit(session, user, "school.create", f"school:{school.id}", body.model_dump(), ip=client_ip(request))
    session.commit()
    return _school_out(school)


@router.get("/api/masterdata/schools/{school_id}", response_model=SchoolOut, tags=["masterdata"])
def api_school(request: Request, school_id: Id, user: CurrentUser, session: DbSession):
    school = access.get_school(session, user, school_id)
    audit(session, user, "school.view", f"school:{school_id}", ip=client_ip(request))
    session.commit()
    return _school_out(school)


@router.get("/api/masterdata/schools/{school_id}/classes", response_model=list[ClassOut], tags=["masterdata"])
def api_classes(request: Request, school_id: Id, user: CurrentUser, session: DbSession):
    access.get_school(session, user, school_id)
    rows = service.list_classes(session, user, school_id)
    audit(session, user, "class.list", f"school:{school_id}", ip=client_ip(request))
    session.commit()
    return [ClassOut(id=c.id, school_id=c.school_id, school_year=c.school_year, code=c.code, grade=c.grade,
                     students=n) for c, n in rows]


@router.get("/api/masterdata/classes/{class_id}/students", response_model=list[StudentOut], tags=["masterdata"])
def api_class_students(request: Request, class_id: Id, user: CurrentUser, session: DbSession):
    access.get_class(session, user, class_id)
    students = service.list_students(session, class_id)
    audit(session, user, "student.list", f"class:{class_id}", {"count": len(students)}, ip=client_ip(request))
    session.commit()
    return [StudentOut(**_student_out(s)) for s in students]


@router.get("/api/masterdata/students/{student_id}", response_model=StudentDetail, tags=["masterdata"])
def api_student(request: Request, student_id: Id, user: CurrentUser, session: DbSession):
    student = access.get_student(session, user, student_id)
    enrolments = session.scalars(select(Enrolment).where(Enrolment.student_id == student_id)
                                 .order_by(Enrolment.started_on)).all()
    audit(session, user, "student.view", f"student:{student_id}", ip=client_ip(request))
    session.commit()
    return StudentDetail(**_student_out(student), enrolments=[
        EnrolmentOut(school_id=e.school_id, class_id=e.class_id, province_code=e.province_code,
                     started_on=e.started_on, ended_on=e.ended_on) for e in enrolments])


@router.post("/api/masterdata/schools/{school_id}/teachers", response_model=TeacherOut, status_code=201,
             tags=["masterdata"])
def api_create_teacher(request: Request, school_id: Id, body: TeacherIn, user: Manager, session: DbSession):
    access.get_school(session, user, school_id)
    if not access.can_manage_school(user, school_id):
        raise HTTPException(403, access.FORBIDDEN)
    for cid in body.class_ids:
        klass = access.get_class(session, user, cid)
        if klass.school_id != school_id:
            raise HTTPException(422, "Lớp không thuộc trường này.")
    account = session.get(User, body.user_id) if body.user_id else None
    if body.user_id and (account is None or account.role != "teacher" or account.school_id != school_id):
        raise HTTPException(422, "Tài khoản giáo viên không hợp lệ.")
    if session.scalars(select(Teacher).where(Teacher.school_id == school_id,
                                             Teacher.staff_code == body.staff_code)).first():
        raise HTTPException(409, "Mã giáo viên đã tồn tại.")
    teacher = service.create_teacher(session, school_id, body.staff_code, body.full_name, account, body.class_ids)
    audit(session, user, "teacher.create", f"teacher:{teacher.id}", {"school_id": school_id}, ip=client_ip(request))
    session.commit()
    return TeacherOut(id=teacher.id, school_id=school_id, staff_code=teacher.staff_code,
                      full_name=teacher.full_name, user_id=teacher.user_id)


@router.post("/api/masterdata/schools/{school_id}/imports", response_model=ImportPreviewOut, tags=["masterdata"],
             responses={413: {"description": "Tệp quá lớn"}, 422: {"description": "Tệp không hợp lệ"}})
async def api_import_preview(request: Request, school_id: Id, user: Manager, session: DbSession,
                             file: Annotated[UploadFile, File()],
                             school_year: Annotated[str, Form(pattern=SCHOOL_YEAR)]):
    """Upload a MOET C1-HocSinh Excel file: nothing is written to the students yet, only a preview."""
    year = school_year_param(school_year)
    school = access.get_school(session, user, school_id)
    data = await imports.read_limited(file, request.app.state.settings.max_upload_bytes)
    batch, rows = await off_loop(imports.create_batch, session, user, school, year, file.filename or "", data,
                                 client_ip(request))
    return ImportPreviewOut(batch_id=batch.id, school_id=school.id, school_year=year, summary=batch.summary,
                            rows=[PreviewRowOut(**r.__dict__) for r in rows])


@router.post("/api/masterdata/schools/{school_id}/teacher-imports", response_model=TeacherImportPreviewOut,
             tags=["masterdata"],
             responses={413: {"description": "Tệp quá lớn"}, 422: {"description": "Tệp không hợp lệ"}})
async def api_teacher_import_preview(request: Request, school_id: Id, user: Manager, session: DbSession,
                                     file: Annotated[UploadFile, File()]):
    """Upload the MOET staff (cán bộ, giáo viên) Excel file of a school: nothing is written yet, only a preview.

    Apply with `POST /api/masterdata/imports/{batch_id}/apply`: it writes the valid rows and skips the invalid."""
    school = access.get_school(session, user, school_id)
    data = await imports.read_limited(file, request.app.state.settings.max_upload_bytes)
    batch, rows = await off_loop(imports.create_batch, session, user, school, current_year(request),
                                 file.filename or "", data, client_ip(request), kind="teachers")
    return TeacherImportPreviewOut(batch_id=batch.id, school_id=school.id, summary=batch.summary,
                                   rows=[TeacherPreviewRowOut(**r.__dict__) for r in rows])


@router.post("/api/masterdata/imports/{batch_id}/apply", response_model=ImportApplyOut, tags=["masterdata"])
def api_import_apply(request: Request, batch_id: Id, user: Manager, session: DbSession):
    """Apply a previewed batch: students all or nothing, teachers the valid rows only."""
    batch = session.get(ImportBatch, batch_id)
    if batch is None:
        raise HTTPException(404, "Không tìm thấy lượt nhập.")
    counts = imports.apply_batch(session, user, batch, client_ip(request))
    return ImportApplyOut(batch_id=batch_id, summary=counts)


router.include_router(pages_router)  # after the API, as the routes were ordered in one file
