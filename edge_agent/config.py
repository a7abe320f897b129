"""One typed settings object for the edge agent: a TOML file (`edge.toml`) overridden by `EDGE_*` environment.

Nested values use a double underscore in the environment, e.g. `EDGE_KIOSK__PORT=8081`.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CameraConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    source: str | int                       # USB index, rtsp://..., or a video file path
    role: Literal["classroom", "gate"] = "classroom"
    room: str | None = None                 # required for a classroom camera
    direction: Literal["in", "out", "both"] = "both"   # gate cameras only
    max_fps: float = Field(default=5.0, gt=0, le=60)   # frames analysed per second at most
    loop: bool = False                      # video files: start again at the end (demo)
    # presentation-attack detection (edge_agent/vision/pad.py), once per track: "off" computes nothing, "report"
    # records the score and changes no decision (the default: the model's scores shift on cameras it was not
    # trained on), "enforce" sends a suspected photo / screen to the teacher's review queue instead (gates)
    pad: Literal["off", "report", "enforce"] = "report"
    pad_threshold: float | None = Field(default=None, gt=0, lt=1)  # this camera's own, from confirmed live tracks

    @model_validator(mode="after")
    def _room_for_classroom(self):
        if self.role == "classroom" and not self.room:
            raise ValueError(f"camera {self.name!r}: a classroom camera needs a room")
        return self


class AttendanceRules(_Strict):
    checkin_before_min: int = Field(default=10, ge=0, le=30)   # window opens before the period starts
    checkin_after_min: int = Field(default=15, ge=1, le=45)    # window closes after the period starts
    late_grace_min: int = Field(default=5, ge=0, le=45)        # seen after start + grace => late
    flag_unfinalised_after_min: int = Field(default=5, ge=0, le=24 * 60)
    review_crop_days: int = Field(default=7, ge=0, le=90)
    review_crop_px: int = Field(default=96, ge=32, le=256)
    reopen_window_min: int = Field(default=30, ge=0, le=24 * 60)   # the finalising teacher may reopen this long

    @model_validator(mode="after")
    def _grace_inside_window(self):
        if self.late_grace_min > self.checkin_after_min:
            raise ValueError("late_grace_min must lie inside the check-in window (<= checkin_after_min)")
        return self


class BellConfig(_Strict):
    morning_start: time = time(7, 0)
    afternoon_start: time = time(13, 30)
    period_minutes: int = Field(default=45, ge=35, le=50)
    break_minutes: int = Field(default=5, ge=0, le=30)
    long_break_after: int = Field(default=2, ge=1, le=6)
    long_break_minutes: int = Field(default=20, ge=0, le=45)
    morning_periods: int = Field(default=5, ge=0, le=5)
    afternoon_periods: int = Field(default=5, ge=0, le=5)


class PathsConfig(_Strict):
    data_dir: Path = Path("var/edge")
    keys_dir: Path = Path("var/edge/keys")
    database: Path | None = None            # default: <data_dir>/school.sqlite3
    health_file: Path | None = None         # default: <data_dir>/health.json
    gallery: Path | None = None             # default: <data_dir>/gallery.npz
    thresholds: Path | None = None          # default: edge_agent/recognition/thresholds.toml

    @property
    def db_path(self) -> Path:
        return self.database or self.data_dir / "school.sqlite3"

    @property
    def health_path(self) -> Path:
        return self.health_file or self.data_dir / "health.json"

    @property
    def gallery_path(self) -> Path:
        return self.gallery or self.data_dir / "gallery.npz"


class BrokerConfig(_Strict):
    enabled: bool = True                    # off: events wait in the outbox (e.g. a demo without a broker)
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    tls: bool = False
    ca_file: Path | None = None
    username: str | None = None
    password: SecretStr | None = None


class CentralConfig(_Strict):
    """The central server, for down-sync of gallery / roster / timetable packages (HTTPS, signed requests)."""

    url: str | None = None                  # e.g. https://edu.cantho.example; unset: packages are not fetched
    ca_file: Path | None = None             # pilot CA of the central server's certificate


class KioskConfig(_Strict):
    """The teacher kiosk. Threat model (README, security): it serves the school LAN only; anyone on that LAN may
    reach it, so it binds one configured interface (loopback by default), speaks TLS itself (`ssl_certfile` +
    `ssl_keyfile`) or sits behind a documented TLS reverse proxy (`behind_proxy`, with the proxy's address in
    `trusted_proxies`), throttles wrong PINs per teacher and per client, and lets a teacher act on their own
    lessons only."""

    host: str = "127.0.0.1"                 # the school LAN interface's address, e.g. 192.168.10.5
    port: int = Field(default=8080, ge=1, le=65535)
    enabled: bool = True
    session_minutes: int = Field(default=120, ge=5, le=24 * 60)
    pin_max_failures: int = Field(default=5, ge=1, le=20)
    lockout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    client_max_failures: int = Field(default=10, ge=1, le=100)   # wrong sign-ins from one client, any teacher
    client_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    behind_proxy: bool = False              # a TLS reverse proxy on this box forwards to host:port
    trusted_proxies: list[str] = Field(default_factory=list)   # X-Forwarded-For is read only from these

    @model_validator(mode="after")
    def _lan_only_with_tls(self):
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("kiosk: ssl_certfile and ssl_keyfile go together")
        if self.host in ("0.0.0.0", "::", ""):
            raise ValueError("kiosk: bind the school LAN interface's address, not every interface (0.0.0.0)")
        loopback = self.host in ("127.0.0.1", "::1", "localhost")
        if not loopback and self.ssl_certfile is None and not self.behind_proxy:
            raise ValueError(f"kiosk: host {self.host} is reachable from the LAN: set ssl_certfile and ssl_keyfile,"
                             " or put a TLS reverse proxy in front (behind_proxy = true, host = 127.0.0.1)")
        return self

    @property
    def tls(self) -> bool:
        return self.ssl_certfile is not None


class MetricsConfig(_Strict):
    """Prometheus metrics of the agent (edge_agent/metrics.py) on their own port, beside the kiosk. Loopback by
    default: to let the province's Prometheus scrape, set `host` to the box's address on the school/ops VPN and
    allow only the Prometheus host through the firewall (the endpoint has no login; it holds counts, no names)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=9108, ge=1, le=65535)


