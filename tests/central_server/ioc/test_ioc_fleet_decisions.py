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
    assert fa["cameras"] == [{"camera_id": "lop-10a1", "fps": 14.8, "online": True, "face_tracks": None,
                              "small_face_share": None, "faces_too_small": False}]  # an agent that does not count
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


def _beat_on(school, day: dt.date, since: dt.datetime, accepted: int, review: int, unknown: int = 0) -> bytes:
    sent = dt.datetime.combine(day, dt.time(9), dt.UTC)
    return Heartbeat(school=school.code, sent_at=sent, outbox_backlog=0,
                     recognitions={"day": day, "since": since, "accepted": accepted, "review": review,
                                   "unknown": unknown}).model_dump_json().encode()


def test_camera_review_share_doubling_week_over_week_alerts_that_school_only(world, db, run_tick, settings):
    """The heartbeats' daily counts are kept (one row per agent run, never lowered by a late old heartbeat); a
    school whose cameras send twice last week's share to review gets the review_doubling alert, the other not."""
    from sqlalchemy import select

    from central_server.ingest.tables import EdgeDecisionDay
    from central_server.ioc.tables import IocAlert

    a, b = world["a"], world["b"]
    today = utcnow().astimezone(ZoneInfo(settings.timezone)).date()
    last_week = today - dt.timedelta(days=7)
    morning = dt.datetime.combine(today, dt.time(0, 30), dt.UTC)
    beats = [
        (a, last_week, dt.datetime.combine(last_week, dt.time(0), dt.UTC), 45, 5),   # 10 % to review
        (b, last_week, dt.datetime.combine(last_week, dt.time(0), dt.UTC), 45, 5),
        (a, today, morning, 20, 6),                                                 # first run of the day ...
        (a, today, morning + dt.timedelta(hours=3), 14, 4),                         # ... restarted: a new row
        (a, today, morning, 10, 2),                                                 # late, older: ignored
        (b, today, morning, 36, 4),                                                 # 10 % again
    ]
    assert store_status(db, [(status_topic(s.code), _beat_on(s, d, since, acc, rev))
                             for s, d, since, acc, rev in beats]) == len(beats)
    db.commit()
    rows = {(r.school, r.day, r.since.replace(tzinfo=dt.UTC) if r.since.tzinfo is None else r.since):
            (r.accepted, r.review) for r in db.scalars(select(EdgeDecisionDay))}
    assert rows[(a.code, today, morning)] == (20, 6) and len(rows) == 5
    run_tick()
    db.expire_all()
    alerts = list(db.scalars(select(IocAlert).where(IocAlert.rule_code == "review_doubling")))
    assert [al.school_id for al in alerts] == [a.id]  # (6 + 4) / 44 = 23 % against 10 %: 2.3 times
    assert "camera gửi 23% lượt nhận diện" in alerts[0].message and "tuần trước 10%" in alerts[0].message

    # an edge clock far ahead: its counts are not kept
    ahead = today + dt.timedelta(days=5)
    bad = Heartbeat(school=b.code, sent_at=utcnow(), outbox_backlog=0,
                    recognitions={"day": ahead, "since": utcnow(), "accepted": 1, "review": 9, "unknown": 0})
    assert store_status(db, [(status_topic(b.code), bad.model_dump_json().encode())]) == 1
    db.commit()
    assert db.scalar(select(EdgeDecisionDay).where(EdgeDecisionDay.day == ahead)) is None


def test_teacher_correction_share_doubling_alerts_that_school_only(world, db, apply, ev, run_tick, settings):
    """The same rule on the teachers' side: school A's teachers correct 1 camera proposal in 8 last week and 1 in
    3 this week (24 proposals each); school B's share stays."""
    from sqlalchemy import select

    from central_server.ioc.tables import IocAlert

    a, b, s = world["a"], world["b"], world["students"]
    today = world["today"]
    for day, corrected in ((today - dt.timedelta(days=7), 3), (today, 8)):
        events, n = [], 0
        for st in s:
            school = a if st.school_id == a.id else b
            for sess in ("morning", "afternoon"):
                events.append(ev(school.code, st.personal_id, day, "present", "attendance.proposed", session=sess))
                if school is a and n < corrected:
                    events.append(ev(school.code, st.personal_id, day, "K", "attendance.corrected", session=sess))
                    n += 1
        apply(*events)
    run_tick()
    db.expire_all()
    alerts = list(db.scalars(select(IocAlert).where(IocAlert.rule_code == "review_doubling")))
    assert [al.school_id for al in alerts] == [a.id]
    assert "giáo viên sửa 33% kết quả nhận diện tuần này (tuần trước 12%)" in alerts[0].message



