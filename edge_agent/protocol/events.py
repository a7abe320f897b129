"""The wire contract between a school's edge agent and the province's central server.

Standard library and pydantic only: both sides import this file.

Topics (``<school>`` is the school code, which is also the school's broker login):
    edu/v1/<school>/events   edge -> central, QoS 1, signed `Event`
    edu/v1/<school>/status   edge -> anyone, retained `Heartbeat`; last will `Offline`
    edu/v1/<school>/control  central -> edge, QoS 1, signed `Control`

Every event has a UUIDv7 id (globally unique, time ordered), the school code, a per-school monotonic
sequence number, and an HMAC-SHA256 signature with the school's key over the canonical JSON of the
event without its ``sig`` field (keys sorted, no spaces, UTF-8). The receiver verifies the signature
over the *received* JSON object, so no re-serialisation can change what was signed.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from edge_agent.protocol.base import (
    MAX_PAYLOAD_BYTES,
    SCHEMA_VERSION,
    ProtocolError,
    SchoolCode,
    ShortText,
    StrictModel,
    StudentId,
    aware_utc,
    short_errors,
)
from edge_agent.protocol.signing import (
    canonical_json,
    loads_strict,
    sign_obj,
    utcnow,
    uuid7,
    verify_obj,
)
from edge_agent.protocol.topics import parse_topic


# ---------------------------------------------------------------- event vocabulary
class EventKind(enum.StrEnum):
    ATTENDANCE_PROPOSED = "attendance.proposed"    # camera (or kiosk) proposes a status for one period
    ATTENDANCE_CORRECTED = "attendance.corrected"  # teacher changes a proposed or earlier status
    ATTENDANCE_FINALISED = "attendance.finalised"  # teacher confirms / signs the period (sổ đầu bài)
    GATE_ARRIVAL = "gate.arrival"                  # a student recognised at the school gate
    PAD_SUSPECTED = "pad.suspected"                # a camera doubts a face is live (photo / screen): sent to review


ATTENDANCE_KINDS = frozenset({EventKind.ATTENDANCE_PROPOSED, EventKind.ATTENDANCE_CORRECTED,
                              EventKind.ATTENDANCE_FINALISED})


class AttendanceStatus(enum.StrEnum):
    PRESENT = "present"
    LATE = "late"
    ABSENT_PROPOSED = "absent_proposed"  # not seen by the camera; a teacher must confirm
    EXCUSED = "P"      # vắng có phép (absent with permission)
    UNEXCUSED = "K"    # vắng không phép (absent without permission)
    LEFT_EARLY = "left_early"


class SourceKind(enum.StrEnum):
    CAMERA = "camera"
    TEACHER = "teacher"
    KIOSK = "kiosk"
    SYSTEM = "system"  # rules engine, e.g. absent_proposed at the end of a period


class Session(enum.StrEnum):
    MORNING = "morning"    # buổi sáng
    AFTERNOON = "afternoon"  # buổi chiều


class Source(StrictModel):
    kind: SourceKind
    camera_id: ShortText | None = None
    teacher_id: ShortText | None = None  # the teacher's staff code at the school
    device_id: ShortText | None = None   # kiosk / edge box

    @model_validator(mode="after")
    def _who(self) -> Source:
        if self.kind is SourceKind.CAMERA and not self.camera_id:
            raise ValueError("a camera source needs camera_id")
        if self.kind is SourceKind.TEACHER and not self.teacher_id:
            raise ValueError("a teacher source needs teacher_id")
        return self


class AttendancePayload(StrictModel):
    type: Literal["attendance"] = "attendance"
    student_id: StudentId
    class_code: ShortText            # Mã lớp, e.g. "10A1"
    date: dt.date                    # school-local date of the lesson
    session: Session | None = None
    period: int | None = Field(default=None, ge=1, le=10)  # tiết; None = whole session / day
    subject: ShortText | None = None
    status: AttendanceStatus
    previous_status: AttendanceStatus | None = None  # for corrections
    reason: str | None = Field(default=None, max_length=500)  # correction / excuse reason
    source: Source
    observed_at: dt.datetime         # when the camera first saw the student / the teacher acted
    first_seen_at: dt.datetime | None = None
    last_seen_at: dt.datetime | None = None
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)  # recognition score of the vote
    track_id: ShortText | None = None

    @field_validator("observed_at", "first_seen_at", "last_seen_at")
    @classmethod
    def _aware_ts(cls, v: dt.datetime | None) -> dt.datetime | None:
        return v if v is None else aware_utc(v)


class GateArrivalPayload(StrictModel):
    type: Literal["gate_arrival"] = "gate_arrival"
    student_id: StudentId
    class_code: ShortText | None = None
    date: dt.date
    direction: Literal["in", "out"] = "in"
    gate: ShortText
    source: Source
    observed_at: dt.datetime
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    track_id: ShortText | None = None

    @field_validator("observed_at")
    @classmethod
    def _aware_ts(cls, v: dt.datetime) -> dt.datetime:
        return aware_utc(v)


class PadSuspectedPayload(StrictModel):
    """A track the presentation-attack detector flagged on a camera that enforces it: it was not accepted but
    put in the teacher's review queue. No face crop travels (it stays at the school)."""

    type: Literal["pad_suspected"] = "pad_suspected"
    student_id: StudentId | None = None  # the recogniser's candidate, if any (the teacher decides)
    date: dt.date                        # school-local date
    source: Source                       # the camera
    observed_at: dt.datetime             # when the track was first seen
    track_id: ShortText | None = None
    pad_score: float = Field(ge=0.0, le=1.0)      # mean attack probability over the scored frames
    pad_threshold: float = Field(gt=0.0, lt=1.0)  # the camera's threshold the score reached
    pad_frames: int = Field(ge=1, le=100)         # frames of the track that were scored
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)  # recognition score of the candidate

    @field_validator("observed_at")
    @classmethod
    def _aware_ts(cls, v: dt.datetime) -> dt.datetime:
        return aware_utc(v)

    @model_validator(mode="after")
    def _reached(self) -> PadSuspectedPayload:
        if self.pad_score < self.pad_threshold:
            raise ValueError("a pad.suspected event needs pad_score >= pad_threshold")
        return self


