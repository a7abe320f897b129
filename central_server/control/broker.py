"""The direct path to the broker: publish signed control messages on the schools' control topics now.

QoS 1, not retained, one short connection with the central login per batch; each message is reported as
taken (PUBACK) or not, with the reason. The dispatcher (dispatcher.py) delivers the outbox through it.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Sequence

import paho.mqtt.client as mqtt

from central_server.ingest.config import IngestSettings
from edge_agent.protocol import Control, control_topic, uuid7

NO_MATCHING_SUBSCRIBERS = 0x10


class ControlNotDelivered(RuntimeError):
    """Raised by `BrokerPublisher.publish_now` only (the direct path without the outbox)."""


class BrokerPublisher:
    """`publish` / `publish_now` talk to the broker directly (the dispatcher's path; `ControlPublisher.send` in
    publisher.py is the durable path to use).

    `publish` uses a short connection with the central login per batch and reports, per message, whether
    the broker took it (PUBACK). "No matching subscribers" (0x10) is *not* taken as delivered: a school whose
    edge has a session at the broker (online or not) is a subscriber, so 0x10 means nobody would ever
    receive the message (the edge never connected, or its session expired); the row stays queued.
    """

    def __init__(self, settings: IngestSettings):
        self.s = settings

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
