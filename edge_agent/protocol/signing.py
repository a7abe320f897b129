"""Ids (UUIDv7), canonical JSON, HMAC-SHA256 signatures of messages and of HTTP requests, strict JSON parsing."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from edge_agent.protocol.base import (
    MAX_PAYLOAD_BYTES,
    ProtocolError,
)
from edge_agent.protocol.topics import check_school

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
    check_school(school)
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
