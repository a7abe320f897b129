"""The ingest worker: a persistent MQTT v5 session that stores events and acknowledges only after commit.

- clean start off and a session expiry, so the broker queues events while the worker is down;
- paho `manual_ack=True`: a PUBACK is sent only after the batch holding the message is committed, so a
  crash between receive and commit loses nothing (the broker redelivers, the store is idempotent);
- messages are taken in batches (up to `batch_max` messages, `batch_max_bytes` or `batch_wait_s`), one
  transaction each; a message may itself carry a batch of up to 100 signed events from a school's backlog;
- the broker's DUP flag travels with each message, so a redelivery is never mistaken for a replay;
- a database error never drops a batch: it is retried until it commits; bad input is quarantined;
- several workers share the load with a shared subscription (`$share/<group>/...`) when `shared_group` is set;
  each worker has its own login and its client id is its user name (`central-ingest`, `central-ingest-2`, ...),
  so each keeps its own persistent session (hardware/mosquitto/acl);
- end-to-end acknowledgement: after each commit the schools are told which of their events the database holds,
  and heartbeats asking about old unacknowledged rows are answered (acks.py); the edge re-sends what is lacking.

Run it with `python -m central_server.ingest.worker` (settings from `CENTRAL_*` / `CENTRAL_INGEST_*`).
"""

from __future__ import annotations

import logging
import queue
import signal
import ssl
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from prometheus_client import start_http_server
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from central_server.core.config import get_settings
from central_server.core.db import make_engine, make_sessionmaker, utcnow
from central_server.core.logging import install_redaction
from central_server.ingest import acks, metrics
from central_server.ingest.config import IngestSettings
from central_server.ingest.service import ApplyFailed, ApplyFn, Incoming, KeyStore, store_batch
from central_server.ingest.status import store_status
from edge_agent.protocol import EVENTS_WILDCARD, STATUS_WILDCARD, Control, control_topic

log = logging.getLogger(__name__)


@dataclass
class _Msg:
    mid: int
    qos: int
    topic: str
    payload: bytes
    generation: int
    received_at: object
    dup: bool = False


