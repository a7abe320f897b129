"""Admissions tables: versioned plans, applications with evidence, exam scores, allocation runs, and the
precomputed results-lookup rows that serve publication day."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from central_server.core.db import Base, UTCDateTime, utcnow


class AdmPlan(Base):
    __tablename__ = "adm_plans"
    __table_args__ = (UniqueConstraint("year", "version", name="uq_adm_plans_year_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year: Mapped[int] = mapped_column(Integer, index=True)
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")


class AdmApplication(Base):
    __tablename__ = "adm_applications"
    __table_args__ = (UniqueConstraint("year", "personal_id", name="uq_adm_applications_year_pid"),
                      UniqueConstraint("year", "candidate_no", name="uq_adm_applications_year_cno"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year: Mapped[int] = mapped_column(Integer, index=True)
    personal_id: Mapped[str] = mapped_column(String(12))
    candidate_no: Mapped[str | None] = mapped_column(String(16), nullable=True)
    full_name: Mapped[str] = mapped_column(String(120))
    dob: Mapped[dt.date] = mapped_column(Date)
    gender: Mapped[str] = mapped_column(String(8), default="")
    ethnicity: Mapped[str] = mapped_column(String(40), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    lower_secondary: Mapped[str] = mapped_column(String(200), default="")
    commune: Mapped[str] = mapped_column(String(10), default="")
    residence_months: Mapped[int] = mapped_column(Integer, default=0)
    priority: Mapped[list[str]] = mapped_column(JSON, default=list)
    prizes: Mapped[list[str]] = mapped_column(JSON, default=list)
    direct_group: Mapped[str] = mapped_column(String(40), default="")
    dtnt_request: Mapped[bool] = mapped_column(Boolean, default=False)
    aspirations: Mapped[list[str]] = mapped_column(JSON, default=list)
    specialised: Mapped[list[str]] = mapped_column(JSON, default=list)
    channel: Mapped[str] = mapped_column(String(16), default="online")  # online | assisted
    edit_secret_hash: Mapped[str] = mapped_column(String(64))
    receipt_code: Mapped[str] = mapped_column(String(32), unique=True)
    review: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # item -> {"ok": bool, "by", "at", "note"}
    specialised_declined: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    edits: Mapped[int] = mapped_column(Integer, default=0)


class AdmEvidence(Base):
    __tablename__ = "adm_evidence"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("adm_applications.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # priority | prize | direct | dtnt
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AdmScore(Base):
    __tablename__ = "adm_scores"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("adm_applications.id", ondelete="CASCADE"), unique=True)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)  # paper code -> float | None (absent)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    remarked: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AdmRun(Base):
    __tablename__ = "adm_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year: Mapped[int] = mapped_column(Integer, index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("adm_plans.id"))
    kind: Mapped[str] = mapped_column(String(16), default="main")  # main | supplementary
    mode: Mapped[str] = mapped_column(String(24), default="rule")
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft | published
    base_run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cutoffs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ties: Mapped[list[Any]] = mapped_column(JSON, default=list)


class AdmResult(Base):
    __tablename__ = "adm_results"
    __table_args__ = (Index("ix_adm_results_run_unit", "run_id", "unit"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("adm_runs.id", ondelete="CASCADE"), index=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("adm_applications.id", ondelete="CASCADE"))
    unit: Mapped[str] = mapped_column(String(40), default="")  # "" = not admitted
    school: Mapped[str] = mapped_column(String(40), default="")
    stage: Mapped[str] = mapped_column(String(16), default="")
    aspiration: Mapped[int] = mapped_column(Integer, default=0)
    score: Mapped[float] = mapped_column(Float)
    excluded: Mapped[str] = mapped_column(String(40), default="")


class AdmLookup(Base):
    """One row per candidate of the published results: everything the public page shows, precomputed."""

    __tablename__ = "adm_lookup"
    __table_args__ = (UniqueConstraint("year", "candidate_no", name="uq_adm_lookup_year_cno"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    candidate_no: Mapped[str] = mapped_column(String(16))
    pid_hash: Mapped[str] = mapped_column(String(64))
    dob: Mapped[dt.date] = mapped_column(Date)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    run_id: Mapped[int] = mapped_column(Integer)
    published_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
