"""Central -> edge control messages: erasure requests and "new package available" notices.

Messages are signed with the school's key and published QoS 1 (not retained) on the school's control
topic; the edge's persistent session queues them while the school is offline. Nothing that asks for a
control message publishes it directly: `request_erasure` and `announce_package` add it to the
`ingest_control_outbox` table in the caller's transaction (with the change that asks for it), and
`ControlPublisher.send` does the same in a transaction of its own. The dispatcher (`control_dispatch.py`)
publishes the queued rows and retries while the broker is down, so a request is never lost.
A package file is copied into `packages_dir/<school>/<kind>/<version>` where `routes.py` serves it to that
school only.
"""

from __future__ import annotations

import hashlib
import shutil
import ssl
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import paho.mqtt.client as mqtt
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from central_server.core.audit import audit
from central_server.core.tables import User
from central_server.ingest.config import IngestSettings
from central_server.ingest.tables import ControlOutbox, SchoolKey
from edge_agent.protocol import (
    Control,
    ControlKind,
    ErasureRequest,
    PackageRef,
    control_topic,
    new_control,
    uuid7,
)

NO_MATCHING_SUBSCRIBERS = 0x10


class ControlNotDelivered(RuntimeError):
    """Raised by `ControlPublisher.publish_now` only (the direct path without the outbox)."""


class UnknownSchool(LookupError):
    """No active signing key is registered for the school (`central-server ingest add-school`)."""


