"""A bare paho MQTT v5 client for tests: publish raw bytes and see the broker's PUBACK reason codes."""

from __future__ import annotations

import threading
import uuid

import paho.mqtt.client as mqtt


class RawClient:
    def __init__(self, port: int, user: str | None, password: str | None, client_id: str | None = None):
        self.codes: dict[int, int] = {}
        self.messages: list[mqtt.MQTTMessage] = []
        self.connect_code: int | None = None
        self._acked = threading.Condition()
        self._connected = threading.Event()
        self._subacks: dict[int, list[int]] = {}
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"raw-{uuid.uuid4().hex[:8]}",
                             protocol=mqtt.MQTTv5)
        if user:
            self.c.username_pw_set(user, password)
        self.c.on_connect = self._on_connect
        self.c.on_publish = self._on_publish
        self.c.on_subscribe = self._on_subscribe
        self.c.on_message = lambda c, u, m: self.messages.append(m)
        self.c.connect("127.0.0.1", port, keepalive=30)
        self.c.loop_start()
        self._connected.wait(5)

    def _on_connect(self, c, u, flags, rc, props):
        self.connect_code = rc.value
        self._connected.set()

    def _on_publish(self, c, u, mid, rc, props):
        with self._acked:
            self.codes[mid] = rc.value
            self._acked.notify_all()

    def _on_subscribe(self, c, u, mid, codes, props):
        with self._acked:
            self._subacks[mid] = [rc.value for rc in codes]
            self._acked.notify_all()

    def subscribe(self, topic: str, timeout: float = 5.0) -> list[int]:
        """Subscribe QoS 1 and return the SUBACK reason codes once the broker has answered."""
        mid = self.c.subscribe(topic, qos=1)[1]
        with self._acked:
            if not self._acked.wait_for(lambda: mid in self._subacks, timeout):
                raise TimeoutError(f"no SUBACK for {topic}")
        return self._subacks[mid]

    def publish(self, topic: str, payload: bytes, timeout: float = 5.0) -> int:
        """Publish QoS 1 and return the PUBACK reason code."""
        mid = self.c.publish(topic, payload, qos=1).mid
        with self._acked:
            self._acked.wait_for(lambda: mid in self.codes, timeout)
        return self.codes[mid]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()