def _beat_cameras(school, cameras: list[dict]) -> bytes:
    return Heartbeat(school=school.code, sent_at=utcnow(), outbox_backlog=0, cameras=cameras).model_dump_json().encode()


def test_camera_hung_too_far_is_flagged_in_the_fleet_for_its_school_only(world, db, client_for):
    """The placement check reaches the operations centre: school A's door camera sees faces of at most 60 px in
    162 of its latest 167 tracks (the walk-by's default scene, benchmarks/RESULTS.md placement_check) and is
    flagged; its corridor camera (15 of 166) and school B's camera are not; a camera with too few tracks gets no
    verdict; a heartbeat claiming more small tracks than tracks is refused and changes nothing."""
    a, b = world["a"], world["b"]
    assert store_status(db, [
        (status_topic(a.code), _beat_cameras(a, [
            {"camera_id": "cua-10a1", "fps": 5.0, "face_tracks": 167, "small_face_tracks": 162},
            {"camera_id": "hanh-lang", "fps": 5.0, "face_tracks": 166, "small_face_tracks": 15},
            {"camera_id": "cong-sau", "fps": 5.0, "face_tracks": 12, "small_face_tracks": 12},
            {"camera_id": "moi-lap", "fps": 5.0, "face_tracks": 0, "small_face_tracks": 0}])),
        (status_topic(b.code), _beat_cameras(b, [
            {"camera_id": "cua-10b1", "fps": 5.0, "face_tracks": 171, "small_face_tracks": 12}]))]) == 2
    db.commit()
    province = client_for(world["users"]["province_staff"])
    cams = {c["camera_id"]: c for c in _fleet(province, a.id)["cameras"]}
    assert cams["cua-10a1"]["faces_too_small"] is True and cams["cua-10a1"]["small_face_share"] == 162 / 167
    assert cams["hanh-lang"]["faces_too_small"] is False and cams["hanh-lang"]["face_tracks"] == 166
    assert cams["cong-sau"]["faces_too_small"] is False and cams["cong-sau"]["small_face_share"] == 1.0
    assert (cams["moi-lap"]["face_tracks"], cams["moi-lap"]["small_face_share"]) == (0, None)  # counted, none yet
    assert [c["faces_too_small"] for c in _fleet(province, b.id)["cameras"]] == [False]

    page = province.get(f"/ioc/schools/{a.id}")
    assert page.status_code == 200
    flagged = page.text.split('data-camera="cua-10a1"')[1].split('data-camera="hanh-lang"')[0]
    assert "moi-lap: 5.0 khung/giây</span>" in page.text  # no share before its first track
    assert "97 % trong 167 vệt gần nhất có khuôn mặt ≤ 60 px" in flagged and "cần chỉnh vị trí camera" in flagged
    assert page.text.count("cần chỉnh vị trí camera") == 1
    assert "cần chỉnh vị trí camera" not in province.get(f"/ioc/schools/{b.id}").text

    # every role: the province sees the verdict of every school, A's admin A's only, B's admin B's only (not A's
    # cameras, not A's page), the teacher no fleet at all
    for role, sees_a, sees_b in (("province_admin", True, True), ("province_staff", True, True),
                                 ("school_admin", True, False), ("school_admin_b", False, True),
                                 ("teacher", None, None)):
        client = client_for(world["users"][role])
        r = client.get("/api/ioc/fleet")
        if sees_a is None:
            assert r.status_code == 403, (role, r.status_code)
            assert client.get(f"/api/ioc/schools/{a.id}").status_code == 403
            continue
        fleet = {f["school_id"]: f for f in r.json()}
        assert (a.id in fleet, b.id in fleet) == (sees_a, sees_b), role
        if sees_a:
            assert [c["camera_id"] for c in fleet[a.id]["cameras"] if c["faces_too_small"]] == ["cua-10a1"]
        else:
            assert client.get(f"/ioc/schools/{a.id}").status_code in (403, 404)
            assert client.get(f"/api/ioc/schools/{a.id}").status_code in (403, 404)

    before = db.get(EdgeStatus, b.code).payload
    bad = json.loads(_beat_cameras(b, [{"camera_id": "cua-10b1", "fps": 5.0, "face_tracks": 10,
                                        "small_face_tracks": 9}]))
    bad["cameras"][0]["small_face_tracks"] = 11
    assert store_status(db, [(status_topic(b.code), json.dumps(bad).encode())]) == 0
    db.commit()
    db.expire_all()
    assert db.get(EdgeStatus, b.code).payload == before


