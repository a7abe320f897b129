"""The outgoing alert webhook: a JSON POST signed with HMAC-SHA256, retried with exponential back-off.

Headers: `X-IOC-Timestamp` (Unix seconds) and `X-IOC-Signature: sha256=<hex>` where the HMAC key is
`CENTRAL_IOC_WEBHOOK_SECRET` and the message is `<timestamp>.<body>`; a receiver recomputes it and rejects
an old timestamp. E-mail or chat integrations are receivers of this webhook.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from central_server.core.db import utcnow

from .config import IocSettings
from .tables import IocAlert, IocWebhookDelivery

log = logging.getLogger(__name__)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    return hmac.compare_digest(signature(secret, timestamp, body), header)


def enqueue(session: Session, ioc: IocSettings, alert: IocAlert, event: str, now: dt.datetime | None = None) -> None:
    """Queue a notification in the caller's transaction (nothing when no webhook is configured)."""
    if not ioc.webhook_url:
        return
    session.flush()
    body = {"event": event, "alert": {
        "id": alert.id, "rule": alert.rule_code, "school_id": alert.school_id, "subject": alert.subject,
        "state": alert.state, "message": alert.message, "value": alert.value,
        "opened_at": alert.opened_at.isoformat(), "ack_by": alert.ack_by, "ack_note": alert.ack_note,
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None}}
    session.add(IocWebhookDelivery(alert_id=alert.id, event=event, body=json.dumps(body, ensure_ascii=False),
                                   attempts=0, next_attempt_at=now or utcnow()))


def backoff(ioc: IocSettings, attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(ioc.webhook_backoff_s * 2 ** max(attempts - 1, 0), ioc.webhook_backoff_max_s))


def deliver_due(session: Session, ioc: IocSettings, now: dt.datetime | None = None, limit: int = 50) -> int:
    """POST the due notifications, oldest first; commits after each. Returns how many were delivered."""
    if not ioc.webhook_url:
        return 0
    now = now or utcnow()
    due = list(session.scalars(select(IocWebhookDelivery).where(
        IocWebhookDelivery.delivered_at.is_(None), IocWebhookDelivery.failed_at.is_(None),
        IocWebhookDelivery.next_attempt_at <= now).order_by(IocWebhookDelivery.id).limit(limit)))
    delivered = 0
    with httpx.Client(timeout=ioc.webhook_timeout_s) as client:
        for row in due:
            body = row.body.encode("utf-8")
            ts = str(int(now.timestamp()))
            row.attempts += 1
            try:
                r = client.post(ioc.webhook_url, content=body, headers={
                    "Content-Type": "application/json", "X-IOC-Timestamp": ts,
                    "X-IOC-Signature": signature(ioc.webhook_secret, ts, body), "X-IOC-Delivery": str(row.id)})
                ok, error = 200 <= r.status_code < 300, f"HTTP {r.status_code}"
            except httpx.HTTPError as exc:
                ok, error = False, f"{type(exc).__name__}: {exc}"
            if ok:
                row.delivered_at, row.last_error = utcnow(), ""
                delivered += 1
            else:
                row.last_error = error[:500]
                if row.attempts >= ioc.webhook_max_attempts:
                    row.failed_at = utcnow()
                    log.warning("IOC webhook gave up on delivery %s after %s attempts: %s", row.id, row.attempts,
                                error)
                else:
                    row.next_attempt_at = now + backoff(ioc, row.attempts)
            session.commit()
    return delivered
