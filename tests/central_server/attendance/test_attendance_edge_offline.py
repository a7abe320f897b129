"""The province overview shows which schools' edge agents are offline, from the statuses the ingest worker
stores (`ingest/status.py store_status`): real heartbeats and last wills built with `edge_agent/protocol/`."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from central_server.core.db import utcnow
from central_server.ingest.status import store_status
from central_server.ingest.tables import EdgeStatus
from central_server.masterdata.service import create_school
from edge_agent.protocol import Heartbeat, Offline, status_topic

CODES = {"A": "94000801", "B": "94000802", "C": "94000803", "D": "94000804"}


def heartbeat(code: str, sent_at: dt.datetime, backlog: int = 0) -> tuple[str, bytes]:
    body = Heartbeat(school=code, sent_at=sent_at, agent_version="1.0", outbox_backlog=backlog)
    return status_topic(code), body.model_dump_json().encode()


def last_will(code: str, topic_code: str | None = None) -> tuple[str, bytes]:
    return status_topic(topic_code or code), Offline(school=code).model_dump_json().encode()


@pytest.fixture()
def schools(db, make_user):
    made = {k: create_school(db, code, f"THPT Thử {k}") for k, code in CODES.items()}
    db.commit()
    return made, make_user("so_admin", "province_admin"), make_user("admin_a", "school_admin",
                                                                    school_id=made["A"].id)


def api_states(client, headers) -> dict[str, str]:
    r = client.get("/api/attendance/overview", headers=headers)
    assert r.status_code == 200, r.text
    return {s["code"]: s["edge"] for s in r.json()["schools"]}


def page_states(browser) -> tuple[dict[str, str], str, str]:
    """(school code -> edge state shown in the table, the offline KPI, the offline list) of /overview."""
    r = browser.get("/overview")
    assert r.status_code == 200, r.text
    table = r.text[r.text.index('id="schools-table"'):]
    states = dict(re.findall(r'<tr data-school="(\d+)">.*?<td class="edge-(\w+)">', table, re.S))
    for code, state in states.items():
        cell = re.search(rf'<tr data-school="{code}">.*?</tr>', table, re.S).group(0)
        assert {"online": "Trực tuyến", "offline": "Mất kết nối", "never": "Chưa kết nối", "unknown": "Chưa rõ"}[
            state] in cell
    kpi = re.search(r'id="kpi-offline">(\d+)<', r.text).group(1)
    offline = re.search(r'id="offline-schools">.*?</section>', r.text, re.S)
    return states, kpi, offline.group(0) if offline else ""


def test_overview_marks_last_will_and_stale_heartbeat_offline(app, db, schools, client, bearer_for, client_for):
    made, admin, admin_a = schools
    threshold = app.state.settings.edge_offline_after_minutes
    now = utcnow()
    stored = store_status(db, [
        heartbeat(CODES["A"], now - dt.timedelta(seconds=30), backlog=3),
        heartbeat(CODES["B"], now - dt.timedelta(seconds=40)),
        last_will(CODES["B"]),                                               # B's agent vanished
        heartbeat(CODES["C"], now - dt.timedelta(minutes=threshold + 1)),    # C: heartbeats stopped
        last_will(CODES["A"], topic_code=CODES["D"]),                        # A's will on D's topic: ignored
        heartbeat(CODES["A"], dt.datetime(2020, 1, 1)),                      # no UTC offset: ignored
    ])
    db.commit()
    assert stored == 4
    assert db.get(EdgeStatus, CODES["A"]).outbox_backlog == 3 and db.get(EdgeStatus, CODES["D"]) is None

    h = bearer_for(admin)
    assert api_states(client, h) == {CODES["A"]: "online", CODES["B"]: "offline", CODES["C"]: "offline",
                                     CODES["D"]: "never"}
    browser = client_for(admin)
    states, kpi, offline = page_states(browser)
    assert states == {CODES["A"]: "online", CODES["B"]: "offline", CODES["C"]: "offline", CODES["D"]: "never"}
    assert kpi == "2"
    assert CODES["B"] in offline and CODES["C"] in offline and CODES["A"] not in offline
    assert "THPT Thử C" in offline and "tín hiệu cuối lúc" in offline
    # a school admin sees their own school only, with its state
    assert api_states(client, bearer_for(admin_a)) == {CODES["A"]: "online"}

    # the threshold is a setting: a longer one makes C's last heartbeat recent enough
    app.state.settings.edge_offline_after_minutes = threshold + 5
    assert api_states(client, h)[CODES["C"]] == "online"
    app.state.settings.edge_offline_after_minutes = threshold

    # B comes back (a fresh heartbeat replaces the retained will); A's agent dies
    assert store_status(db, [heartbeat(CODES["B"], utcnow()), last_will(CODES["A"])]) == 2
    db.commit()
    assert api_states(client, h) == {CODES["A"]: "offline", CODES["B"]: "online", CODES["C"]: "offline",
                                     CODES["D"]: "never"}
    states, kpi, offline = page_states(browser)
    assert (states[CODES["A"]], states[CODES["B"]], kpi) == ("offline", "online", "2")


def test_a_heartbeat_from_an_edge_clock_running_ahead_cannot_stay_online_forever(app, db, schools, client,
                                                                                   bearer_for):
    _, admin, _ = schools
    before = utcnow()
    assert store_status(db, [heartbeat(CODES["A"], before + dt.timedelta(days=1))]) == 1
    db.commit()
    db.expire_all()
    seen = db.get(EdgeStatus, CODES["A"]).last_seen_at
    assert before <= seen <= utcnow()  # stored as received now, so it goes stale after the threshold
    assert api_states(client, bearer_for(admin))[CODES["A"]] == "online"


def never_section(html: str) -> tuple[str, str]:
    """(the never-connected KPI, the never-connected list) of /overview."""
    kpi = re.search(r'id="kpi-never">(\d+)<', html).group(1)
    listed = re.search(r'id="never-schools">.*?</section>', html, re.S)
    return kpi, listed.group(0) if listed else ""


def test_agents_that_never_reported_are_counted_and_listed_as_not_connected(app, db, schools, client, bearer_for,
                                                                             client_for):
    made, admin, admin_a = schools
    # no status at all yet: every school's agent has never connected, none is "lost"
    h = bearer_for(admin)
    assert set(api_states(client, h).values()) == {"never"}
    browser = client_for(admin)
    html = browser.get("/overview").text
    states, kpi_offline, offline = page_states(browser)
    assert set(states.values()) == {"never"} and kpi_offline == "0" and offline == ""
    kpi, listed = never_section(html)
    assert kpi == "4"
    assert all(code in listed for code in CODES.values()) and "THPT Thử D" in listed
    assert "Chưa kết nối" in html

    # A reports once, B's last will arrives: 2 never connected, B lost, A online
    assert store_status(db, [heartbeat(CODES["A"], utcnow()), last_will(CODES["B"])]) == 2
    db.commit()
    html = browser.get("/overview").text
    kpi, listed = never_section(html)
    assert kpi == "2" and CODES["C"] in listed and CODES["D"] in listed
    assert CODES["A"] not in listed and CODES["B"] not in listed
    assert page_states(browser)[1] == "1"

    # a school admin counts their own school only
    html_a = client_for(admin_a).get("/overview").text
    assert never_section(html_a)[0] == "0"


def test_without_the_ingest_module_the_state_is_unknown_not_never(db, settings, schools):
    from central_server.attendance.reports import edge_status

    made, _, _ = schools
    settings.modules = ["core", "masterdata", "attendance"]
    states = edge_status(db, settings, list(made.values()), utcnow())
    assert set(s.state for s in states.values()) == {"unknown"}
