"""Status messages: the retained heartbeat and the last will."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, ValidationError

from edge_agent.protocol.base import (
    SCHEMA_VERSION,
    ProtocolError,
    SchoolCode,
    ShortText,
    StrictModel,
    short_errors,
)
from edge_agent.protocol.signing import loads_strict


# ---------------------------------------------------------------- status (heartbeat, last will)
class CameraStatus(StrictModel):
    camera_id: ShortText
    fps: float = Field(ge=0)
    online: bool = True
    last_frame_at: dt.datetime | None = None


class RecognitionCounts(StrictModel):
    """The cameras' track decisions on one local school day, counted since `since` (the day's start, or the
    agent's start when it started later that day): the operations centre's share sent to review."""

    day: dt.date
    since: dt.datetime
    accepted: int = Field(ge=0)
    review: int = Field(ge=0)
    unknown: int = Field(ge=0)


class Heartbeat(StrictModel):
    schema_version: Literal[1] = SCHEMA_VERSION
    state: Literal["online"] = "online"
    school: SchoolCode
    sent_at: dt.datetime
    agent_version: str = ""
    cameras: list[CameraStatus] = []
    outbox_backlog: int = Field(ge=0)
    outbox_oldest_age_s: float | None = None
    outbox_alerts: list[str] = []          # e.g. "backlog 120000 > 100000" — never a silent drop
    last_puback_at: dt.datetime | None = None
    # the outbox rows the broker took (PUBACK) that the central server has not acknowledged for a while: the
    # ingest worker answers with an `events.ack` saying which of them the central database holds
    unacked_from: int | None = Field(default=None, ge=1)
    unacked_to: int | None = Field(default=None, ge=1)
    gallery_version: str | None = None
    roster_version: str | None = None
    timetable_version: str | None = None
    model_versions: dict[str, str] = {}
    cpu_load_1m: float | None = None
    disk_free_bytes: int | None = None
    recognitions: RecognitionCounts | None = None


class Offline(StrictModel):
    """Retained last will on the status topic: the broker publishes it when the agent vanishes."""

    schema_version: Literal[1] = SCHEMA_VERSION
    state: Literal["offline"] = "offline"
    school: SchoolCode


def parse_status(data: bytes) -> Heartbeat | Offline:
    obj = loads_strict(data)
    try:
        if isinstance(obj, dict) and obj.get("state") == "offline":
            return Offline.model_validate(obj)
        return Heartbeat.model_validate(obj)
    except ValidationError as exc:
        raise ProtocolError("schema", short_errors(exc)) from None
