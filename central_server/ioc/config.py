"""Typed settings of the operations centre (environment prefix CENTRAL_IOC_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IocSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CENTRAL_IOC_", env_file=".env", extra="ignore")

    # the incremental job (folds new attendance facts into the aggregate tables) inside the web process
    run_job: bool = True
    job_interval_s: float = Field(default=1.0, gt=0)
    full_refresh_s: float = Field(default=30.0, gt=0)   # time-relative tiles, master-data and module counts
    batch_rows: int = Field(default=20_000, ge=100)      # history rows folded per transaction
    gap_ttl_s: float = Field(default=300.0, gt=0)       # how long an id skipped by the watermark is watched
    trend_weeks: int = Field(default=8, ge=2, le=52)

    # school hours (local time) for the "edge offline" alert
    school_hours_start: str = "06:30"
    school_hours_end: str = "17:30"
    school_weekdays: list[int] = [0, 1, 2, 3, 4, 5]      # Monday..Saturday

    # outgoing webhook for alerts (e-mail / chat integrations plug in behind it)
    webhook_url: str | None = None
    webhook_secret: str = "change-me-ioc-webhook"
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    webhook_max_attempts: int = Field(default=8, ge=1)
    webhook_backoff_s: float = Field(default=2.0, gt=0)   # 2, 4, 8 ... seconds, capped below
    webhook_backoff_max_s: float = Field(default=600.0, gt=0)

    # the city IOC's read-only API
    api_rate_per_minute: int = Field(default=120, ge=1)

    # public view: counts of 1..4 students are suppressed, rates over fewer than 5 students too
    public_min_cell: int = Field(default=5, ge=1)

    # the plan's 2025 targets (Decision 131/QĐ-TTg; province plan), shares 0..1
    target_face_attendance_share: float = Field(default=1.0, ge=0, le=1)
    target_signed_share: float = Field(default=1.0, ge=0, le=1)
    target_digital_records_share: float = Field(default=1.0, ge=0, le=1)