Payload = Annotated[AttendancePayload | GateArrivalPayload | PadSuspectedPayload, Field(discriminator="type")]
_PAYLOAD_TYPE = {EventKind.GATE_ARRIVAL: "gate_arrival", EventKind.PAD_SUSPECTED: "pad_suspected"}


class Event(StrictModel):
    """One attendance fact from a school. `sig` is empty until `sign_event` fills it."""

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: uuid.UUID
    school: SchoolCode
    seq: int = Field(ge=1, le=2**62)
    kind: EventKind
    created_at: dt.datetime
    payload: Payload
    sig: str = ""

    @field_validator("event_id")
    @classmethod
    def _v7(cls, v: uuid.UUID) -> uuid.UUID:
        if v.version != 7:
            raise ValueError("event_id must be a UUIDv7")
        return v

    @field_validator("created_at")
    @classmethod
    def _created_aware(cls, v: dt.datetime) -> dt.datetime:
        return aware_utc(v)

    @model_validator(mode="after")
    def _kind_matches_payload(self) -> Event:
        want = "attendance" if self.kind in ATTENDANCE_KINDS else _PAYLOAD_TYPE[self.kind]
        if self.payload.type != want:
            raise ValueError(f"kind {self.kind.value} needs payload type {want!r}")
        return self

    def body(self) -> dict[str, Any]:
        """JSON-ready dict (with `sig`)."""
        return self.model_dump(mode="json")

    def to_bytes(self) -> bytes:
        return canonical_json(self.body())


def new_event(school: str, seq: int, kind: EventKind | str,
              payload: AttendancePayload | GateArrivalPayload | PadSuspectedPayload,
              key: bytes, event_id: uuid.UUID | None = None, created_at: dt.datetime | None = None) -> Event:
    """Build and sign an event."""
    ev = Event(event_id=event_id or uuid7(), school=school, seq=seq, kind=EventKind(kind),
               created_at=created_at or utcnow(), payload=payload)
    return sign_event(ev, key)


def sign_event(event: Event, key: bytes) -> Event:
    return event.model_copy(update={"sig": sign_obj(event.body(), key)})


def schema_version_of(obj: Any) -> Any:
    return obj.get("schema_version") if isinstance(obj, dict) else None


def decode_event(topic: str, data: bytes, key_for: Callable[[str], bytes | None]) -> Event:
    """Check one message from the events topic; ProtocolError(reason) says why it is rejected.

    Order: topic, JSON, schema version, schema, topic school == payload school, school key, signature.
    """
    topic_school, channel = parse_topic(topic)
    if channel != "events":
        raise ProtocolError("bad_topic", f"not an events topic: {topic!r}")
    return _decode_event_obj(topic_school, loads_strict(data), key_for)


