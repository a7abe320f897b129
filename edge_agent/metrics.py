"""Prometheus metrics of the edge agent, served on their own port beside the kiosk (`[metrics]` in edge.toml).

Names follow `<program>_<thing>_<unit>` (program `edge`), labelled with the school and, per camera, the camera:
- counters read from the running pipelines at scrape time: `edge_frames_total` (frames analysed),
  `edge_detections_total`, `edge_embeddings_total`, `edge_decisions_total{outcome}` (one per decided track),
  `edge_camera_frames_captured_total`, and `edge_attendance_records_total{outcome}` (what the attendance
  rules made of the decisions);
- `edge_stage_duration_seconds{stage="detect|embed|match"}`, a histogram observed by the pipeline itself;
- `edge_face_track_width_pixels`, a histogram read from the pipelines at scrape time: face tracks that ended, by
  the width of their widest face in the analysed frame, the camera-placement check (alert EdgeCameraFacesTooSmall;
  hardware/README.md section 3 asks for >= 60 px);
- gauges computed at scrape time: `edge_camera_streaming`, `edge_outbox_unsent_events` and
  `edge_outbox_oldest_unsent_age_seconds` (read from the school database, 0 when nothing waits),
  `edge_mqtt_connected`.

The service is read through the small `MetricsSource` protocol (this module never imports the service).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from edge_agent.store import school_db
from edge_agent.sync.outbox import Outbox

log = logging.getLogger(__name__)
STAGES = ("detect", "embed", "match")


class CameraSource(Protocol):
    """What the collector reads of one camera worker (edge_agent/service.py's CameraWorker)."""

    camera: object          # .cfg.name, .health() -> CameraHealth
    pipeline: object        # .stats (frames, detections, embeddings), or None without a gallery
    decided: dict           # decision outcome -> count


class MetricsSource(Protocol):
    workers: list
    outcomes: dict

    def mqtt_connected(self) -> bool: ...


class EdgeCollector(Collector):
    def __init__(self, school: str, db_path: Path, source: MetricsSource):
        self.school = school
        self.db_path = db_path
        self.source = source

    def collect(self) -> Iterable[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        s = self.school
        cam = ["school", "camera"]
        frames = CounterMetricFamily("edge_frames", "Frames analysed by the recognition pipeline.", labels=cam)
        dets = CounterMetricFamily("edge_detections", "Faces detected in analysed frames.", labels=cam)
        embs = CounterMetricFamily("edge_embeddings", "Face embeddings computed.", labels=cam)
        decided = CounterMetricFamily("edge_decisions", "Tracks decided, by outcome.", labels=cam + ["outcome"])
        captured = CounterMetricFamily("edge_camera_frames_captured", "Frames read from the camera.", labels=cam)
        streaming = GaugeMetricFamily("edge_camera_streaming", "1 while the camera delivers frames.", labels=cam)
        face_px = HistogramMetricFamily("edge_face_track_width_pixels", "Face tracks that ended, by the width "
                                        "of their widest face in the analysed frame (pixels).", labels=cam)
        for w in list(self.source.workers):
            name = w.camera.cfg.name
            health = w.camera.health()
            captured.add_metric([s, name], health.frames)
            streaming.add_metric([s, name], 1.0 if health.state == "streaming" else 0.0)
            if w.pipeline is not None:
                st = w.pipeline.stats
                frames.add_metric([s, name], st.frames)
                dets.add_metric([s, name], st.detections)
                embs.add_metric([s, name], st.embeddings)
                tally = st.face_px
                face_px.add_metric([s, name], [(floatToGoString(b), n) for b, n in tally.cumulative()],
                                   sum_value=tally.total_px)
            for outcome, n in list(w.decided.items()):
                decided.add_metric([s, name, str(outcome)], n)
        yield from (frames, dets, embs, decided, captured, streaming, face_px)
        records = CounterMetricFamily("edge_attendance_records", "Decisions recorded by the attendance rules, "
                                      "by result.", labels=["school", "outcome"])
        for outcome, n in list(self.source.outcomes.items()):
            records.add_metric([s, str(outcome)], n)
        yield records
        yield self._gauge("edge_mqtt_connected", "1 while the MQTT link to the province broker is up.",
                          1.0 if self.source.mqtt_connected() else 0.0)
        yield from self._outbox()

    def _gauge(self, name: str, doc: str, value: float) -> GaugeMetricFamily:
        g = GaugeMetricFamily(name, doc, labels=["school"])
        g.add_metric([self.school], value)
        return g

    def _outbox(self) -> Iterable[GaugeMetricFamily]:
        try:
            conn = school_db.connect(self.db_path, migrate_schema=False, implicit_transactions=True)
        except (sqlite3.Error, OSError) as exc:
            log.warning("outbox metrics unavailable: %s", exc)
            return
        try:
            backlog = Outbox(conn).backlog()
        except sqlite3.Error as exc:  # e.g. locked beyond the busy timeout: the other metrics still answer
            log.warning("outbox metrics unavailable: %s", exc)
            return
        finally:
            conn.close()
        yield self._gauge("edge_outbox_unsent_events", "Events in the outbox not yet delivered.", backlog.unsent)
        yield self._gauge("edge_outbox_oldest_unsent_age_seconds", "Age of the oldest undelivered event (0: none).",
                          backlog.oldest_age_s or 0.0)


class EdgeMetrics:
    """The agent's registry: the stage histogram, the scrape-time collector, and the HTTP server."""

    def __init__(self, school: str, db_path: Path, source: MetricsSource):
        self.school = school
        self.registry = CollectorRegistry(auto_describe=False)
        self.stage_seconds = Histogram(
            "edge_stage_duration_seconds", "Time of one pipeline stage on one frame (detect, embed, match).",
            ["school", "camera", "stage"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))
        self.registry.register(EdgeCollector(school, db_path, source))
        self._server = None

    def stage_observer(self, camera: str) -> Callable[[str, float], None]:
        """The `on_stage` hook of one camera's pipeline."""
        children = {stage: self.stage_seconds.labels(self.school, camera, stage) for stage in STAGES}
        return lambda stage, seconds: children[stage].observe(seconds)

    def serve(self, host: str, port: int) -> bool:
        """Start the HTTP endpoint; a port that cannot be bound is logged and the agent runs on without it
        (attendance never stops for its metrics; Prometheus then reports the target down)."""
        try:
            self._server, _thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            log.error("metrics endpoint %s:%d not started: %s", host, port, exc)
            return False
        return True

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
