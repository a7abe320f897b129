"""Request and response models of the master-data API."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field, field_validator

SCHOOL_YEAR = r"^\d{4}-\d{4}$"


def check_school_year(value: str) -> str:
    first, second = value.split("-")
    if int(second) != int(first) + 1 or not 2000 <= int(first) <= 2100:
        raise ValueError("năm học phải có dạng 2025-2026")
    return value


class SchoolIn(BaseModel):
    code: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$", description="Mã trường (MOET)")
    name: str = Field(min_length=2, max_length=200)
    level: str = Field(default="THPT", pattern=r"^(THPT|THCS|TH|MN|GDTX)$")
    province_code: str = Field(default="92", pattern=r"^\d{2}$")
    former_province_code: str | None = Field(default="94", pattern=r"^\d{2}$")
    commune_code: str | None = Field(default=None, pattern=r"^\d{5}$")


class SchoolOut(BaseModel):
    id: int
    code: str
    name: str
    level: str
    province_code: str
    former_province_code: str | None


class ClassOut(BaseModel):
    id: int
    school_id: int
    school_year: str
    code: str
    grade: int | None
    students: int


class StudentOut(BaseModel):
    id: int
    personal_id: str
    moet_code: str | None
    full_name: str
    birth_date: dt.date | None
    gender: str
    status: str
    school_id: int
    class_id: int | None


class EnrolmentOut(BaseModel):
    school_id: int
    class_id: int | None
    province_code: str
    started_on: dt.date
    ended_on: dt.date | None


class StudentDetail(StudentOut):
    enrolments: list[EnrolmentOut]


class TeacherIn(BaseModel):
    staff_code: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    full_name: str = Field(min_length=2, max_length=200)
    user_id: int | None = None
    class_ids: list[int] = Field(default_factory=list, max_length=100)


class TeacherOut(BaseModel):
    id: int
    school_id: int
    staff_code: str
    full_name: str
    user_id: int | None


class PreviewRowOut(BaseModel):
    row_number: int
    kind: str
    personal_id: str
    full_name: str
    class_code: str
    errors: list[str]
    changes: dict[str, list]
    from_school: str | None
    from_class: str | None


class ImportPreviewOut(BaseModel):
    batch_id: int
    school_id: int
    school_year: str
    summary: dict[str, int]
    rows: list[PreviewRowOut]


class TeacherPreviewRowOut(BaseModel):
    row_number: int
    kind: str
    personal_id: str
    full_name: str
    staff_code: str
    subject: str
    errors: list[str]
    changes: dict[str, list]
    from_school: str | None


class TeacherImportPreviewOut(BaseModel):
    batch_id: int
    school_id: int
    summary: dict[str, int]
    rows: list[TeacherPreviewRowOut]


class ImportApplyOut(BaseModel):
    batch_id: int
    summary: dict[str, int]


class SchoolYearParam(BaseModel):
    school_year: str = Field(pattern=SCHOOL_YEAR)

    @field_validator("school_year")
    @classmethod
    def _year(cls, v: str) -> str:
        return check_school_year(v)
