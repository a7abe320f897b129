"""Request and response models of the IOC APIs (the internal one and the city IOC's `/api/ioc/v1`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TrendPoint(BaseModel):
    week: dt.date
    value: float | None


class TileOut(BaseModel):
    key: str
    label: str
    fmt: str
    group: str
    value: float | None
    detail: dict[str, Any] | None = None
    changed_at: dt.datetime = Field(description="when the value last changed")
    updated_at: dt.datetime = Field(description="when it was last computed")
    trend: list[TrendPoint]


class GridSchool(BaseModel):
    id: int
    code: str
    name: str
    state: str = Field(description="green | amber | red | grey")
    rate_day: float | None
    rate_week: float | None
    students: float | None
    absent_30: float | None
    edge: str
    open_alerts: int


class CameraOut(BaseModel):
    camera_id: str | None
    fps: float | None
    online: bool | None
    face_tracks: int | None = Field(default=None, description="the camera's latest face tracks counted for "
                                    "the placement check (none from agents that do not count them)")
    small_face_share: float | None = Field(default=None, description="share of those tracks whose face never grew "
                                           "wider than 60 px (hardware/README.md section 3)")
    faces_too_small: bool = Field(default=False, description="more than half of at least 30 tracks: the camera "
                                  "is hung too far from where students pass")


class DecisionsOut(BaseModel):
    day: dt.date = Field(description="the school's local day the counts are of (today's only)")
    since: dt.datetime = Field(description="counted since (the day's start, or the agent's start that day)")
    accepted: int = Field(description="tracks the camera named a student")
    review: int = Field(description="tracks sent to the teacher's review (a candidate, not sure enough)")
    unknown: int = Field(description="tracks of nobody enrolled (or too unclear to name anyone)")
    review_share: float | None = Field(description="review / (accepted + review)")


class FleetOut(BaseModel):
    school_id: int
    code: str
    name: str
    state: str = Field(description="online | offline | unknown")
    last_seen_at: dt.datetime | None
    outbox_backlog: int | None
    outbox_oldest_age_s: float | None
    cameras: list[CameraOut]
    gallery_version: str | None
    model_versions: dict[str, str]
    agent_version: str | None
    decisions_today: DecisionsOut | None = Field(
        default=None, description="today's camera decisions from the latest heartbeat (none before today's first)")


class OverviewOut(BaseModel):
    scope: str
    last_day: str | None
    tiles: list[TileOut]
    schools: list[GridSchool]


class ClassOut(BaseModel):
    id: int
    code: str
    grade: int | None
    students: int
    rate_week: float | None
    p_rate_week: float | None
    k_rate_week: float | None


class SchoolOut(BaseModel):
    id: int
    code: str
    name: str
    last_day: str | None
    tiles: list[TileOut]
    fleet: FleetOut
    classes: list[ClassOut]


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    rule_code: str
    school_id: int | None
    subject: str
    state: str
    message: str
    value: float | None
    opened_at: dt.datetime
    last_seen_at: dt.datetime
    ack_by: str
    ack_note: str
    ack_at: dt.datetime | None
    resolved_at: dt.datetime | None
    resolved_by: str


class AckIn(BaseModel):
    note: str = Field(min_length=1, max_length=1000)


class ResolveIn(BaseModel):
    note: str = Field(default="", max_length=1000)


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    label: str
    threshold: float
    unit: str
    enabled: bool
    updated_by: str
    updated_at: dt.datetime


class RuleIn(BaseModel):
    threshold: float
    enabled: bool = True


class PublicOut(BaseModel):
    min_cell: int
    province: dict[str, Any] = Field(description="values by key; `suppressed`: keys hidden (< min_cell)")
    schools: list[dict[str, Any]]
