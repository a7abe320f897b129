"""Response models of the attendance API."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel


class SchoolRateOut(BaseModel):
    school_id: int
    code: str
    name: str
    rate_today: float | None
    sessions_today: int
    rate_week: float | None
    edge: str
    not_finalised: int


class OverviewOut(BaseModel):
    day: dt.date
    rate_today: float | None
    schools: list[SchoolRateOut]


class ClassRateOut(BaseModel):
    class_id: int
    code: str
    students: int
    rate_today: float | None
    rate_week: float | None


class SchoolDayOut(BaseModel):
    school_id: int
    day: dt.date
    classes: list[ClassRateOut]
    series: list[tuple[dt.date, float | None]]


class StudentTotalsOut(BaseModel):
    student_id: int
    full_name: str
    class_code: str
    school_id: int
    excused: int
    unexcused: int
    total: int
    warning_level: int | None
    not_eligible: bool


class ClassReportOut(BaseModel):
    class_id: int
    term: str
    start: dt.date
    end: dt.date
    students: list[StudentTotalsOut]


class MarkOut(BaseModel):
    day: dt.date
    session: str
    period: int
    status: str
    stage: str
    source: str


class HistoryOut(BaseModel):
    event_id: str
    day: dt.date
    session: str
    period: int
    status: str
    stage: str
    source: str
    actor: str
    observed_at: dt.datetime
    applied: bool


class StudentReportOut(BaseModel):
    student_id: int
    totals: dict[str, StudentTotalsOut]
    marks: list[MarkOut]
    history: list[HistoryOut]
