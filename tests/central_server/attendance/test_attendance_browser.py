"""The province web UI in headless Chromium: sign-in (wrong password too), drill-down, warnings, role limits.

Screenshots of every page land in the pytest tmp dir (1366x768, the target laptop screen).
"""

from __future__ import annotations

import datetime as dt

import pytest

from central_server.attendance.service import apply_event
from central_server.core.clock import local_today
from tests.central_server.browser_kit import chromium, needs_chromium, served, sign_in

pytestmark = needs_chromium


@pytest.fixture()
def live_url(app):
    with served(app) as url:
        yield url


@pytest.fixture()
def browser(tmp_path):
    with chromium(tmp_path / "chrome-profile", 1366, 768) as driver:
        yield driver


_login = sign_in


def _shot(browser, tmp_path, name):
    browser.save_screenshot(str(tmp_path / f"{name}.png"))


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_province_ui_end_to_end(world, db, settings, make_ev, live_url, browser, tmp_path):
    from selenium.webdriver.common.by import By

    s0, s1 = world["students"][0], world["students"][1]
    today = local_today()
    for i in range(24):  # 48 buổi for s0 (over 45), 31 for s1 (warning level 30)
        for sess in ("morning", "afternoon"):
            apply_event(db, make_ev("94000701", s0.personal_id, today - dt.timedelta(days=i), None,
                                    "P" if i % 2 else "K", session=sess), settings)
            if i * 2 + (sess == "afternoon") < 31:
                apply_event(db, make_ev("94000701", s1.personal_id, today - dt.timedelta(days=i), None, "P",
                                        session=sess), settings)
    db.commit()

    # wrong password: stays on the sign-in page with a clear message, no session
    _login(browser, live_url, "so_canbo", "sai-mat-khau")
    assert "không đúng" in browser.find_element(By.ID, "login-error").text
    assert browser.get_cookie("cs_session") is None
    _shot(browser, tmp_path, "login-error")

    # province staff: overview → school → class → student
    _login(browser, live_url, "so_canbo")
    assert browser.current_url.endswith("/overview")
    assert browser.get_cookie("cs_session")["httpOnly"] is True
    table = browser.find_element(By.ID, "schools-table").text
    assert "THPT Hoàng Diệu" in table and "THPT Mỹ Xuyên" in table
    assert browser.find_elements(By.CSS_SELECTOR, "svg.trend polyline")
    _shot(browser, tmp_path, "overview")
    browser.find_element(By.LINK_TEXT, "THPT Hoàng Diệu").click()
    assert "THPT Hoàng Diệu" in browser.find_element(By.ID, "school-name").text
    browser.find_element(By.LINK_TEXT, "10A1").click()
    rows = browser.find_element(By.ID, "students-table").text
    assert "Quá 45 buổi: không đủ điều kiện lên lớp" in rows and "Đạt mức 30 buổi" in rows
    _shot(browser, tmp_path, "class")
    browser.find_element(By.LINK_TEXT, s0.full_name).click()
    assert "không đủ điều kiện lên lớp" in browser.find_element(By.ID, "flag").text
    assert "Vắng không phép" in browser.find_element(By.ID, "history-table").text
    _shot(browser, tmp_path, "student")
    browser.get(f"{live_url}/warnings")
    warn = browser.find_element(By.ID, "warnings-table").text
    assert s0.full_name in warn and s1.full_name in warn
    # page fits a 1366-px-wide laptop screen without horizontal scrolling
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1366

    # school admin of B cannot open school A, its class or its student
    _login(browser, live_url, "admin_b")
    assert [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#schools-table tbody td:first-child")] == \
        ["94000702"]
    for url in (f"/schools/{world['a'].id}", f"/classes/{world['classes'][0].id}", f"/students/{s0.id}"):
        browser.get(live_url + url)
        assert browser.find_element(By.ID, "error-status").text == "Không có quyền truy cập", url
    _shot(browser, tmp_path, "forbidden")

    # a teacher sees only their own class
    _login(browser, live_url, "gv_a")
    browser.get(f"{live_url}/schools/{world['a'].id}")
    assert [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#classes-table tbody td:first-child a")] == \
        ["10A1"]
    browser.get(f"{live_url}/classes/{world['classes'][1].id}")
    assert browser.find_element(By.ID, "error-status").text == "Không có quyền truy cập"
    browser.get(f"{live_url}/warnings")
    assert s0.full_name in browser.find_element(By.ID, "warnings-table").text

    # sign-out ends the session
    browser.get(f"{live_url}/overview")
    browser.find_element(By.ID, "logout").click()
    browser.find_element(By.ID, "login-form")
    browser.get(f"{live_url}/overview")
    assert "/login" in browser.current_url