def test_camera_hung_too_far_opens_an_ioc_alert_that_resolves_when_the_camera_is_moved(world, db, client_for,
                                                                                         run_tick):
    """The IOC rule camera_faces_small: one alert per flagged camera (school A's door camera), none for the
    others, deduplicated, seen by the province and A only, resolved by itself once the camera's latest tracks
    are large; its threshold is data that only a province admin changes, and the fleet's flag follows it."""
    from sqlalchemy import select

    from central_server.ioc.tables import IocAlert

    a, b, users = world["a"], world["b"], world["users"]

    def beat(school, cameras):
        assert store_status(db, [(status_topic(school.code), _beat_cameras(school, [
            {"camera_id": cam, "fps": 5.0, "face_tracks": n, "small_face_tracks": k} for cam, n, k in cameras]))])
        db.commit()

    def alerts():
        db.expire_all()
        return list(db.scalars(select(IocAlert).where(IocAlert.rule_code == "camera_faces_small")
                               .order_by(IocAlert.id)))

    beat(a, [("cua-10a1", 167, 162), ("hanh-lang", 166, 15), ("cong-sau", 12, 12)])
    beat(b, [("cua-10b1", 171, 12)])
    run_tick()
    run_tick()  # the same heartbeats again: no second alert
    [alert] = alerts()
    assert (alert.school_id, alert.subject, alert.state, alert.value) == (a.id, f"camera:{a.id}:cua-10a1", "open",
                                                                          97.0)
    assert "Camera cua-10a1 của THPT Lê Lợi: 97% trong 167 vệt" in alert.message
    assert "đặt camera gần chỗ học sinh đi qua hơn" in alert.message

    seen = {role: client_for(users[role]).get("/api/ioc/alerts") for role in
            ("province_admin", "province_staff", "school_admin", "school_admin_b", "teacher")}
    codes = {role: [x["rule"] if "rule" in x else x.get("rule_code") for x in r.json()] if r.status_code == 200
             else r.status_code for role, r in seen.items()}
    assert codes["teacher"] == 403
    for role in ("province_admin", "province_staff", "school_admin"):
        assert "camera_faces_small" in codes[role], (role, codes[role])
    assert "camera_faces_small" not in codes["school_admin_b"]

    beat(a, [("cua-10a1", 170, 10), ("hanh-lang", 166, 15), ("cong-sau", 12, 12)])  # moved: faces are large now
    run_tick()
    assert [x.state for x in alerts()] == ["resolved"]

    # the threshold is the province admin's: at 5 % A's corridor camera (15 of 166, 9 %) and B's door camera
    # (12 of 171, 7 %) are flagged too
    for role in ("province_staff", "school_admin", "school_admin_b", "teacher"):
        assert client_for(users[role]).put("/api/ioc/rules/camera_faces_small",
                                           json={"threshold": 5}).status_code == 403
    admin = client_for(users["province_admin"])
    assert admin.put("/api/ioc/rules/camera_faces_small", json={"threshold": 0}).status_code == 422
    assert admin.put("/api/ioc/rules/camera_faces_small", json={"threshold": 5, "enabled": True}).status_code == 200
    run_tick()
    assert sorted(x.subject for x in alerts() if x.state == "open") == sorted(
        [f"camera:{a.id}:cua-10a1", f"camera:{a.id}:hanh-lang", f"camera:{b.id}:cua-10b1"])
    cams = {c["camera_id"]: c["faces_too_small"] for c in _fleet(admin, a.id)["cameras"]}
    assert cams == {"cua-10a1": True, "hanh-lang": True, "cong-sau": False}  # 12 tracks: too few to judge
    # switched off: no camera is flagged in the fleet, and the open alerts resolve
    assert admin.put("/api/ioc/rules/camera_faces_small", json={"threshold": 5, "enabled": False}).status_code == 200
    assert not any(c["faces_too_small"] for c in _fleet(admin, a.id)["cameras"])
    run_tick()
    assert {x.state for x in alerts()} == {"resolved"}
