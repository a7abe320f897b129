"""Request / response models of the signature API (kept apart from the handlers)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from central_server.core.params import ROW_ID_MAX

# a table cell / an information line: longer text is refused with 422 (pdf_render.py also clips what reaches it)
Cell = Annotated[str, Field(max_length=500)]
Line = Annotated[str, Field(max_length=300)]


class DocumentIn(BaseModel):
    kind: str = Field(pattern="^(attendance|record)$")
    title: str = Field(min_length=3, max_length=300)
    school_name: str = Field(min_length=2, max_length=200)
    school_id: int | None = Field(default=None, ge=1, le=ROW_ID_MAX)
    class_id: int | None = Field(default=None, ge=1, le=ROW_ID_MAX, description="the record's class (kind record)")
    info_lines: list[Line] = Field(default_factory=list, max_length=20)
    columns: list[Cell] = Field(min_length=1, max_length=20)
    rows: list[list[Cell]] = Field(max_length=2000)


class CellEdit(BaseModel):
    row: int = Field(ge=0)
    col: int = Field(ge=0)
    value: str = Field(max_length=200)


class EditIn(BaseModel):
    edits: list[CellEdit] = Field(min_length=1, max_length=500)
    reason: str = Field(default="", max_length=500)


class UnlockIn(BaseModel):
    reason: str = Field(min_length=3, max_length=500)


class SignedOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    field_name: str
    signer_cn: str
    cert_serial: str
    method: str
    level: str
    timestamp: dt.datetime | None
    signed_at: dt.datetime


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    version: int
    status: str
    pdf_sha256: str | None
    locked_at: dt.datetime | None
    verified_at: dt.datetime | None
    superseded_at: dt.datetime | None
    signatures: list[SignedOut] = []


class DocumentOut(BaseModel):
    id: str
    kind: str
    title: str
    school_name: str
    current_version: int
    status: str
    content: dict
    versions: list[VersionOut]
    verify_url: str


class ChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    version: int
    action: str
    location: str
    old_value: str | None
    new_value: str | None
    reason: str
    changed_by: int
    changed_at: dt.datetime


class AttendancePeriodIn(BaseModel):
    """A finalised period of a class, from the attendance module."""
    class_id: int = Field(ge=1, le=ROW_ID_MAX)
    day: dt.date
    period: int = Field(ge=1, le=10)
    session: str | None = Field(default=None, pattern="^(morning|afternoon|day)$")


class AttendanceMonthIn(BaseModel):
    """A finalised month of a class (``YYYY-MM``), from the attendance module."""
    class_id: int = Field(ge=1, le=ROW_ID_MAX)
    month: str = Field(pattern=r"^\d{4}-\d{2}$")


class AttendancePreviewOut(BaseModel):
    title: str
    info_lines: list[str]
    columns: list[str]
    rows: list[list[str]]
    source: dict
