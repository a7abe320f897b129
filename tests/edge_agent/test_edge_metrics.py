"""The edge agent's Prometheus endpoint, scraped from a running `edge-agent run` that plays the demo school's
walk-by video through the real models: every family is there, and its values are those of the work done (the
frames analysed, faces detected and embedded, one track decided and proposed present, one event in the outbox)."""

from __future__ import annotations

import signal
import socket
import sqlite3
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

FAMILIES = {"edge_frames", "edge_detections", "edge_embeddings", "edge_decisions", "edge_camera_frames_captured",
            "edge_camera_streaming", "edge_attendance_records", "edge_stage_duration_seconds",
            "edge_mqtt_connected", "edge_outbox_unsent_events", "edge_outbox_oldest_unsent_age_seconds",
            "edge_face_track_width_pixels"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> dict:
    """{family name: {(sample name, frozenset(labels)): value}} of the exposition at 127.0.0.1:port."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode("utf-8")
    return {f.name: {(s.name, frozenset(s.labels.items())): s.value for s in f.samples}
            for f in text_string_to_metric_families(text)}


def value(families: dict, family: str, sample: str | None = None, **labels) -> float:
    want = set(labels.items())
    found = [v for (name, lab), v in families[family].items()
             if (sample is None or name == sample) and want <= set(lab)]
    assert found, f"no sample {sample or family} {labels} in {families[family]}"
    return sum(found)


@pytest.fixture(scope="module")
def demo(tmp_path_factory, model_store):
    from edge_agent.demo.e2e import build

    return build(tmp_path_factory.mktemp("school"), store=model_store)


def test_running_agent_exposes_its_work(demo, monkeypatch):
    from edge_agent.demo.e2e import start_service, wait_until_played

    port = free_port()
    monkeypatch.setenv("EDGE_METRICS__PORT", str(port))
    monkeypatch.setenv("EDGE_METRICS__HOST", "127.0.0.1")
    proc = start_service(demo)
    try:
        health = wait_until_played(demo, proc, timeout=180)
        m = scrape(port)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert FAMILIES <= set(m), FAMILIES - set(m)
    school, cam = {"school": "THPT-DEMO"}, {"school": "THPT-DEMO", "camera": "a101-door"}
    frames = health["recognition"]["frames"]
    assert frames > 0 and value(m, "edge_frames", **cam) == frames  # analysed: at most max_fps of the 48
    assert value(m, "edge_camera_frames_captured", **cam) == 48
    assert value(m, "edge_detections", **cam) >= frames / 2, "the walk-by shows a face in most frames"
    assert value(m, "edge_embeddings", **cam) >= 3
    assert value(m, "edge_decisions", outcome="accept", **cam) >= 1
    assert value(m, "edge_attendance_records", outcome="proposed_present", **school) == 1
    # the detector ran on every analysed frame; the embedder and the matcher on the frames that needed them
    assert value(m, "edge_stage_duration_seconds", "edge_stage_duration_seconds_count", stage="detect", **cam) == frames
    for stage in ("embed", "match"):
        assert value(m, "edge_stage_duration_seconds", "edge_stage_duration_seconds_count", stage=stage, **cam) >= 1
        assert value(m, "edge_stage_duration_seconds", "edge_stage_duration_seconds_sum", stage=stage, **cam) > 0
    # every face track that ended is counted by its widest face (each decided track among them); the demo's
    # walkers are pasted 110-120 px tall, wider than the 60 px of hardware/README.md, so none is in that bucket
    decided = sum(v for (name, lab), v in m["edge_decisions"].items() if dict(lab).get("camera") == "a101-door")
    width = "edge_face_track_width_pixels"
    tracks = value(m, width, f"{width}_count", **cam)
    assert tracks >= decided >= 1
    assert value(m, width, f"{width}_bucket", le="+Inf", **cam) == tracks
    assert value(m, width, f"{width}_bucket", le="60.0", **cam) == 0
    assert 0.6 * 110 <= value(m, width, f"{width}_sum", **cam) / tracks <= 1.1 * 120
    # the demo has no broker: the proposal's event waits in the outbox, as the school database says
    conn = sqlite3.connect(demo.db)
    unsent = conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]
    conn.close()
    assert unsent == 1 and value(m, "edge_outbox_unsent_events", **school) == unsent
    assert value(m, "edge_outbox_oldest_unsent_age_seconds", **school) > 0
    assert value(m, "edge_mqtt_connected", **school) == 0


def test_metrics_port_taken_does_not_stop_the_agent(tmp_path):
    """A port already in use is logged; the agent (and its attendance) runs on without the endpoint."""
    from edge_agent.metrics import EdgeMetrics

    class Idle:
        workers: list = []
        outcomes: dict = {}

        def mqtt_connected(self) -> bool:
            return False

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        metrics = EdgeMetrics("THPT-X", tmp_path / "none.sqlite3", Idle())
        assert metrics.serve("127.0.0.1", taken) is False
    metrics.stop()
