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
import hashlib
import hmac
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

SCHEMA_VERSION = 1
TOPIC_PREFIX = "edu/v1"
MAX_PAYLOAD_BYTES = 64 * 1024
SCHOOL_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
STUDENT_ID_RE = r"^[0-9]{12}$"  # the citizen's 12-digit personal identification number (số định danh cá nhân)

SchoolCode = Annotated[str, Field(pattern=SCHOOL_CODE_RE.pattern)]
StudentId = Annotated[str, Field(pattern=STUDENT_ID_RE)]
ShortText = Annotated[str, Field(min_length=1, max_length=64)]


class ProtocolError(ValueError):
    """A message that does not satisfy the contract. `reason` is a short machine code for quarantine."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


# ---------------------------------------------------------------- topics
def _check_school(school: str) -> str:
    if not isinstance(school, str) or not SCHOOL_CODE_RE.match(school):
        raise ProtocolError("bad_school", f"invalid school code {school!r}")
    return school


def events_topic(school: str) -> str:
    return f"{TOPIC_PREFIX}/{_check_school(school)}/events"


def status_topic(school: str) -> str:
    return f"{TOPIC_PREFIX}/{_check_school(school)}/status"


def control_topic(school: str) -> str:
    return f"{TOPIC_PREFIX}/{_check_school(school)}/control"


EVENTS_WILDCARD = f"{TOPIC_PREFIX}/+/events"
STATUS_WILDCARD = f"{TOPIC_PREFIX}/+/status"


def parse_topic(topic: str) -> tuple[str, str]:
    """``edu/v1/<school>/<channel>`` -> (school, channel); ProtocolError otherwise."""
    parts = topic.split("/")
    if len(parts) != 4 or "/".join(parts[:2]) != TOPIC_PREFIX or parts[3] not in ("events", "status", "control"):
        raise ProtocolError("bad_topic", f"unexpected topic {topic!r}")
    return _check_school(parts[2]), parts[3]


# ---------------------------------------------------------------- UUIDv7 (RFC 9562)
_uuid_lock = threading.Lock()
_uuid_last = (0, 0)  # (unix ms, 12-bit counter) for monotonic ids within one process


def uuid7(now_ms: int | None = None) -> uuid.UUID:
    """A UUIDv7: 48-bit Unix ms timestamp, 12-bit monotonic counter (RFC 9562 method 1), 62 random bits."""
    global _uuid_last
    with _uuid_lock:
        ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        last_ms, counter = _uuid_last
        if ms <= last_ms:  # same millisecond or clock went back: keep order by counting on
            ms, counter = last_ms, counter + 1
            if counter > 0xFFF:
                ms, counter = ms + 1, 0
        else:
            counter = int.from_bytes(os.urandom(2), "big") & 0x7FF  # leave headroom for counting
        _uuid_last = (ms, counter)
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand_b
    return uuid.UUID(int=value)


def uuid7_time(value: uuid.UUID) -> dt.datetime:
    """The creation time carried by a UUIDv7."""
    return dt.datetime.fromtimestamp((value.int >> 80) / 1000, tz=dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# ---------------------------------------------------------------- canonical JSON and signing
def canonical_json(obj: Any) -> bytes:
    """Keys sorted, no whitespace, UTF-8, no NaN/Infinity: the bytes that are signed."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def sign_obj(obj: dict[str, Any], key: bytes) -> str:
    body = {k: v for k, v in obj.items() if k != "sig"}
    return hmac.new(key, canonical_json(body), hashlib.sha256).hexdigest()


