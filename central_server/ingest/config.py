"""Typed settings of the ingest worker (environment prefix ``CENTRAL_INGEST_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class IngestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CENTRAL_INGEST_", env_file=".env", env_file_encoding="utf-8",
                                      extra="ignore")

    database_url: str | None = None       # defaults to the central server's CENTRAL_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = "central-ingest"
    password: SecretStr | None = None
    tls_ca: Path | None = None
    client_id: str = "central-ingest"     # stable: the broker keeps the session (and queued events) under it
    shared_group: str | None = None       # set when several workers run: $share/<group>/edu/v1/+/events
    session_expiry_s: int = Field(default=7 * 86400, ge=60)
    receive_maximum: int = Field(default=1000, ge=1, le=65535)
    keepalive_s: int = 30
    batch_max: int = Field(default=500, ge=1)
    batch_wait_s: float = Field(default=0.02, ge=0)
    log_level: str = "WARNING"
    packages_dir: Path = Path("var/packages")  # gallery / roster / timetable packages served to the schools
