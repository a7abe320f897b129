"""Central -> edge control messages: erasure requests and "new package available" notices.

Messages are signed with the school's key and published QoS 1 (not retained) on the school's control
topic; the edge's persistent session queues them while the school is offline. A package file is copied
into `packages_dir/<school>/<kind>/<version>` where `routes.py` serves it to that school only.
"""

from __future__ import annotations

import hashlib
import shutil
import ssl
import threading
from pathlib import Path

import paho.mqtt.client as mqtt

from central_server.ingest.config import IngestSettings
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
    pass


class ControlPublisher:
    """A short connection with the central login per message batch; raises unless the broker took it."""

    def __init__(self, settings: IngestSettings):
        self.s = settings

    def send(self, messages: list[Control], timeout_s: float = 10.0) -> None:
        s = self.s
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{s.client_id}-control-{uuid7().hex[:8]}",
                             protocol=mqtt.MQTTv5)
        client.username_pw_set(s.username, s.password.get_secret_value() if s.password else None)
        if s.tls_ca:
            client.tls_set(ca_certs=str(s.tls_ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        codes: dict[int, int] = {}
        done = threading.Event()
        connected = threading.Event()
        client.on_connect = lambda c, u, f, rc, p: connected.set() if not rc.is_failure else None

        def on_publish(c, u, mid, rc, p):
            codes[mid] = rc.value
            if len(codes) == len(messages):
                done.set()

        client.on_publish = on_publish
        client.connect(s.host, s.port, keepalive=30)
        client.loop_start()
        try:
            if not connected.wait(timeout_s):
                raise ControlNotDelivered("broker connection for control messages failed")
            mids = {client.publish(control_topic(m.school), m.to_bytes(), qos=1).mid: m for m in messages}
            if messages and not done.wait(timeout_s):
                raise ControlNotDelivered("no PUBACK for the control message(s)")
            bad = {mids[mid].school: code for mid, code in codes.items() if code >= 0x80 or
                   code == NO_MATCHING_SUBSCRIBERS}
            if bad:
                raise ControlNotDelivered(f"not delivered (school: reason code) {bad}; a school that has never "
                                          "connected has no session to queue it")
        finally:
            client.disconnect()
            client.loop_stop()


def erasure_message(school: str, key: bytes, student_id: str, request_id: str) -> Control:
    return new_control(school, ControlKind.ERASURE_REQUEST, key,
                       erasure=ErasureRequest(student_id=student_id, request_id=request_id))


def publish_package(settings: IngestSettings, school: str, key: bytes, kind: ControlKind | str, version: str,
                    source: Path) -> Control:
    """Store a package for download and return the signed notice to send (`ControlPublisher.send`)."""
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