def verify_obj(obj: dict[str, Any], key: bytes, unsigned: bytes | None = None) -> bool:
    """`unsigned`: the canonical JSON of `obj` without `sig`, when the caller has it already."""
    sig = obj.get("sig")
    if not isinstance(sig, str):
        return False
    try:
        expected = sign_obj(obj, key) if unsigned is None else hmac.new(key, unsigned, hashlib.sha256).hexdigest()
    except (TypeError, ValueError):
        return False
    return hmac.compare_digest(expected, sig)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads_strict(data: bytes) -> Any:
    """JSON parsing for untrusted payloads: size bound, UTF-8, no NaN/Infinity."""
    if len(data) > MAX_PAYLOAD_BYTES:
        raise ProtocolError("too_large", f"payload of {len(data)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError("not_json", str(exc)[:200]) from None


# ---------------------------------------------------------------- event vocabulary
class EventKind(enum.StrEnum):
    ATTENDANCE_PROPOSED = "attendance.proposed"    # camera (or kiosk) proposes a status for one period
    ATTENDANCE_CORRECTED = "attendance.corrected"  # teacher changes a proposed or earlier status
    ATTENDANCE_FINALISED = "attendance.finalised"  # teacher confirms / signs the period (sổ đầu bài)
    GATE_ARRIVAL = "gate.arrival"                  # a student recognised at the school gate


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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


def _aware(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a UTC offset")
    return value


class Source(_Strict):
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


class AttendancePayload(_Strict):
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
        return v if v is None else _aware(v)


class GateArrivalPayload(_Strict):
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
        return _aware(v)


Payload = Annotated[AttendancePayload | GateArrivalPayload, Field(discriminator="type")]


class Event(_Strict):
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
        return _aware(v)

    @model_validator(mode="after")
    def _kind_matches_payload(self) -> Event:
        want = "attendance" if self.kind in ATTENDANCE_KINDS else "gate_arrival"
        if self.payload.type != want:
            raise ValueError(f"kind {self.kind.value} needs payload type {want!r}")
        return self

    def body(self) -> dict[str, Any]:
        """JSON-ready dict (with `sig`)."""
        return self.model_dump(mode="json")

    def to_bytes(self) -> bytes:
        return canonical_json(self.body())


def new_event(school: str, seq: int, kind: EventKind | str, payload: AttendancePayload | GateArrivalPayload,
              key: bytes, event_id: uuid.UUID | None = None, created_at: dt.datetime | None = None) -> Event:
    """Build and sign an event."""
    ev = Event(event_id=event_id or uuid7(), school=school, seq=seq, kind=EventKind(kind),
               created_at=created_at or utcnow(), payload=payload)
    return sign_event(ev, key)


def sign_event(event: Event, key: bytes) -> Event:
    return event.model_copy(update={"sig": sign_obj(event.body(), key)})


def _schema_version_of(obj: Any) -> Any:
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
    version = _schema_version_of(obj)
    if version != SCHEMA_VERSION:
        raise ProtocolError("schema_version", f"schema_version {version!r} is not supported (want {SCHEMA_VERSION})")
    try:
        event = Event.model_validate(obj)
    except ValidationError as exc:
        raise ProtocolError("schema", _short_errors(exc)) from None
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
    version = _schema_version_of(obj)
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


def _short_errors(exc: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]]
    return "; ".join(parts)[:500]


# ---------------------------------------------------------------- status (heartbeat, last will)
class CameraStatus(_Strict):
    camera_id: ShortText
    fps: float = Field(ge=0)
    online: bool = True
    last_frame_at: dt.datetime | None = None


class Heartbeat(_Strict):
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
    gallery_version: str | None = None
    roster_version: str | None = None
    timetable_version: str | None = None
    model_versions: dict[str, str] = {}
    cpu_load_1m: float | None = None
    disk_free_bytes: int | None = None


class Offline(_Strict):
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
        raise ProtocolError("schema", _short_errors(exc)) from None


# ---------------------------------------------------------------- control (central -> edge)
class ControlKind(enum.StrEnum):
    GALLERY_AVAILABLE = "gallery.available"
    ROSTER_AVAILABLE = "roster.available"
    TIMETABLE_AVAILABLE = "timetable.available"
    ERASURE_REQUEST = "erasure.request"


class PackageRef(_Strict):
    """Where to fetch a package and how to check it (the sha256 is covered by the control signature)."""

    version: ShortText
    url: str = Field(min_length=1, max_length=2000)  # absolute, or a path on the central server
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class ErasureRequest(_Strict):
    student_id: StudentId
    request_id: ShortText


class Control(_Strict):
    schema_version: Literal[1] = SCHEMA_VERSION
    message_id: uuid.UUID
    school: SchoolCode
    kind: ControlKind
    issued_at: dt.datetime
    package: PackageRef | None = None
    erasure: ErasureRequest | None = None
    sig: str = ""

    @model_validator(mode="after")
    def _body_matches_kind(self) -> Control:
        if self.kind is ControlKind.ERASURE_REQUEST:
            if self.erasure is None or self.package is not None:
                raise ValueError("erasure.request carries `erasure` only")
        elif self.package is None or self.erasure is not None:
            raise ValueError(f"{self.kind.value} carries `package` only")
        return self

    def body(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_bytes(self) -> bytes:
        return canonical_json(self.body())


def new_control(school: str, kind: ControlKind | str, key: bytes, *, package: PackageRef | None = None,
                erasure: ErasureRequest | None = None) -> Control:
    msg = Control(message_id=uuid7(), school=school, kind=ControlKind(kind), issued_at=utcnow(),
                  package=package, erasure=erasure)
    return msg.model_copy(update={"sig": sign_obj(msg.body(), key)})


def decode_control(topic: str, data: bytes, school: str, key: bytes) -> Control:
    topic_school, channel = parse_topic(topic)
    if channel != "control" or topic_school != school:
        raise ProtocolError("bad_topic", f"not this school's control topic: {topic!r}")
    obj = loads_strict(data)
    if _schema_version_of(obj) != SCHEMA_VERSION:
        raise ProtocolError("schema_version", f"schema_version {_schema_version_of(obj)!r} is not supported")
    try:
        msg = Control.model_validate(obj)
    except ValidationError as exc:
        raise ProtocolError("schema", _short_errors(exc)) from None
    if msg.school != school:
        raise ProtocolError("topic_mismatch", f"control for {msg.school!r} on topic of {school!r}")
    if not verify_obj(obj, key):
        raise ProtocolError("bad_signature", "HMAC-SHA256 signature does not match")
    return msg


# ---------------------------------------------------------------- HTTP requests signed with the school key
HDR_SCHOOL, HDR_TIME, HDR_SIG = "X-Edu-School", "X-Edu-Time", "X-Edu-Signature"


def _request_mac(key: bytes, school: str, ts: int, method: str, path: str, body: bytes) -> str:
    msg = "\n".join([school, str(ts), method.upper(), path, hashlib.sha256(body).hexdigest()]).encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def request_headers(school: str, key: bytes, method: str, path: str, body: bytes = b"",
                    now: float | None = None) -> dict[str, str]:
    """Headers that authenticate an edge's HTTP request (package download, reconciliation)."""
    ts = int(time.time() if now is None else now)
    return {HDR_SCHOOL: school, HDR_TIME: str(ts), HDR_SIG: _request_mac(key, school, ts, method, path, body)}


def verify_request(headers: Any, method: str, path: str, body: bytes, key_for: Callable[[str], bytes | None],
                   max_skew_s: int = 300, now: float | None = None) -> str:
    """The school code of a correctly signed, fresh request; ProtocolError otherwise."""
    school, ts, sig = headers.get(HDR_SCHOOL), headers.get(HDR_TIME), headers.get(HDR_SIG)
    if not school or not ts or not sig:
        raise ProtocolError("unauthenticated", "missing school signature headers")
    _check_school(school)
    try:
        ts_i = int(ts)
    except ValueError:
        raise ProtocolError("unauthenticated", "bad timestamp") from None
    if abs((time.time() if now is None else now) - ts_i) > max_skew_s:
        raise ProtocolError("unauthenticated", "request timestamp too far from server time")
    key = key_for(school)
    if not key or not hmac.compare_digest(_request_mac(key, school, ts_i, method, path, body), sig):
        raise ProtocolError("unauthenticated", "bad request signature")
    return school


# ---------------------------------------------------------------- reconciliation (HTTP, edge -> central)
class ReconcileRequest(_Strict):
    school: SchoolCode
    from_seq: int = Field(ge=1)
    to_seq: int = Field(ge=1)

    @model_validator(mode="after")
    def _range(self) -> ReconcileRequest:
        if self.to_seq < self.from_seq or self.to_seq - self.from_seq > 1_000_000:
            raise ValueError("need from_seq <= to_seq and a range of at most 1,000,000")
        return self


class ReconcileResponse(_Strict):
    school: SchoolCode
    from_seq: int
    to_seq: int
    held: list[tuple[int, int]]   # inclusive ranges of sequence numbers the central server stores
    missing: list[int]            # sequence numbers in [from_seq, to_seq] it does not hold (capped)
    max_seq: int | None           # highest sequence number held for the school
