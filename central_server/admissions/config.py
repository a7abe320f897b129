"""Admissions settings (environment prefix CENTRAL_ADMISSIONS_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AdmissionsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CENTRAL_ADMISSIONS_", env_file=".env", extra="ignore")

    max_evidence_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    max_evidence_files: int = Field(default=6, ge=1)
    evidence_types: list[str] = ["application/pdf", "image/jpeg", "image/png"]
    # results lookup: per-client limits (per worker process), identical answers for every failure
    lookup_per_minute: int = Field(default=30, ge=1)
    lookup_failures_per_hour: int = Field(default=10, ge=1)
    cache_refresh_seconds: float = Field(default=5.0, ge=0.0)
    public_base_url: str = "http://127.0.0.1:8000"
    # Keyed hash of personal ids in the lookup table; the server refuses to start in production with this default.
    pid_pepper: str = "change-me-admissions-pepper"
    # wrong edit codes (public "sửa hồ sơ" / receipt): per client and per personal id, in a sliding window
    edit_failures_per_client: int = Field(default=10, ge=1)
    edit_failures_per_application: int = Field(default=5, ge=1)
    edit_failure_window_minutes: int = Field(default=30, ge=1)
