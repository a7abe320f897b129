"""Master-data tables. Other modules reference `schools.id`, `classes.id`, `students.id`, `teachers.id`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from central_server.core.db import Base, UTCDateTime, utcnow


class Province(Base):
    """Province codes as data: 94 Sóc Trăng (until 30 Jun 2025), 92 Cần Thơ (from 1 Jul 2025, incl. Sóc Trăng)."""

    __tablename__ = "provinces"

    code: Mapped[str] = mapped_column(String(2), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    valid_from: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    valid_to: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    replaced_by: Mapped[str | None] = mapped_column(String(2), nullable=True)


class School(Base):
    __tablename__ = "schools"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The MOET school code (mã trường); also the school's login on the broker / `school` in events.
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16), default="THPT")
    province_code: Mapped[str] = mapped_column(ForeignKey("provinces.code"), default="92")
    former_province_code: Mapped[str | None] = mapped_column(ForeignKey("provinces.code"), nullable=True)
    commune_code: Mapped[str | None] = mapped_column(String(5), nullable=True)
    address: Mapped[str] = mapped_column(String(300), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class SchoolClass(Base):
    __tablename__ = "classes"
    __table_args__ = (UniqueConstraint("school_id", "school_year", "code", name="uq_classes_school_year_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), index=True)
    school_year: Mapped[str] = mapped_column(String(9))  # "2025-2026"
    code: Mapped[str] = mapped_column(String(32))       # Mã lớp, e.g. "10A1"
    grade: Mapped[int | None] = mapped_column(Integer, nullable=True)
    homeroom_teacher_id: Mapped[int | None] = mapped_column(ForeignKey("teachers.id", ondelete="SET NULL"),
                                                            nullable=True)


class Teacher(Base):
    __tablename__ = "teachers"
    __table_args__ = (UniqueConstraint("school_id", "staff_code", name="uq_teachers_school_staff_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), index=True)
    staff_code: Mapped[str] = mapped_column(String(64))  # the `teacher_id` edge events carry
    full_name: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True,
                                                unique=True)
    # from the MOET staff export (moet_teachers.py); a teacher recorded by hand may have no personal id yet
    personal_id: Mapped[str | None] = mapped_column(String(12), nullable=True, unique=True, index=True)
    birth_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    gender: Mapped[str] = mapped_column(String(8), default="", server_default="")
    subject: Mapped[str] = mapped_column(String(100), default="", server_default="")  # Môn dạy
    email: Mapped[str] = mapped_column(String(254), default="", server_default="")
    phone: Mapped[str] = mapped_column(String(20), default="", server_default="")


class ClassTeacher(Base):
    """A teacher teaches (or is homeroom teacher of) a class: the classes a `teacher` account may see."""

    __tablename__ = "class_teachers"

    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"), primary_key=True)
    teacher_id: Mapped[int] = mapped_column(ForeignKey("teachers.id", ondelete="CASCADE"), primary_key=True)


class Student(Base):
    __tablename__ = "students"
    __table_args__ = (CheckConstraint("length(personal_id) = 12", name="personal_id_len"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    personal_id: Mapped[str] = mapped_column(String(12), unique=True)  # số định danh cá nhân (12 digits)
    moet_code: Mapped[str | None] = mapped_column(String(32), nullable=True)  # Mã học sinh
    full_name: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    gender: Mapped[str] = mapped_column(String(8), default="")
    ethnicity: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(64), default="Đang học")
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    class_id: Mapped[int | None] = mapped_column(ForeignKey("classes.id", ondelete="SET NULL"), nullable=True,
                                                 index=True)


class Enrolment(Base):
    """Where a student was, from when to when, under which province code (historic 94 stays 94)."""

    __tablename__ = "student_enrolments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    class_id: Mapped[int | None] = mapped_column(ForeignKey("classes.id", ondelete="SET NULL"), nullable=True)
    province_code: Mapped[str] = mapped_column(ForeignKey("provinces.code"))
    started_on: Mapped[dt.date] = mapped_column(Date)
    ended_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)


class ImportBatch(Base):
    """An uploaded MOET Excel file (students or teachers): previewed first, applied on confirmation."""

    __tablename__ = "masterdata_import_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), index=True)
    school_year: Mapped[str] = mapped_column(String(9))
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    kind: Mapped[str] = mapped_column(String(16), default="students", server_default="students")  # | teachers
    status: Mapped[str] = mapped_column(String(16), default="previewed")  # previewed | applied
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    applied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


PROVINCE_ROWS = [
    {"code": "94", "name": "Sóc Trăng", "valid_from": None, "valid_to": dt.date(2025, 6, 30), "replaced_by": "92"},
    {"code": "92", "name": "Cần Thơ", "valid_from": None, "valid_to": None, "replaced_by": None},
]


@event.listens_for(Province.__table__, "after_create")
def _seed_provinces(target, connection, **_kw) -> None:
    """`create_all` seeds the province codes the same way the migration does."""
    connection.execute(target.insert(), PROVINCE_ROWS)
