"""Today's camera decisions (named / sent to review / unknown) travel in the edge heartbeat, are stored by the
ingest's status path and shown per school in the IOC fleet: the share sent to review; yesterday's counts are not
today's; a heartbeat with impossible counts is refused and changes nothing; a school sees only itself."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

from central_server.core.db import utcnow
from central_server.ingest.status import store_status
from central_server.ingest.tables import EdgeStatus
from edge_agent.protocol import Heartbeat, status_topic


def _beat(school, day: dt.date, accepted: int, review: int, unknown: int) -> bytes:
    now = utcnow()
    return Heartbeat(school=school.code, sent_at=now, outbox_backlog=0, gallery_version="4",
                     model_versions={"w600k_mbf": "1a2b3c4d5e6f"},
                     cameras=[{"camera_id": "lop-10a1", "fps": 14.8, "online": True, "last_frame_at": now}],
                     recognitions={"day": day, "since": now - dt.timedelta(hours=2), "accepted": accepted,
                                   "review": review, "unknown": unknown}).model_dump_json().encode()


def _fleet(client, school_id):
    r = client.get("/api/ioc/fleet")
    assert r.status_code == 200, r.text
    return {f["school_id"]: f for f in r.json()}.get(school_id)


def test_decisions_today_in_the_fleet(world, db, client_for, settings):
    a, b = world["a"], world["b"]
    today = utcnow().astimezone(ZoneInfo(settings.timezone)).date()
    assert store_status(db, [(status_topic(a.code), _beat(a, today, accepted=36, review=4, unknown=2)),
                             (status_topic(b.code), _beat(b, today - dt.timedelta(days=1), 30, 10, 0))]) == 2
    db.commit()

    province = client_for(world["users"]["province_staff"])
    fa = _fleet(province, a.id)
    assert fa["decisions_today"]["day"] == today.isoformat()
    assert (fa["decisions_today"]["accepted"], fa["decisions_today"]["review"], fa["decisions_today"]["unknown"]) \
        == (36, 4, 2)
    assert fa["decisions_today"]["review_share"] == 4 / 40
    assert fa["cameras"] == [{"camera_id": "lop-10a1", "fps": 14.8, "online": True}]
    assert (fa["gallery_version"], fa["model_versions"]) == ("4", {"w600k_mbf": "1a2b3c4d5e6f"})
    assert _fleet(province, b.id)["decisions_today"] is None  # yesterday's heartbeat says nothing of today

    page = province.get(f"/ioc/schools/{a.id}")
    assert page.status_code == 200 and "tỉ lệ chờ xem lại 10.0 %" in page.text

    # impossible counts: the status is refused (logged), the stored one stays
    before = db.get(EdgeStatus, a.code).payload
    bad = json.loads(_beat(a, today, 1, 1, 1))
    bad["recognitions"]["review"] = -5
    assert store_status(db, [(status_topic(a.code), json.dumps(bad).encode())]) == 0
    db.commit()
    db.expire_all()
    assert db.get(EdgeStatus, a.code).payload == before

    # school B's admin sees B only
    admin_b = client_for(world["users"]["school_admin_b"])
    assert _fleet(admin_b, a.id) is None and _fleet(admin_b, b.id) is not None
