"""`make demo`'s whole chain, headless: the demo school's walk-by goes through `edge-agent run`, a private
Mosquitto built from hardware/mosquitto/, `central-server ingest run` into a central server started with demo
data, and the operations centre (IOC API, then the /ioc page) shows the school's attendance of today."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import time
from zoneinfo import ZoneInfo

import httpx
import pytest

from edge_agent.demo import broker as demo_broker
from edge_agent.demo.chain import SCHOOL, run_chain
from edge_agent.demo.e2e import OBAMA, TZ, free_port

needs_mosquitto = pytest.mark.skipif(
    not demo_broker.available(), reason="mosquitto / mosquitto_passwd not installed: make demo shows the kiosk only")
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def _login(client: httpx.Client, username: str, password: str) -> None:
    token = _CSRF.search(client.get("/login").text).group(1)
    r = client.post("/login", data={"username": username, "password": password, "next": "/ioc",
                                    "csrf_token": token})
    assert r.status_code == 303, r.text[:300]


def _school_view(client: httpx.Client, school_id: int, today: str, timeout: float = 30.0) -> dict:
    """The IOC API's view of the school once the IOC job (every second in `serve`) has folded today's marks and
    rewritten the school's tiles (the demo school has no generated marks: everything it shows came by MQTT)."""
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        body = client.get(f"/api/ioc/schools/{school_id}").raise_for_status().json()
        rate = next(t["value"] for t in body["tiles"] if t["key"] == "rate_day")
        if body["last_day"] == today and rate is not None:
            return body
        time.sleep(0.5)
    raise AssertionError(f"the IOC never showed {today} for {SCHOOL}: {body}")


def _fleet_with_decisions(client: httpx.Client, school_id: int, timeout: float = 75.0) -> dict:
    """The school's fleet entry once a heartbeat sent after the camera's decisions has arrived (the agent
    publishes its retained heartbeat every 30 s)."""
    deadline = time.monotonic() + timeout
    fleet: dict = {}
    while time.monotonic() < deadline:
        fleet = client.get(f"/api/ioc/schools/{school_id}").raise_for_status().json()["fleet"]
        if (fleet.get("decisions_today") or {}).get("accepted"):
            return fleet
        time.sleep(1.0)
    raise AssertionError(f"no heartbeat with today's decisions of {SCHOOL} reached the IOC: {fleet}")


@needs_mosquitto
def test_walk_by_reaches_the_province_ioc(tmp_path, model_store):
    lines: list[str] = []
    chain = run_chain(tmp_path, kiosk_port=free_port(), central_port=free_port(), use_broker=True,
                      store=model_store, say=lines.append)
    try:
        assert chain.broker is not None and chain.central is not None
        assert chain.events >= 1, "no event of the demo school reached the central database"
        today = dt.datetime.now(ZoneInfo(TZ)).date().isoformat()
        conn = sqlite3.connect(chain.central.db)
        rows = conn.execute("SELECT s.personal_id, h.status, h.day, h.applied FROM attendance_history h "
                            "JOIN students s ON s.id = h.student_id JOIN schools c ON c.id = s.school_id "
                            "WHERE c.code = ?", (SCHOOL,)).fetchall()
        conn.close()
        assert (OBAMA, "present", today, 1) in rows, rows   # the camera's proposal, applied centrally

        school_id = chain.school_id()
        with httpx.Client(base_url=chain.central.url, timeout=30) as client:
            first = client.get("/ioc", headers={"Accept": "text/html"})                # the printed URL: sign in first
            assert (first.status_code, first.headers["location"]) == (303, "/login?next=/ioc")
            _login(client, "so_admin", chain.central.password)
            view = _school_view(client, school_id, today)
            assert view["code"] == SCHOOL
            tiles = {t["key"]: t for t in view["tiles"]}
            assert tiles["rate_day"]["value"] == 1.0          # Obama's proposed presence: the one session held
            assert tiles["students"]["value"] == 3
            assert view["fleet"]["state"] == "online"          # the agent's heartbeat came through the broker
            fleet = _fleet_with_decisions(client, school_id)    # what the running agent reports of itself
            decisions = fleet["decisions_today"]
            assert decisions["day"] == today and decisions["accepted"] >= 1
            assert decisions["review_share"] == decisions["review"] / (decisions["accepted"] + decisions["review"])
            assert [c["camera_id"] for c in fleet["cameras"]] and all(c["fps"] >= 0 for c in fleet["cameras"])
            # the placement check travels too: the demo's faces are 110-120 px, so the camera is not flagged
            assert all(c["face_tracks"] is not None and not c["faces_too_small"] for c in fleet["cameras"])
            assert fleet["gallery_version"] and fleet["model_versions"]
            tenth_a1 = next(c for c in view["classes"] if c["code"] == "10A1")
            assert tenth_a1["rate_week"] == 1.0
            overview = client.get("/api/ioc/overview").raise_for_status().json()
            cell = next(s for s in overview["schools"] if s["id"] == school_id)
            assert (cell["code"], cell["rate_day"], cell["edge"]) == (SCHOOL, 1.0, "online")
            page = client.get("/ioc")
            assert page.status_code == 200 and "Trường THPT Demo" in page.text
        # the kiosk of the same run answers too
        kiosk = httpx.get(f"http://127.0.0.1:{chain.demo.kiosk_port}/", timeout=10, follow_redirects=True)
        assert kiosk.status_code == 200 and "PIN" in kiosk.text
        assert any("Mosquitto" in line for line in lines) and any("demo-data" in line for line in lines)
    finally:
        chain.stop()
    assert chain.alive() is not None          # everything stopped ...
    assert not chain.broker.dir.exists()      # ... and the broker's password file and folder are gone


def test_without_mosquitto_the_demo_says_so_and_shows_the_kiosk(tmp_path, monkeypatch, capsys):
    """`make demo` on a machine without the broker binary: it says so up front, runs the school side, prints the
    kiosk and that the province server does not run, and exits 0 (`--no-hold`)."""
    monkeypatch.setattr(demo_broker, "available", lambda: False)
    from edge_agent.demo.chain import main

    rc = main(["--workdir", str(tmp_path), "--port", str(free_port()), "--central-port", str(free_port()),
               "--no-hold"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "Không có `mosquitto`" in out and "apt-get install mosquitto" in out
    assert "Barack Obama    present" in out and "Kiosk giáo viên:  http://127.0.0.1:" in out
    assert "Máy chủ Sở: không chạy" in out and "/ioc" not in out.split("Kiosk giáo viên")[1]
    assert not (tmp_path / "central").exists()
