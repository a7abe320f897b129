"""The public flows in headless Chromium against the real server: register (with an evidence file),
edit with the code, and the results lookup."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import select

from central_server.admissions import runs
from central_server.admissions.service import assign_candidate_numbers, save_plan
from central_server.admissions.tables import AdmApplication, AdmScore

CHROMEDRIVER = "/usr/bin/chromedriver"
pytestmark = pytest.mark.skipif(not Path(CHROMEDRIVER).exists() or not shutil.which("chromium"),
                                reason="needs chromium + chromium-driver (make browser)")


@pytest.fixture()
def db_url(tmp_path):
    """SQLite is enough for the browser flows (the same routes run on PostgreSQL in test_admissions_web)."""
    return f"sqlite:///{tmp_path / 'central.sqlite3'}"


@pytest.fixture()
def server(app):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture()
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                f"--user-data-dir={tmp_path / 'chrome'}"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    driver.implicitly_wait(10)  # a click that submits a form returns before the next page is there
    yield driver
    driver.quit()


class Admin:
    id, username, role = None, "qt", "province_admin"


def test_register_edit_and_lookup_in_chromium(app, db, plan_dict, server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    clock = {"now": dt.datetime(2025, 4, 10, 3, tzinfo=dt.UTC)}
    app.state.admissions_clock = lambda: clock["now"]
    row = save_plan(db, Admin(), plan_dict())
    db.commit()
    evidence = tmp_path / "uu-tien.pdf"
    evidence.write_bytes(b"%PDF-1.4\n%%EOF\n")

    browser.get(f"{server}/tuyen-sinh")
    browser.find_element(By.ID, "link-register").click()
    browser.find_element(By.ID, "personal_id").send_keys("094310001122")
    browser.find_element(By.ID, "full_name").send_keys("Thạch Thị Sa Ri")
    browser.execute_script("document.getElementById('dob').value = '2010-07-21'")
    browser.find_element(By.ID, "ethnicity").send_keys("Khmer")
    browser.find_element(By.ID, "lower_secondary").send_keys("THCS Vĩnh Châu")
    Select(browser.find_element(By.ID, "nv1")).select_by_value("A")
    Select(browser.find_element(By.ID, "nv2")).select_by_value("C")
    browser.find_element(By.CSS_SELECTOR, "input[name=priority][value='3']").click()
    browser.find_element(By.ID, "ev_priority").send_keys(str(evidence))
    browser.find_element(By.ID, "submit").click()
    assert "Đã nhận hồ sơ" in browser.find_element(By.ID, "done").text
    code = browser.find_element(By.ID, "edit-code").text
    app_row = db.scalars(select(AdmApplication)).one()
    assert app_row.full_name == "Thạch Thị Sa Ri" and app_row.aspirations == ["A", "C"]

    # edit: open with the code, change NV2, save
    browser.get(f"{server}/tuyen-sinh/ho-so")
    browser.find_element(By.ID, "personal_id").send_keys("094310001122")
    browser.find_element(By.ID, "code").send_keys(code)
    browser.find_element(By.ID, "open").click()
    Select(browser.find_element(By.ID, "nv2")).select_by_value("B")
    browser.find_element(By.ID, "submit").click()
    assert "Đã lưu thay đổi" in browser.find_element(By.ID, "done").text
    db.expire_all()
    assert db.get(AdmApplication, app_row.id).aspirations == ["A", "B"]

    # scores, allocation, publication; then the lookup page
    assign_candidate_numbers(db, Admin(), 2025)
    db.add(AdmScore(application_id=app_row.id, scores={"van": 7.5, "toan": 8.25, "anh": 6.0}))
    db.commit()
    run = runs.run_allocation(db, Admin(), row)
    runs.publish(db, app.state.adm_settings, Admin(), run, dt.datetime(2025, 6, 20, 2, tzinfo=dt.UTC))
    db.commit()
    browser.get(f"{server}/tuyen-sinh/tra-cuu")
    browser.find_element(By.ID, "candidate_no").send_keys("000001")
    browser.find_element(By.ID, "personal_id").send_keys("094310009999")
    browser.find_element(By.ID, "lookup").click()
    assert "Không tìm thấy kết quả" in browser.find_element(By.ID, "error").text
    browser.find_element(By.ID, "candidate_no").send_keys("000001")
    browser.find_element(By.ID, "personal_id").send_keys("094310001122")
    browser.find_element(By.ID, "lookup").click()
    result = browser.find_element(By.ID, "result").text
    assert "Thạch Thị Sa Ri" in result and "21.75" in result  # priority not signed off: no bonus
    assert "Trúng tuyển: THPT A" in browser.find_element(By.ID, "admitted").text
