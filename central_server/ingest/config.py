"""Typed settings of the ingest worker (environment prefix ``CENTRAL_INGEST_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
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
    batch_max_bytes: int = Field(default=2_000_000, ge=1)  # per transaction (~3,500 events of ~550 bytes)
    replay_window_s: float = Field(default=600.0, gt=0)  # a stored event coming again later (no DUP) = replay
    log_level: str = "WARNING"
    # Prometheus counters of this worker process (ingest/metrics.py), served on their own port; unset: none.
    # Several workers on one host need one port each (central-ingest@.service sets 910%i). Loopback by default:
    # open it to the Prometheus host only (bind the ops-network address, firewall the rest).
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    packages_dir: Path = Path("var/packages")  # gallery / roster / timetable packages served to the schools
    # control outbox (central -> edge): the dispatcher runs inside `central-server serve` (control/dispatcher.py)
    control_dispatch: bool = True                               # false: this process does not publish the outbox
    control_poll_s: float = Field(default=2.0, gt=0)            # rows queued by other processes are seen this fast
    control_retry_min_s: float = Field(default=1.0, gt=0)       # back-off after a failed attempt, doubling ...
    control_retry_max_s: float = Field(default=15.0, gt=0, le=45)  # ... up to this (erasure within 60 s of the broker)
    control_timeout_s: float = Field(default=10.0, gt=0)        # broker connection, then PUBACKs
    control_claim_s: float = Field(default=60.0, gt=0)          # a dispatcher that died is replaced after this
    control_batch_max: int = Field(default=500, ge=1)

    @model_validator(mode="after")
    def _control_times(self) -> IngestSettings:
        if self.control_retry_max_s < self.control_retry_min_s:
            raise ValueError("control_retry_max_s must be >= control_retry_min_s")
        if self.control_claim_s <= 2 * self.control_timeout_s + 5:
            raise ValueError("control_claim_s must exceed 2 x control_timeout_s + 5 s (connection + PUBACK waits)")
        return self
