"""The running edge service honours erasures: one made at the school (`enroll remove`, consent withdrawn) and
one requested by the central server over MQTT both leave the live gallery while the service runs."""

from __future__ import annotations

import time

import pytest
from conftest import CENTRAL_PASS, CENTRAL_USER, wait_until

from central_server.control.publisher import ControlPublisher
from central_server.control.service import erasure_message
from central_server.ingest.config import IngestSettings
from edge_agent.store import erasure_queue, school_db
from edge_agent.store.school_keys import read_key

pytestmark = [pytest.mark.mqtt]


def test_local_erasure_leaves_the_running_gallery(edge_service):
    service, demo, (obama, biden, _) = edge_service
    conn = school_db.connect(demo.db)
    with conn:  # what `enroll remove` leaves for the service (its own test covers the school database side)
        conn.execute("INSERT INTO erasure_queue (request_id, student_id, reason, requested_by, requested_at, "
                     "templates_removed, thumbnails_removed) VALUES ('ER-1', ?, 'rút đồng ý', 'it-staff', ?, 3, 0)",
                     (obama, school_db.now_iso()))
    assert [r.student_id for r in erasure_queue.pending(conn)] == [obama]
    school_db.close(conn)
    removed = service.apply_local_erasures()
    assert removed > 0 and obama not in service.gallery and biden in service.gallery
    assert service.apply_local_erasures() == 0  # applied once


def test_central_erasure_reaches_the_running_service_within_60s(edge_service, broker):
    service, demo, (obama, biden, _) = edge_service
    key = read_key(demo.workdir / "keys")
    central = IngestSettings(port=broker.port, username=CENTRAL_USER, password=CENTRAL_PASS, _env_file=None)
    t0 = time.monotonic()
    ControlPublisher(central).publish_now([erasure_message(service.s.school_code, key, biden, "DSR-2026-042")])
    wait_until(lambda: biden not in service.gallery, 60, msg="erasure in the running service's gallery")
    assert time.monotonic() - t0 < 60
    assert obama in service.gallery
