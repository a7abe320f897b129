"""Request and response models of the library API (kept apart from the handlers)."""

from __future__ import annotations

import datetime as dt
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .vocab import KINDS, LANGUAGES, LICENCES, MATERIAL_TYPES, SUBJECTS

_W3CDTF = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def _one_of(value: str, allowed: dict, what: str) -> str:
    if value not in allowed:
        raise ValueError(f"{what} không hợp lệ: {value!r}; chọn một trong: {', '.join(allowed)}")
    return value


def _clean_list(values: list[str]) -> list[str]:
    return [v.strip() for v in values if v and v.strip()]


class ItemIn(BaseModel):
    """Metadata of an item: Dublin Core's 15 elements (type/format/identifier derived) + education fields."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    kind: str = "material"
    title: str = Field(min_length=1, max_length=500)
    creators: list[str] = Field(default_factory=list, max_length=50)
    keywords: list[str] = Field(default_factory=list, max_length=50)
    description: str = Field(default="", max_length=20_000)
    publisher: str = Field(default="", max_length=300)
    contributors: list[str] = Field(default_factory=list, max_length=50)
    date_issued: str = ""
    source: str = Field(default="", max_length=500)
    relation: str = Field(default="", max_length=500)
    coverage: str = Field(default="", max_length=300)
    rights: str = Field(default="", max_length=5_000)
    language: str = "vi"
    subject_code: str = "khac"
    grade: int | None = Field(default=None, ge=10, le=12)
    topic: str = Field(default="", max_length=300)
    material_type: str = "tai-lieu-tham-khao"
    licence: str = "all-rights-reserved"
    national_id: str = Field(default="", max_length=100)
    national_url: str = Field(default="", max_length=500)
    isbn: str = Field(default="", max_length=32)
    ddc: str = Field(default="", max_length=32)
    edition: str = Field(default="", max_length=100)
    extent: str = Field(default="", max_length=200)
    call_number: str = Field(default="", max_length=64)
    copies: int | None = Field(default=None, ge=0)

    _lists = field_validator("creators", "keywords", "contributors")(_clean_list)

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        return _one_of(v, KINDS, "Loại")

    @field_validator("language")
    @classmethod
    def _language(cls, v: str) -> str:
        return _one_of(v, LANGUAGES, "Ngôn ngữ")

    @field_validator("subject_code")
    @classmethod
    def _subject(cls, v: str) -> str:
        return _one_of(v, SUBJECTS, "Môn học")

    @field_validator("material_type")
    @classmethod
    def _type(cls, v: str) -> str:
        return _one_of(v, MATERIAL_TYPES, "Loại học liệu")

    @field_validator("licence")
    @classmethod
    def _licence(cls, v: str) -> str:
        return _one_of(v, LICENCES, "Giấy phép")

    @field_validator("date_issued")
    @classmethod
    def _date(cls, v: str) -> str:
        if v and not _W3CDTF.match(v):
            raise ValueError("Ngày phát hành phải có dạng YYYY, YYYY-MM hoặc YYYY-MM-DD")
        return v

    @field_validator("national_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v and not v.startswith(("https://", "http://")):
            raise ValueError("Đường dẫn kho quốc gia phải bắt đầu bằng http:// hoặc https://")
        return v


class ActionIn(BaseModel):
    action: str
    comment: str = Field(default="", max_length=5_000)


class ItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    status: str
    title: str
    creators: list[str]
    keywords: list[str]
    description: str
    publisher: str
    contributors: list[str]
    date_issued: str
    source: str
    relation: str
    coverage: str
    rights: str
    language: str
    subject_code: str
    grade: int | None
    topic: str
    material_type: str
    licence: str
    school_id: int | None
    school_name: str
    national_id: str
    national_url: str
    isbn: str
    ddc: str
    edition: str
    extent: str
    call_number: str
    copies: int | None
    file_sha256: str | None
    reviewer_name: str
    review_comment: str
    reviewed_at: dt.datetime | None
    published_at: dt.datetime | None
    withdrawn_at: dt.datetime | None
    withdrawal_reason: str
    created_at: dt.datetime
    updated_at: dt.datetime


class FileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    sha256: str
    size: int
    mime: str
    original_name: str
    ingest_state: str
    ingest_error: str
    pages: int | None
    thumb_sha256: str | None


class SearchOut(BaseModel):
    items: list[ItemOut]
    total: int
    page: int
    per_page: int
    pages: int


class MarcImportOut(BaseModel):
    imported: int
    item_ids: list[int]