class CpuConfig(_Strict):
    budget_cores: float = Field(default=1.5, gt=0, le=64)   # average CPU the pipeline may use, in cores
    threads: int = Field(default=1, ge=1, le=16)            # inference threads


class RecognitionConfig(_Strict):
    """Which embedder the school runs (chosen per province or school) and how a track is decided."""

    embedder: Literal["mfn", "sface", "fusion"] = "mfn"  # MobileFaceNet, SFace, or both fused
    set_decision: bool = True               # set-to-set matching over a track (recognition/track_decision.py)
    learning: bool = True                   # learn from sightings a teacher confirmed (recognition/learning.py)
    max_learned: int = Field(default=5, ge=0, le=20)  # learned templates per student (K)


class EdgeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDGE_", env_nested_delimiter="__", extra="forbid")

    school_code: str = Field(pattern=r"^[A-Za-z0-9_-]{2,20}$")
    school_name: str = ""
    timezone: str = "Asia/Ho_Chi_Minh"
    cameras: list[CameraConfig] = Field(default_factory=list)
    attendance: AttendanceRules = Field(default_factory=AttendanceRules)
    bells: BellConfig = Field(default_factory=BellConfig)
    paths: PathsConfig = Field(default_factory=PathsConfig)
    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    central: CentralConfig = Field(default_factory=CentralConfig)
    kiosk: KioskConfig = Field(default_factory=KioskConfig)
    cpu: CpuConfig = Field(default_factory=CpuConfig)
    recognition: RecognitionConfig = Field(default_factory=RecognitionConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _unique_cameras(self):
        names = [c.name for c in self.cameras]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"camera names must be unique: {', '.join(dupes)}")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource):
        sources: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
        if settings_cls.model_config.get("toml_file"):
            sources += (TomlConfigSettingsSource(settings_cls),)
        return sources


def load_settings(path: str | Path | None = None, **overrides) -> EdgeSettings:
    """Settings from `path` (TOML) + environment + keyword overrides; relative paths are kept relative to the file."""
    if path is None:
        try:
            return EdgeSettings(**overrides)
        except ValidationError as exc:
            raise ConfigError(_explain("environment", exc)) from exc
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: không tìm thấy tệp cấu hình (configuration file not found); "
                          "tạo bằng `edge-agent init --school MÃ_TRƯỜNG`")
    bound = type("EdgeSettingsFromFile", (EdgeSettings,),
                 {"model_config": {**EdgeSettings.model_config, "toml_file": path}})
    try:
        settings = bound(**overrides)
    except ValidationError as exc:
        raise ConfigError(_explain(str(path), exc)) from exc
    except ValueError as exc:       # TOML syntax errors surface as ValueError subclasses
        raise ConfigError(f"{path}: tệp cấu hình sai cú pháp (invalid TOML): {exc}") from exc
    _rebase(settings.paths, path.parent)
    return settings


def _rebase(paths: PathsConfig, base: Path) -> None:
    for name in ("data_dir", "keys_dir", "database", "health_file", "gallery", "thresholds"):
        value = getattr(paths, name)
        if value is not None and not value.is_absolute():
            setattr(paths, name, (base / value).resolve())


def _explain(where: str, exc: ValidationError) -> str:
    lines = [f"{where}: invalid configuration"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  {loc}: {err['msg']}")
    return "\n".join(lines)

