"""Who may see what: province roles see everything, a school admin their school, a teacher their classes."""

from __future__ import annotations

from fastapi import HTTPException
from sqlalchemy import select, union
from sqlalchemy.orm import Session

from central_server.core.tables import User

from .tables import ClassTeacher, School, SchoolClass, Student, Teacher

FORBIDDEN = "Bạn không có quyền xem dữ liệu này."


def visible_school_ids(session: Session, user: User) -> set[int] | None:
    """None = every school."""
    if user.is_province:
        return None
    return {user.school_id} if user.school_id is not None else set()


def visible_class_ids(session: Session, user: User) -> set[int] | None:
    """None = every class of the visible schools (province roles and school admins)."""
    if user.role != "teacher":
        return None
    taught = (select(ClassTeacher.class_id).join(Teacher, Teacher.id == ClassTeacher.teacher_id)
              .where(Teacher.user_id == user.id))
    homeroom = (select(SchoolClass.id).join(Teacher, Teacher.id == SchoolClass.homeroom_teacher_id)
                .where(Teacher.user_id == user.id))
    rows = session.execute(union(taught, homeroom)).scalars().all()
    # a teacher only ever sees classes of their own school
    if not rows:
        return set()
    own = session.execute(select(SchoolClass.id).where(SchoolClass.id.in_(rows),
                                                       SchoolClass.school_id == user.school_id)).scalars()
    return set(own)


def get_school(session: Session, user: User, school_id: int) -> School:
    school = session.get(School, school_id)
    if school is None:
        raise HTTPException(404, "Không tìm thấy trường.")
    schools = visible_school_ids(session, user)
    if schools is not None and school_id not in schools:
        raise HTTPException(403, FORBIDDEN)
    if user.role == "teacher":
        pass  # a teacher may open their school's page; its contents are filtered to their classes
    return school


def get_class(session: Session, user: User, class_id: int) -> SchoolClass:
    klass = session.get(SchoolClass, class_id)
    if klass is None:
        raise HTTPException(404, "Không tìm thấy lớp.")
    schools = visible_school_ids(session, user)
    if schools is not None and klass.school_id not in schools:
        raise HTTPException(403, FORBIDDEN)
    classes = visible_class_ids(session, user)
    if classes is not None and class_id not in classes:
        raise HTTPException(403, FORBIDDEN)
    return klass


def get_student(session: Session, user: User, student_id: int) -> Student:
    student = session.get(Student, student_id)
    if student is None:
        raise HTTPException(404, "Không tìm thấy học sinh.")
    schools = visible_school_ids(session, user)
    if schools is not None and student.school_id not in schools:
        raise HTTPException(403, FORBIDDEN)
    classes = visible_class_ids(session, user)
    if classes is not None and student.class_id not in classes:
        raise HTTPException(403, FORBIDDEN)
    return student


TRANSFER_REFUSED = ("Số định danh này thuộc một trường khác. Chuyển trường do Sở thực hiện, hoặc sau khi trường "
                    "đang quản lý ghi trạng thái 'Chuyển đi' cho học sinh.")
TEACHER_TRANSFER_REFUSED = "Số định danh này thuộc giáo viên của một trường khác. Chuyển trường do Sở thực hiện."


def may_take_from_other_school(user: User, released: bool) -> bool:
    """May `user` move a person held by another school into their own? The province admin may; a receiving
    school may only once the releasing school has released the person (a leaving status it recorded itself).
    Until then a school sees nothing of the other school's record (no name, gender or school)."""
    return user.role == "province_admin" or released


def can_manage_school(user: User, school_id: int) -> bool:
    """Writes to a school's master data: the province admin, or that school's admin."""
    return user.role == "province_admin" or (user.role == "school_admin" and user.school_id == school_id)
