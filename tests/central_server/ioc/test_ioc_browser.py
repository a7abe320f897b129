"""The IOC pages in headless Chromium: province grid coloured by state with drill-down, alerts acknowledged
through the form, rules edited by the province admin, the public view. A screenshot of each page at desktop
(1366x900) and phone (390x844) width is kept in tests/artifacts/ioc/ (git-ignored)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from central_server.core.db import utcnow
from central_server.ingest.tables import EdgeStatus
from central_server.ioc.config import IocSettings
from tests.central_server.browser_kit import chromium, needs_chromium, served, sign_in

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "ioc"
SIZES = {"desktop": (1366, 900), "phone": (390, 844)}

pytestmark = needs_chromium


@pytest.fixture()
def live_url(app):
    with served(app) as url:
        yield url


@pytest.fixture()
def browser(tmp_path):
    with chromium(tmp_path / "chrome-profile", 1366, 900) as driver:
        yield driver


_login = sign_in


def _shots(browser, name: str, tag: str) -> None:
    """Screenshots at desktop and phone width; the page never scrolls sideways."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for size, (w, h) in SIZES.items():
        browser.set_window_size(w, h)
        browser.refresh()
        width = browser.execute_script("return window.innerWidth")
        assert browser.execute_script("return document.documentElement.scrollWidth") <= width, (name, size)
        browser.save_screenshot(str(ARTIFACTS / f"{name}-{size}-{tag}.png"))
    browser.set_window_size(*SIZES["desktop"])


def _heartbeat(db, school, seen):
    payload = {"state": "online", "school": school.code, "sent_at": seen.isoformat(), "outbox_backlog": 3,
               "outbox_oldest_age_s": 40, "gallery_version": "g-12", "model_versions": {"sface": "2021dec"},
               "cameras": [{"camera_id": "cam-10A1", "fps": 9.5, "online": True}]}
    db.add(EdgeStatus(school=school.code, state="online", last_seen_at=seen, outbox_backlog=3,
                      payload=json.dumps(payload)))
    db.commit()


def test_ioc_pages_end_to_end(world, db, db_url, apply, ev, run_tick, live_url, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.browser_wait import page_replaced

    tag = "pg" if db_url.startswith("postgresql") else "sqlite"
    a, b, s = world["a"], world["b"], world["students"]
    today = world["today"]
    day = today
    for _ in range(16):  # s0 absent 16 school days in a row; the rest present
        while day.weekday() >= 5:
            day -= dt.timedelta(days=1)
        for sess in ("morning", "afternoon"):
            apply(ev(a.code, s[0].personal_id, day, "K", session=sess),
                  *[ev(a.code, st.personal_id, day, "present", session=sess) for st in s[1:12]],
                  *[ev(b.code, st.personal_id, day, "present", session=sess) for st in s[12:]])
        day -= dt.timedelta(days=1)
    _heartbeat(db, a, utcnow())
    _heartbeat(db, b, utcnow() - dt.timedelta(hours=2))
    run_tick(ioc=IocSettings(_env_file=None, run_job=False, school_weekdays=list(range(7)),
                             school_hours_start="00:00", school_hours_end="23:59:59"))

    _login(browser, live_url, "so_canbo")
    browser.get(f"{live_url}/ioc")
    cells = {e.get_attribute("data-school"): e.get_attribute("data-state")
             for e in browser.find_elements(By.CSS_SELECTOR, "#school-grid .school-cell")}
    assert cells == {a.code: "amber", b.code: "red"}  # A: open alerts; B: edge offline
    assert browser.find_element(By.ID, "tile-students").get_attribute("data-value") == "16.0"
    assert browser.find_element(By.ID, "tile-dropout_streak").get_attribute("data-value") == "1.0"
    assert browser.find_elements(By.CSS_SELECTOR, "svg.ioc-chart circle.point")
    _shots(browser, "overview", tag)
    browser.find_element(By.CSS_SELECTOR, f'.school-cell[data-school="{a.code}"]').click()
    assert browser.find_element(By.ID, "fleet-state").get_attribute("data-state") == "online"
    assert "cam-10A1: 9.5" in browser.find_element(By.ID, "fleet").text
    classes = browser.find_element(By.ID, "classes-table").text
    assert "10A1" in classes and "10A2" in classes
    _shots(browser, "school", tag)
    browser.get(f"{live_url}/ioc/rules")
    assert not browser.find_elements(By.CSS_SELECTOR, "#rules-table form")  # staff read the rules only
    _shots(browser, "rules", tag)

    # the school admin of A acknowledges the dropout alert of their school with a note
    _login(browser, live_url, "admin_a")
    browser.get(f"{live_url}/ioc/alerts")
    rows = browser.find_elements(By.CSS_SELECTOR, "#alerts-table tr.alert-row")
    texts = " ".join(r.text for r in rows)
    assert s[0].full_name in texts and b.name not in texts
    row = next(r for r in rows if "liên tục" in r.text)
    alert_id = row.get_attribute("data-alert")
    row.find_element(By.NAME, "note").send_keys("Đã gọi điện cho phụ huynh")
    old = browser.find_element(By.TAG_NAME, "html")
    row.find_element(By.CSS_SELECTOR, "form[action$='/ack'] button").click()
    WebDriverWait(browser, 15).until(page_replaced(old))
    browser.find_element(By.ID, "alerts-table")
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-alert="{alert_id}"]')
    assert row.get_attribute("data-state") == "acknowledged"
    assert "Lê Hiệu Phó (admin_a): Đã gọi điện cho phụ huynh" in row.text
    _shots(browser, "alerts", tag)
    browser.get(f"{live_url}/ioc/schools/{b.id}")
    assert browser.find_element(By.ID, "error-status").text == "Không có quyền truy cập"

    # the province admin edits a threshold through the form
    _login(browser, live_url, "so_admin")
    browser.get(f"{live_url}/ioc/rules")
    form = browser.find_element(By.CSS_SELECTOR, 'tr[data-rule="edge_offline"] form')
    field = form.find_element(By.NAME, "threshold")
    field.clear()
    field.send_keys("15")
    old = browser.find_element(By.TAG_NAME, "html")
    form.find_element(By.TAG_NAME, "button").click()
    WebDriverWait(browser, 15).until(page_replaced(old))  # else the old page's row may be read, then go stale
    row = browser.find_element(By.CSS_SELECTOR, 'tr[data-rule="edge_offline"]')
    assert row.find_element(By.NAME, "threshold").get_attribute("value") == "15" and "so_admin" in row.text

    # anyone: the public view, aggregates only, small cells hidden
    browser.delete_all_cookies()
    browser.get(f"{live_url}/ioc/public")
    table = browser.find_element(By.ID, "public-table").text
    assert "<5" in table and s[0].full_name not in table
    _shots(browser, "public", tag)
