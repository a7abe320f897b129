"""OAI-PMH resumption tokens for keyset paging: the token carries the last (datestamp, id) seen and the
original arguments, HMAC-signed, so any page costs one index range scan however deep the harvest goes."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from dataclasses import asdict, dataclass


class BadToken(ValueError):
    pass


@dataclass(frozen=True)
class Cursor:
    verb: str
    prefix: str
    set_spec: str | None
    from_: str | None  # ISO datetimes (UTC) of the original from/until bounds
    until: str | None
    last_stamp: str  # ISO datetime with microseconds of the last record on the previous page
    last_id: int
    cursor: int  # how many records came before this page
    total: int  # completeListSize, counted once on the first page

    def last_datetime(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.last_stamp)


def _sign(payload: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()[:24]


def encode(c: Cursor, secret: str) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(asdict(c), separators=(",", ":")).encode()).decode().rstrip("=")
    return f"{payload}.{_sign(payload.encode(), secret)}"


def decode(token: str, secret: str, verb: str) -> Cursor:
    try:
        payload, sig = token.rsplit(".", 1)
    except ValueError as exc:
        raise BadToken("resumptionToken không đúng định dạng") from exc
    if not hmac.compare_digest(sig, _sign(payload.encode(), secret)):
        raise BadToken("resumptionToken không hợp lệ hoặc đã bị sửa")
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        c = Cursor(**data)
        c.last_datetime()
    except (ValueError, TypeError) as exc:
        raise BadToken("resumptionToken không đọc được") from exc
    if c.verb != verb:
        raise BadToken(f"resumptionToken này dành cho {c.verb}, không phải {verb}")
    return c