def _decode_event_obj(topic_school: str, obj: Any, key_for: Callable[[str], bytes | None],
                      unsigned: bytes | None = None) -> Event:
    if not isinstance(obj, dict):
        raise ProtocolError("schema", "event must be a JSON object")
    version = schema_version_of(obj)
    if version != SCHEMA_VERSION:
        raise ProtocolError("schema_version", f"schema_version {version!r} is not supported (want {SCHEMA_VERSION})")
    try:
        event = Event.model_validate(obj)
    except ValidationError as exc:
        raise ProtocolError("schema", short_errors(exc)) from None
    if event.school != topic_school:
        raise ProtocolError("topic_mismatch", f"event of school {event.school!r} on topic of {topic_school!r}")
    key = key_for(event.school)
    if not key:
        raise ProtocolError("unknown_school", f"no signing key for school {event.school!r}")
    if not verify_obj(obj, key, unsigned):
        raise ProtocolError("bad_signature", "HMAC-SHA256 signature does not match")
    return event


# ---------------------------------------------------------------- event batches
# A school that delivers a backlog (after a day offline, say) packs up to BATCH_MAX_EVENTS signed events into
# one message on the same events topic: {"events": [<event>, ...], "schema_version": 1}. Each event keeps its
# own signature and is checked, stored or quarantined on its own; the envelope adds nothing to trust (the
# broker's ACL already binds the topic to the school's login). One PUBACK then covers the whole batch, which
# is what makes a province-wide catch-up fast. A single event is still sent as a plain event message.
BATCH_MAX_EVENTS = 100


def encode_event_batch(bodies: list[bytes]) -> bytes:
    """The batch message for already-signed event bodies (canonical JSON: keys sorted, no spaces)."""
    if not bodies or len(bodies) > BATCH_MAX_EVENTS:
        raise ValueError(f"a batch holds 1 to {BATCH_MAX_EVENTS} events, not {len(bodies)}")
    data = b'{"events":[' + b",".join(bodies) + b'],"schema_version":%d}' % SCHEMA_VERSION
    if len(data) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"batch of {len(data)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    return data


def decode_events(topic: str, data: bytes, key_for: Callable[[str], bytes | None]
                  ) -> list[tuple[bytes, Event | ProtocolError]]:
    """Every event of one message from the events topic (a plain event or a batch), each with its own bytes
    (as received for a plain event, canonical JSON for a member of a batch) and either the verified `Event`
    or the `ProtocolError` that rejects it. A batch envelope that is itself invalid is one error."""
    try:
        topic_school, channel = parse_topic(topic)
        if channel != "events":
            raise ProtocolError("bad_topic", f"not an events topic: {topic!r}")
        obj = loads_strict(data)
    except ProtocolError as exc:
        return [(data, exc)]
    if not (isinstance(obj, dict) and "events" in obj and "event_id" not in obj):
        return [(data, _safe_decode(topic_school, obj, key_for))]
    version = schema_version_of(obj)
    if version != SCHEMA_VERSION:
        return [(data, ProtocolError("schema_version",
                                     f"batch schema_version {version!r} is not supported (want {SCHEMA_VERSION})"))]
    members = obj["events"]
    if set(obj) != {"events", "schema_version"} or not isinstance(members, list) or not members \
            or len(members) > BATCH_MAX_EVENTS:
        return [(data, ProtocolError("schema", f"a batch is {{events: [1..{BATCH_MAX_EVENTS} events], "
                                               "schema_version}} and nothing else"))]
    out: list[tuple[bytes, Event | ProtocolError]] = []
    for member in members:
        raw, unsigned = _member_bytes(member)
        out.append((raw, _safe_decode(topic_school, member, key_for, unsigned)))
    return out


def _member_bytes(member: Any) -> tuple[bytes, bytes | None]:
    """(canonical JSON of the member, canonical JSON without `sig` or None), serialising only once when
    `sig` is the last key in sorted order (as in every event): the signed bytes are the unsigned ones plus it."""
    try:
        if isinstance(member, dict) and isinstance(member.get("sig"), str) and len(member) > 1 \
                and max(member) == "sig":
            unsigned = canonical_json({k: v for k, v in member.items() if k != "sig"})
            return unsigned[:-1] + b',"sig":' + canonical_json(member["sig"]) + b"}", unsigned
        return canonical_json(member), None
    except (TypeError, ValueError):
        return b"", None


def _safe_decode(topic_school: str, obj: Any, key_for: Callable[[str], bytes | None],
                 unsigned: bytes | None = None) -> Event | ProtocolError:
    try:
        return _decode_event_obj(topic_school, obj, key_for, unsigned)
    except ProtocolError as exc:
        return exc
