"""One typed settings object for the central server (environment prefix ``CENTRAL_``, optional ``.env``)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from central_server.core.clock import DEFAULT_TIMEZONE


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CENTRAL_", env_file=".env", env_file_encoding="utf-8",
                                      extra="ignore")

    # "production" refuses to start with any default secret (core/secrets_check.py); "development" warns.
    environment: Literal["development", "production"] = "development"

    # database: SQLite by default (WAL), PostgreSQL in production
    database_url: str = "sqlite:///./var/central.sqlite3"
    db_echo: bool = False
    # Which modules of central_server.app.MODULES to load (None = all that exist).
    modules: list[str] | None = None

    # web
    title: str = "Hệ thống giáo dục số — Sở GD&ĐT"
    timezone: str = DEFAULT_TIMEZONE
    session_cookie_name: str = "cs_session"
    session_ttl_minutes: int = Field(default=8 * 60, ge=5)
    api_token_ttl_minutes: int = Field(default=60, ge=1)
    cookie_secure: bool = False  # set true behind TLS
    csrf_cookie_name: str = "cs_csrf"  # anonymous visitors' CSRF secret (signed-in people: the session cookie)
    max_upload_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)

    # /metrics (core/metrics.py): Prometheus scrapes from these networks (client address after the trusted-proxy
    # rule; empty list = any address) with `Authorization: Bearer <metrics_token>` when a token is set. In
    # production the endpoint answers 403 until a token is set.
    metrics_token: SecretStr | None = Field(default=None, min_length=24)
    metrics_networks: list[str] = ["127.0.0.0/8", "::1/128"]

    # Reverse proxies whose X-Forwarded-For / -Proto are believed (addresses or CIDRs, e.g. ["127.0.0.1"] when
    # nginx on the same host is the only way in). Empty: the TCP peer is the client, whatever headers it sends.
    trusted_proxies: list[str] = []

    # sign-in throttling (core/auth.py): failures of one account from one client lock that pair for
    # `lockout_minutes`; failures from one client across all accounts block that client; an account failing
    # from many clients (a distributed guess) is locked for everyone only at the much higher
    # `account_lockout_threshold`. Every refusal gives the same answer as a wrong password.
    lockout_threshold: int = Field(default=5, ge=1)
    lockout_minutes: int = Field(default=15, ge=1)
    client_failure_limit: int = Field(default=20, ge=1)
    account_lockout_threshold: int = Field(default=100, ge=1)

    # password hashing (argon2id); the defaults follow argon2-cffi's RFC 9106 low-memory profile
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)

    # logging
    log_level: str = "INFO"
    log_json: bool = True

    # attendance rules (Circular 22/2021 Art. 12: > 45 buổi, P and K both count)
    absence_warning_levels: list[int] = [30, 40]
    absence_limit_sessions: int = Field(default=45, ge=1)
    periods_per_session: int = Field(default=5, ge=1, le=10)  # periods 1..5 morning, 6..10 afternoon
    session_absent_fraction: float = Field(default=1.0, gt=0.0, le=1.0)  # share of marked periods missed
    term2_start_month_day: str = "01-15"  # default start of semester II when no school-year row exists
    year_start_month: int = Field(default=8, ge=1, le=12)  # a school year starts in August by default
    edge_offline_after_minutes: int = Field(default=10, ge=1)

    @field_validator("metrics_networks")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        for net in v:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError as exc:
                raise ValueError(f"metrics_networks: {net!r} is not an address or CIDR network") from exc
        return v

    @field_validator("absence_warning_levels")
    @classmethod
    def _sorted_levels(cls, v: list[int]) -> list[int]:
        if any(x <= 0 for x in v):
            raise ValueError("warning levels must be positive numbers of buổi")
        return sorted(set(v))


@lru_cache
def get_settings() -> Settings:
    return Settings()