class ControlPublisher:
    """`send` queues control messages durably; `publish` / `publish_now` talk to the broker directly.

    `publish` uses a short connection with the central login per batch and reports, per message, whether
    the broker took it (PUBACK). "No matching subscribers" (0x10) is *not* taken as delivered: a school whose
    edge has a session at the broker (online or not) is a subscriber, so 0x10 means nobody would ever
    receive the message (the edge never connected, or its session expired); the row stays queued.
    """

    def __init__(self, settings: IngestSettings, sessions: sessionmaker[Session] | None = None):
        self.s = settings
        self.sessions = sessions

    # ------------------------------------------------------------ durable path (the one to use)
    def send(self, messages: Sequence[Control]) -> list[int]:
        """Queue the messages (one transaction) and have them delivered; returns their outbox ids.

        Never raises because the broker is down: the rows stay queued and the dispatcher retries them. With a
        dispatcher running in this process it is woken; otherwise one delivery attempt is made here (CLI)."""
        from central_server.ingest import control_dispatch as cd

        sessions = self.sessions or cd.default_sessions(self.s)
        with sessions.begin() as session:
            ids = [row.id for row in cd.enqueue(session, messages)]
        if ids and not cd.has_dispatcher(sessions):
            cd.ControlDispatcher(self.s, sessions, publisher=self).run_once(schools={m.school for m in messages})
        return ids

    # ------------------------------------------------------------ direct path (the dispatcher, tests)
    def publish(self, messages: Sequence[Control], timeout_s: float | None = None) -> list[str | None]:
        """Publish now; for each message None when the broker took it, otherwise why it did not."""
        if not messages:
            return []
        s = self.s
        timeout = s.control_timeout_s if timeout_s is None else timeout_s
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{s.client_id}-control-{uuid7().hex[:8]}",
                             protocol=mqtt.MQTTv5)
        client.username_pw_set(s.username, s.password.get_secret_value() if s.password else None)
        if s.tls_ca:
            client.tls_set(ca_certs=str(s.tls_ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        codes: dict[int, int] = {}
        acked = threading.Condition()
        connected = threading.Event()
        refused: list[str] = []

        def on_connect(c, u, f, rc, p):
            if rc.is_failure:
                refused.append(str(rc))
            connected.set()

        def on_publish(c, u, mid, rc, p):
            with acked:
                codes[mid] = rc.value
                acked.notify_all()

        client.on_connect = on_connect
        client.on_publish = on_publish
        try:
            client.connect(s.host, s.port, keepalive=30)
        except OSError as exc:
            return [f"broker {s.host}:{s.port} unreachable: {exc}"] * len(messages)
        client.loop_start()
        try:
            if not connected.wait(timeout):
                return [f"no answer from broker {s.host}:{s.port} within {timeout:g} s"] * len(messages)
            if refused:
                return [f"broker refused the central login: {refused[0]}"] * len(messages)
            mids: list[int | None] = []
            for m in messages:
                info = client.publish(control_topic(m.school), m.to_bytes(), qos=1)
                mids.append(info.mid if info.rc == mqtt.MQTT_ERR_SUCCESS else None)
            deadline = time.monotonic() + timeout
            with acked:
                acked.wait_for(lambda: all(mid is None or mid in codes for mid in mids),
                               max(0.0, deadline - time.monotonic()))
                return [_outcome(None if mid is None else codes.get(mid, -1), timeout) for mid in mids]
        finally:
            client.disconnect()
            client.loop_stop()

    def publish_now(self, messages: Sequence[Control], timeout_s: float | None = None) -> None:
        """`publish` without the outbox: raises ControlNotDelivered unless the broker took every message."""
        bad = {m.school: why for m, why in zip(messages, self.publish(messages, timeout_s), strict=True) if why}
        if bad:
            raise ControlNotDelivered(f"not delivered (school: reason) {bad}")


def _outcome(code: int | None, timeout: float) -> str | None:
    if code is None:
        return "the MQTT client could not send it (connection lost)"
    if code == -1:
        return f"no PUBACK within {timeout:g} s"
    if code == NO_MATCHING_SUBSCRIBERS:
        return ("no subscriber on the school's control topic (0x10): its edge agent has never connected or its "
                "session expired; kept until it has one")
    if code >= 0x80:
        return f"broker refused the message (reason code {code:#x})"
    return None


# ---------------------------------------------------------------- building messages
def erasure_message(school: str, key: bytes, student_id: str, request_id: str) -> Control:
    return new_control(school, ControlKind.ERASURE_REQUEST, key,
                       erasure=ErasureRequest(student_id=student_id, request_id=request_id))


def publish_package(settings: IngestSettings, school: str, key: bytes, kind: ControlKind | str, version: str,
                    source: Path) -> Control:
    """Store a package for download and return the signed notice to queue (`announce_package` does both)."""
    kind = ControlKind(kind)
    if kind is ControlKind.ERASURE_REQUEST:
        raise ValueError("erasure is not a package")
    target = Path(settings.packages_dir) / school / kind.value / version
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    data = target.read_bytes()
    ref = PackageRef(version=version, url=f"/api/ingest/packages/{kind.value}/{version}",
                     sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    return new_control(school, kind, key, package=ref)


# ---------------------------------------------------------------- asking for one (caller's transaction)
def school_key(session: Session, school: str) -> bytes:
    hex_key = session.scalar(select(SchoolKey.key_hex).where(SchoolKey.school == school, SchoolKey.active))
    if hex_key is None:
        raise UnknownSchool(f"no signing key registered for school {school!r}")
    return bytes.fromhex(hex_key)


def request_erasure(session: Session, school: str, student_id: str, request_id: str,
                    key: bytes | None = None, *, actor: User | None = None, actor_name: str = "") -> ControlOutbox:
    """Queue a signed erasure request in the caller's transaction (commit it with the change it belongs to),
    and record who asked for it in the audit log (same transaction).

    The dispatcher is woken when the transaction commits; nothing is queued if it rolls back."""
    from central_server.ingest.control_dispatch import enqueue

    msg = erasure_message(school, key if key is not None else school_key(session, school), student_id, request_id)
    row = enqueue(session, [msg])[0]
    audit(session, actor, "student.erasure_requested", f"student:{student_id}",
          {"school": school, "request_id": request_id, "control_outbox_id": row.id}, actor_name=actor_name)
    return row


def announce_package(session: Session, settings: IngestSettings, school: str, kind: ControlKind | str,
                     version: str, source: Path, key: bytes | None = None) -> ControlOutbox:
    """Store the package for download and queue its signed notice in the caller's transaction.

    The file is written first: if the transaction rolls back, it stays unannounced (and is overwritten by
    the next announcement of the same version)."""
    from central_server.ingest.control_dispatch import enqueue

    key = key if key is not None else school_key(session, school)
    return enqueue(session, [publish_package(settings, school, key, kind, version, source)])[0]
