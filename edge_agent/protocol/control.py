"""Control messages (central -> edge): packages to fetch, erasures, and acknowledgements of stored events."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from edge_agent.protocol.base import (
    SCHEMA_VERSION,
    ProtocolError,
    SchoolCode,
    ShortText,
    StrictModel,
    StudentId,
    short_errors,
)
from edge_agent.protocol.events import schema_version_of
from edge_agent.protocol.signing import (
    canonical_json,
    loads_strict,
    sign_obj,
    utcnow,
    uuid7,
    verify_obj,
)
from edge_agent.protocol.topics import parse_topic


# ---------------------------------------------------------------- control (central -> edge)
class ControlKind(enum.StrEnum):
    GALLERY_AVAILABLE = "gallery.available"
    ROSTER_AVAILABLE = "roster.available"
    TIMETABLE_AVAILABLE = "timetable.available"
    ERASURE_REQUEST = "erasure.request"
    EVENTS_ACK = "events.ack"


SeqRange = tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]]


class EventsAck(StrictModel):
    """The end-to-end acknowledgement: the school's sequence numbers the central database holds (committed).

    `held`: ranges (first, last) of sequence numbers held. `checked`: when set, the whole range the central server
    looked at (an answer to the heartbeat's `unacked_from`/`unacked_to`): a number in it and not in `held` is
    missing there; without it (the ack of a stored batch) nothing is said about other numbers."""

    held: list[SeqRange] = Field(default_factory=list, max_length=5000)
    checked: SeqRange | None = None

    @model_validator(mode="after")
    def _ordered(self) -> EventsAck:
        for lo, hi in self.held + ([self.checked] if self.checked else []):
            if lo > hi:
                raise ValueError(f"range {lo}..{hi} is reversed")
        return self


class PackageRef(StrictModel):
    """Where to fetch a package and how to check it (the sha256 is covered by the control signature)."""

    version: ShortText
    url: str = Field(min_length=1, max_length=2000)  # absolute, or a path on the central server
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class ErasureRequest(StrictModel):
    student_id: StudentId
    request_id: ShortText


class Control(StrictModel):
    schema_version: Literal[1] = SCHEMA_VERSION
    message_id: uuid.UUID
    school: SchoolCode
    kind: ControlKind
    issued_at: dt.datetime
    package: PackageRef | None = None
    erasure: ErasureRequest | None = None
    ack: EventsAck | None = None
    sig: str = ""

    @model_validator(mode="after")
    def _body_matches_kind(self) -> Control:
        if self.kind is ControlKind.ERASURE_REQUEST:
            if self.erasure is None or self.package is not None or self.ack is not None:
                raise ValueError("erasure.request carries `erasure` only")
        elif self.kind is ControlKind.EVENTS_ACK:
            if self.ack is None or self.package is not None or self.erasure is not None:
                raise ValueError("events.ack carries `ack` only")
        elif self.package is None or self.erasure is not None or self.ack is not None:
            raise ValueError(f"{self.kind.value} carries `package` only")
        return self

    def body(self) -> dict[str, Any]:
        # `ack` only where there is one: the other kinds keep the exact body (and signature) they always had
        return self.model_dump(mode="json", exclude={"ack"} if self.ack is None else None)

    def to_bytes(self) -> bytes:
        return canonical_json(self.body())


def new_control(school: str, kind: ControlKind | str, key: bytes, *, package: PackageRef | None = None,
                erasure: ErasureRequest | None = None, ack: EventsAck | None = None) -> Control:
    msg = Control(message_id=uuid7(), school=school, kind=ControlKind(kind), issued_at=utcnow(),
                  package=package, erasure=erasure, ack=ack)
    return msg.model_copy(update={"sig": sign_obj(msg.body(), key)})


def decode_control(topic: str, data: bytes, school: str, key: bytes) -> Control:
    topic_school, channel = parse_topic(topic)
    if channel != "control" or topic_school != school:
        raise ProtocolError("bad_topic", f"not this school's control topic: {topic!r}")
    obj = loads_strict(data)
    if schema_version_of(obj) != SCHEMA_VERSION:
        raise ProtocolError("schema_version", f"schema_version {schema_version_of(obj)!r} is not supported")
    try:
        msg = Control.model_validate(obj)
    except ValidationError as exc:
        raise ProtocolError("schema", short_errors(exc)) from None
    if msg.school != school:
        raise ProtocolError("topic_mismatch", f"control for {msg.school!r} on topic of {school!r}")
    if not verify_obj(obj, key):
        raise ProtocolError("bad_signature", "HMAC-SHA256 signature does not match")
    return msg