class IngestWorker:
    def __init__(self, settings: IngestSettings, sessions: sessionmaker[Session], *, keys: KeyStore | None = None,
                 apply: ApplyFn | None = None):
        self.s = settings
        self.sessions = sessions
        self.keys = keys or KeyStore(sessions)
        self.apply = apply  # the modules' event handlers (central_server/events.py); None: store only
        self._q: queue.Queue[_Msg] = queue.Queue()
        self._stop = threading.Event()
        self._generation = 0
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        self.counts = {"stored": 0, "duplicate": 0, "quarantined": 0, "status": 0, "db_errors": 0, "acks_sent": 0}
        self._client = self._make_client()

    # ------------------------------------------------------------ MQTT
    def _make_client(self) -> mqtt.Client:
        s = self.s
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=s.client_id, protocol=mqtt.MQTTv5,
                             manual_ack=True)
        client.username_pw_set(s.username, s.password.get_secret_value() if s.password else None)
        if s.tls_ca:
            client.tls_set(ca_certs=str(s.tls_ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    def _topic(self, wildcard: str) -> str:
        return f"$share/{self.s.shared_group}/{wildcard}" if self.s.shared_group else wildcard

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the ingest worker: %s", reason_code)
            return
        self._generation += 1  # acks for messages of an older connection are not sent (they come again)
        client.subscribe([(self._topic(EVENTS_WILDCARD), 1), (self._topic(STATUS_WILDCARD), 1)])

    def _on_subscribe(self, client, userdata, mid, reason_code_list, properties) -> None:
        """Ready once the broker has granted both subscriptions (before that, events could find no subscriber)."""
        refused = [rc for rc in reason_code_list if rc.is_failure]
        if refused:
            log.error("broker refused the ingest worker's subscriptions: %s", ", ".join(map(str, refused)))
            return
        self._connected.set()
        metrics.CONNECTED.set(1)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()
        metrics.CONNECTED.set(0)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        self._q.put(_Msg(msg.mid, msg.qos, msg.topic, bytes(msg.payload), self._generation, utcnow(), bool(msg.dup)))

    def _ack(self, batch: list[_Msg]) -> None:
        gen = self._generation
        for m in batch:
            if m.qos > 0 and m.generation == gen:
                self._client.ack(m.mid, m.qos)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.s.session_expiry_s
        props.ReceiveMaximum = self.s.receive_maximum
        self._client.connect_async(self.s.host, self.s.port, keepalive=self.s.keepalive_s, clean_start=False,
                                   properties=props)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._process_loop, name="ingest", daemon=True)
        self._thread.start()

    def wait_connected(self, timeout: float) -> bool:
        """True once connected and subscribed (the broker has granted the events and status topics)."""
        return self._connected.wait(timeout)

    def stop(self) -> None:
        """Stop taking messages; what is not committed stays unacknowledged and comes back next time."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)
        self._client.disconnect()
        self._client.loop_stop()

    def run_forever(self) -> None:
        self.start()
        try:
            while not self._stop.wait(1.0):
                pass
        finally:
            self.stop()

    # ------------------------------------------------------------ processing
    def _take_batch(self) -> list[_Msg]:
        try:
            first = self._q.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        size = len(first.payload)
        deadline = time.monotonic() + self.s.batch_wait_s
        while len(batch) < self.s.batch_max and size < self.s.batch_max_bytes:  # a message may hold 100 events
            try:
                batch.append(self._q.get_nowait())
                size += len(batch[-1].payload)
            except queue.Empty:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    batch.append(self._q.get(timeout=left))
                    size += len(batch[-1].payload)
                except queue.Empty:
                    break
        return batch

    def _process_loop(self) -> None:
        while not self._stop.is_set():
            batch = self._take_batch()
            if batch:
                self._process(batch)

    def _process(self, batch: list[_Msg]) -> None:
        events = [m for m in batch if m.topic.endswith("/events")]
        statuses = [m for m in batch if not m.topic.endswith("/events")]
        items = [Incoming(m.topic, m.payload, m.received_at, m.dup) for m in events]
        isolate = False
        delay = 0.2
        started = time.perf_counter()
        while not self._stop.is_set():
            try:
                with self.sessions.begin() as session:
                    outcomes = store_batch(session, items, self.keys.get, self.apply, isolate_apply=isolate,
                                           replay_window_s=self.s.replay_window_s)
                    self.counts["status"] += store_status(session, [(m.topic, m.payload) for m in statuses])
                break
            except ApplyFailed:
                log.warning("apply_event failed inside a batch; storing the batch with per-event isolation")
                isolate = True
            except IntegrityError:
                log.info("concurrent insert by another worker; retrying the batch")  # re-read sees the rows
            except Exception:  # noqa: BLE001 - database down etc.: keep the batch, retry, never ack
                self.counts["db_errors"] += 1
                metrics.DB_ERRORS.inc()
                log.exception("ingest batch failed; retrying in %.1f s", delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)
        else:
            return  # stopping: nothing committed, nothing acknowledged
        for o in outcomes:
            self.counts[o.status] += 1
        metrics.count_outcomes(outcomes, self.keys.known)  # after the commit: a retried batch counts once
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        self._ack(batch)
        self._confirm(outcomes, [(m.topic, m.payload) for m in statuses])

    def _confirm(self, outcomes, statuses: list[tuple[str, bytes]]) -> None:
        """Committed: tell the schools what their database rows are (acks.py). Best effort: a lost ack only
        delays the edge's confirmation until a heartbeat asks again."""
        try:
            messages = acks.batch_acks(outcomes, self.keys.get)
            asked = acks.heartbeat_questions(statuses)
            if asked:
                with self.sessions() as session:
                    for school, window in asked.items():
                        key = self.keys.get(school)
                        if key is not None:
                            messages.append(acks.answer(session, school, window, key))
            self._publish(messages)
        except Exception:  # noqa: BLE001 - the events are committed; the edge asks again in its next heartbeat
            log.exception("could not send the end-to-end acknowledgements")

    def _publish(self, messages: list[Control]) -> None:
        for m in messages:
            info = self._client.publish(control_topic(m.school), m.to_bytes(), qos=1)
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                self.counts["acks_sent"] += 1


def main(apply: ApplyFn | None) -> int:  # pragma: no cover - run as a subprocess by the fault tests
    settings = IngestSettings()
    logging.basicConfig(level=settings.log_level)
    for handler in logging.getLogger().handlers:
        install_redaction(handler)  # personal ids in messages and tracebacks are logged hashed
    if settings.metrics_port is not None:  # this process's counters (ingest/metrics.py), one port per worker
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
    engine = make_engine(settings.database_url or get_settings().database_url)
    worker = IngestWorker(settings, make_sessionmaker(engine), apply=apply)
    signal.signal(signal.SIGTERM, lambda *_: worker._stop.set())
    signal.signal(signal.SIGINT, lambda *_: worker._stop.set())
    worker.run_forever()
    return 0


if __name__ == "__main__":
    # `python -m central_server.ingest.worker` (fault tests, sync benchmark) is a process of its own and needs a
    # composition root: the explicit list of event handlers. The one import that is not at the top, so that the
    # ingest package itself never depends on the modules that handle events (`central-server ingest run` is the
    # same in central_server/cli.py).
    from central_server.events import event_handler

    raise SystemExit(main(event_handler()))
