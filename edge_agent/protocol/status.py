"""Status messages: the retained heartbeat and the last will."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, ValidationError, model_validator

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
    """One camera. `face_tracks`: its latest face tracks (the agent sends at most its latest 200);
    `small_face_tracks`: how many of them never grew wider than 60 px in the analysed frame (the placement
    rule of hardware/README.md section 3). Both absent from agents that do not count them."""

    camera_id: ShortText
    fps: float = Field(ge=0)
    online: bool = True
    last_frame_at: dt.datetime | None = None
    face_tracks: int | None = Field(default=None, ge=0, le=100_000)
    small_face_tracks: int | None = Field(default=None, ge=0, le=100_000)

    @model_validator(mode="after")
    def _small_within_tracks(self) -> CameraStatus:
        if (self.small_face_tracks is None) != (self.face_tracks is None):
            raise ValueError("face_tracks and small_face_tracks go together")
        if self.face_tracks is not None and self.small_face_tracks > self.face_tracks:
            raise ValueError("small_face_tracks > face_tracks")
        return self


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
