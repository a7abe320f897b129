"""Heartbeat on the retained status topic and the "offline" last will when the agent dies."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import PY, new_school, register, wait_until
from test_faults import start_worker

from central_server.ingest.tables import EdgeStatus

pytestmark = [pytest.mark.mqtt]
HERE = Path(__file__).resolve().parent


def _status(sessions, school):
    with sessions() as s:
        row = s.get(EdgeStatus, school)
        return None if row is None else (row.state, row.outbox_backlog, json.loads(row.payload))


def test_heartbeat_then_last_will_on_kill(broker, central_db, tmp_path):
    _, sessions = central_db
    school, key = new_school()
    register(sessions, school, key)
    broker.add_user(school, "pw")
    worker = start_worker(broker, sessions)
    proc = subprocess.Popen([PY, str(HERE / "edge_proc.py"), str(tmp_path / "e.sqlite3"), school, key.hex(),
                             str(broker.port), "pw", "0", "5"], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"ready"
        state, backlog, body = wait_until(lambda: _status(sessions, school), 10, msg="heartbeat")
        assert state == "online" and backlog is not None
        assert {"cpu_load_1m", "disk_free_bytes", "outbox_oldest_age_s", "gallery_version",
                "model_versions", "cameras"} <= set(body)
        proc.kill()  # no DISCONNECT: the broker publishes the last will
        proc.wait()
        wait_until(lambda: _status(sessions, school)[0] == "offline", 10, msg="last will")
    finally:
        proc.kill()
        worker.stop()
