"""Central -> edge control messages: erasure requests and "new package available" notices.

Messages are signed with the school's key and published QoS 1 (not retained) on the school's control
topic; the edge's persistent session queues them while the school is offline. Nothing that asks for a
control message publishes it directly: `request_erasure` and `announce_package` add it to the
`ingest_control_outbox` table in the caller's transaction (with the change that asks for it), and
`ControlPublisher.send` (publisher.py) does the same in a transaction of its own. The dispatcher
(dispatcher.py) publishes the queued rows and retries while the broker is down, so a request is never lost.
A package file is copied into `packages_dir/<school>/<kind>/<version>` where `ingest/routes.py` serves it to
that school only.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from central_server.control.outbox import enqueue
from central_server.core.audit import audit
from central_server.core.tables import User
from central_server.ingest.config import IngestSettings
from central_server.ingest.tables import ControlOutbox, SchoolKey
from edge_agent.protocol import Control, ControlKind, ErasureRequest, PackageRef, new_control


class UnknownSchool(LookupError):
    """No active signing key is registered for the school (`central-server ingest add-school`)."""


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
    key = key if key is not None else school_key(session, school)
    return enqueue(session, [publish_package(settings, school, key, kind, version, source)])[0]
