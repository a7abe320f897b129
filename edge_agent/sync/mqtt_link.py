"""The school's MQTT link: delivers the outbox to the broker, sends heartbeats, receives control messages.

Delivery contract (at-least-once; the central ingest makes it exactly-once by event id):
- QoS 1, MQTT v5, persistent session (clean start off, session expiry set), a small in-flight window;
- a backlog goes out as batches of up to `batch_max` signed events per message (one PUBACK marks them all
  sent); a single waiting event goes out on its own at once, so batching never delays a live event;
- a PUBACK makes a row "sent, not acknowledged", never delivered: the central ingest worker answers each
  committed batch with a signed `events.ack` on the school's control topic (rows acknowledged), and each
  heartbeat carries the range of rows sent more than `central_ack_timeout_s` ago and still unacknowledged,
  which the worker answers with what its database holds of that range; the rows it lacks (lost between the
  broker and the database, e.g. a destroyed session) are published again (see edge_agent/sync/outbox.py);
- a row is marked sent only when its PUBACK arrives with a success reason code. "No matching
  subscribers" (0x10) is *not* taken as delivered: nobody would ever receive it, so the row stays
  unsent and is retried after a back-off (the central worker's persistent session is a subscriber
  even while the worker is down, so this only happens before the worker's first connection);
- paho keeps its session in memory only, so on a restart every unsent row is published again;
- heartbeat every `heartbeat_s` on the retained status topic, with last will "offline".

Run standalone with `python -m edge_agent.sync.mqtt_link` (settings from `EDGE_MQTT_*` environment variables).
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import signal
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from edge_agent.protocol import (
    BATCH_MAX_EVENTS,
    MAX_PAYLOAD_BYTES,
    Control,
    ControlKind,
    EventsAck,
    Heartbeat,
    Offline,
    ProtocolError,
    control_topic,
    decode_control,
    encode_event_batch,
    events_topic,
    status_topic,
    utcnow,
)
from edge_agent.store import school_db
from edge_agent.sync import outbox as outbox_mod

log = logging.getLogger(__name__)
NO_MATCHING_SUBSCRIBERS = 0x10


class MqttLinkSettings(BaseSettings):
    """Typed settings of the link (environment `EDGE_MQTT_*`)."""

    model_config = SettingsConfigDict(env_prefix="EDGE_MQTT_", extra="ignore")

    school: str
    key_hex: SecretStr                    # the school's HMAC-SHA256 signing key, hex
    db_path: Path                         # the school's SQLite database holding the outbox
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None           # defaults to the school code (the broker ACL relies on it)
    password: SecretStr | None = None
    tls_ca: Path | None = None            # CA certificate; TLS is on when set
    client_id: str | None = None          # defaults to "edge-<school>" (stable: the session is keyed by it); on the
    #                                       broker's school listener the broker replaces it with the login
    central_ack_timeout_s: float = 120.0  # a PUBACKed row unacknowledged this long is asked about in the heartbeat
    window: int = 20                      # QoS 1 messages in flight
    batch_max: int = BATCH_MAX_EVENTS     # events per message when a backlog is delivered (1: one per message)
    session_expiry_s: int = 7 * 86400
    keepalive_s: int = 30
    heartbeat_s: float = 30.0
    poll_s: float = 0.05
    ack_timeout_s: float = 30.0           # republish if no PUBACK while connected for this long
    retry_backoff_s: float = 2.0          # pause after a refused / unsubscribed PUBACK
    agent_version: str = "0.1.0"

    @property
    def key(self) -> bytes:
        return bytes.fromhex(self.key_hex.get_secret_value())


@dataclass
class _Inflight:
    seqs: list[int]
    sent: float


class Link:
    """One MQTT connection per school: outbox delivery, heartbeat, control subscription."""

    def __init__(self, settings: MqttLinkSettings, *, on_control: Callable[[Control], None] | None = None,
                 status_extra: Callable[[], dict[str, Any]] | None = None,
                 limits: outbox_mod.Limits | None = None):
        self.s = settings
        self.on_control = on_control
        self.status_extra = status_extra
        self.conn = school_db.connect(settings.db_path, implicit_transactions=True)
        self.outbox = outbox_mod.Outbox(self.conn, settings.school, settings.key, limits)
        self._events_topic = events_topic(settings.school)
        self._acks: queue.Queue[tuple[int, int]] = queue.Queue()
        self._central_acks: queue.Queue[EventsAck] = queue.Queue()   # from the paho thread to step()
        self.acknowledged = 0
        self.resent: list[int] = []
        self._inflight: dict[int, _Inflight] = {}      # mid -> row
        self._inflight_seqs: set[int] = set()
        self._hold_until = 0.0
        self._connected = threading.Event()
        self._last_heartbeat = 0.0
        self.last_puback_at = None
        self.delivered = 0
        self.alerts: list[str] = []
        self._client = self._make_client()

    # ------------------------------------------------------------ paho wiring
    def _make_client(self) -> mqtt.Client:
        s = self.s
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=s.client_id or f"edge-{s.school}",
                             protocol=mqtt.MQTTv5, manual_ack=True)
        client.username_pw_set(s.username or s.school, s.password.get_secret_value() if s.password else None)
        if s.tls_ca:
            client.tls_set(ca_certs=str(s.tls_ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.max_inflight_messages_set(s.window)
        client.reconnect_delay_set(min_delay=1, max_delay=15)
        client.will_set(status_topic(s.school), Offline(school=s.school).model_dump_json(), qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.s.session_expiry_s
        return props

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        now = time.monotonic()
        for item in self._inflight.values():  # paho re-sends them now; restart their timers
            item.sent = now
        client.subscribe(control_topic(self.s.school), qos=1)
        self._connected.set()
        self._last_heartbeat = 0.0

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self._acks.put((mid, reason_code.value if hasattr(reason_code, "value") else int(reason_code)))

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        try:
            control = decode_control(msg.topic, msg.payload, self.s.school, self.s.key)
        except ProtocolError as exc:
            log.warning("ignored control message: %s", exc)
            client.ack(msg.mid, msg.qos)  # a bad message never becomes good: do not get it redelivered
            return
        if control.kind is ControlKind.EVENTS_ACK:
            self._central_acks.put(control.ack)  # applied to the outbox by step() (its own connection)
            client.ack(msg.mid, msg.qos)
            return
        try:
            if self.on_control:
                self.on_control(control)
        except Exception:  # noqa: BLE001 - leave it unacknowledged; it comes back after a reconnect
            log.exception("control handler failed for %s", control.kind)
            return
        client.ack(msg.mid, msg.qos)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._client.connect_async(self.s.host, self.s.port, keepalive=self.s.keepalive_s,
                                   clean_start=False, properties=self._connect_properties())
        self._client.loop_start()

    def stop(self, graceful: bool = True) -> None:
        if graceful and self._connected.is_set():
            info = self._client.publish(status_topic(self.s.school), Offline(school=self.s.school).model_dump_json(),
                                        qos=1, retain=True)
            info.wait_for_publish(timeout=2)
        self._client.disconnect()
        self._client.loop_stop()
        self._flush_acks()
        self.conn.close()

    def run(self, stop: threading.Event) -> None:
        self.start()
        try:
            while not stop.is_set():
                try:
                    self.step()
                except Exception:  # noqa: BLE001 - e.g. a locked/full disk: the outbox keeps the rows, retry
                    log.exception("MQTT link step failed; retrying")
                    stop.wait(1.0)
        finally:
            self.stop()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    # ------------------------------------------------------------ one turn of the loop
    def step(self) -> None:
        done: list[int] = []
        try:
            mid, code = self._acks.get(timeout=self.s.poll_s)
            self._handle_ack(mid, code, done)
        except queue.Empty:
            pass
        self._flush_acks(done)
        self._apply_central_acks()
        if self._connected.is_set():
            self._expire_stale()
            self._fill_window()
            if time.monotonic() - self._last_heartbeat >= self.s.heartbeat_s:
                self.publish_heartbeat()

    def _flush_acks(self, done: list[int] | None = None) -> None:
        done = [] if done is None else done
        while True:
            try:
                mid, code = self._acks.get_nowait()
            except queue.Empty:
                break
            self._handle_ack(mid, code, done)
        self._mark(done)

    def _handle_ack(self, mid: int, code: int, done: list[int]) -> None:
        item = self._inflight.pop(mid, None)
        if item is None:
            return  # heartbeat, or a row already given up on and republished
        self._inflight_seqs.difference_update(item.seqs)
        if code < 0x80 and code != NO_MATCHING_SUBSCRIBERS:
            done.extend(item.seqs)
            return
        reason = "no subscriber on the events topic" if code == NO_MATCHING_SUBSCRIBERS else f"reason code {code:#x}"
        alert = f"broker did not take events: {reason}"
        if time.monotonic() >= self._hold_until:  # log once per back-off, not once per message
            log.warning("%s (seq %d..%d); retrying in %.1f s", alert, item.seqs[0], item.seqs[-1],
                        self.s.retry_backoff_s)
            self._hold_until = time.monotonic() + self.s.retry_backoff_s
        if alert not in self.alerts:
            self.alerts = (self.alerts + [alert])[-5:]

    def _apply_central_acks(self) -> None:
        while True:
            try:
                ack = self._central_acks.get_nowait()
            except queue.Empty:
                return
            self.acknowledged += self.outbox.mark_acked(ack.held)
            if ack.checked is not None:
                missing = self.outbox.mark_missing(ack.checked, ack.held,
                                                   time.time() - self.s.central_ack_timeout_s)
                if missing:
                    log.warning("central server lacks %d events the broker had taken (seq %d..%d); sending again",
                                len(missing), missing[0], missing[-1])
                    self.resent += missing

    def _mark(self, seqs: list[int]) -> None:
        if seqs:
            self.outbox.mark_sent(seqs)
            self.delivered += len(seqs)
            self.last_puback_at = utcnow()
            self.alerts = [a for a in self.alerts if not a.startswith("broker did not take")]

    def _expire_stale(self) -> None:
        limit = time.monotonic() - self.s.ack_timeout_s
        for mid, item in list(self._inflight.items()):
            if item.sent < limit:  # no PUBACK while connected: give up on this mid, publish the rows again
                del self._inflight[mid]
                self._inflight_seqs.difference_update(item.seqs)

    def _fill_window(self) -> None:
        room = self.s.window - len(self._inflight)
        if room <= 0 or time.monotonic() < self._hold_until:
            return
        per_message = max(1, min(self.s.batch_max, BATCH_MAX_EVENTS))
        rows = [r for r in self.outbox.pending(0, room * per_message + len(self._inflight_seqs))
                if r[0] not in self._inflight_seqs]
        now = time.monotonic()
        for chunk in _chunks(rows, per_message):
            if room <= 0:
                break
            seqs = [seq for seq, _ in chunk]
            body = chunk[0][1] if len(chunk) == 1 else encode_event_batch([b for _, b in chunk])
            info = self._client.publish(self._events_topic, body, qos=1)
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                break
            self._inflight[info.mid] = _Inflight(seqs, now)
            self._inflight_seqs.update(seqs)
            room -= 1

    # ------------------------------------------------------------ heartbeat
    def heartbeat(self) -> Heartbeat:
        backlog = self.outbox.backlog()
        extra = dict(self.status_extra() if self.status_extra else {})
        try:
            load = os.getloadavg()[0]
        except OSError:
            load = None
        unacked = self.outbox.unacked_range(time.time() - self.s.central_ack_timeout_s)
        return Heartbeat(
            school=self.s.school, sent_at=utcnow(), agent_version=self.s.agent_version,
            unacked_from=unacked[0] if unacked else None, unacked_to=unacked[1] if unacked else None,
            outbox_backlog=backlog.unsent, outbox_oldest_age_s=backlog.oldest_age_s,
            outbox_alerts=backlog.alerts + self.alerts + list(extra.pop("alerts", [])),
            last_puback_at=self.last_puback_at, cpu_load_1m=load,
            disk_free_bytes=shutil.disk_usage(Path(self.s.db_path).resolve().parent).free, **extra)

    def publish_heartbeat(self) -> None:
        self._last_heartbeat = time.monotonic()
        self._client.publish(status_topic(self.s.school), self.heartbeat().model_dump_json(), qos=1, retain=True)


def _chunks(rows: list[tuple[int, bytes]], per_message: int) -> list[list[tuple[int, bytes]]]:
    """Consecutive rows packed into messages of at most `per_message` events and MAX_PAYLOAD_BYTES bytes."""
    out: list[list[tuple[int, bytes]]] = []
    size = 0
    for row in rows:
        cost = len(row[1]) + 1
        if not out or len(out[-1]) >= per_message or size + cost > MAX_PAYLOAD_BYTES - 64:
            out.append([])
            size = 32
        out[-1].append(row)
        size += cost
    return out


def main() -> int:  # pragma: no cover - exercised by the fault tests as a subprocess
    logging.basicConfig(level=os.environ.get("EDGE_LOG_LEVEL", "WARNING"))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    Link(MqttLinkSettings()).run(stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
