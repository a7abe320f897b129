"""The public admissions pages on a 390x844 phone in headless Chromium: every control has a label, every tap target
is at least 44 px high, forms are one column, communes come from the province's list, subject names carry their
diacritics, every page leads back to the admissions home, and the Khmer labels are drawn with a Khmer font."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from central_server.admissions import synthetic
from central_server.admissions.communes import communes
from central_server.admissions.service import save_plan
from central_server.admissions.tables import AdmApplication
from tests.browser_wait import page_replaced
from tests.central_server.browser_kit import chromium, served

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "admissions-phone"
PHONE = (390, 844)
PUBLIC = ["/tuyen-sinh", "/tuyen-sinh/dang-ky", "/tuyen-sinh/ho-so", "/tuyen-sinh/ty-le", "/tuyen-sinh/tra-cuu"]

pytestmark = pytest.mark.skipif(not (shutil.which("/usr/bin/chromedriver") and shutil.which("/usr/bin/chromium")),
                                reason="needs chromium + chromium-driver (make browser)")


@pytest.fixture()
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'central.sqlite3'}"


class Admin:
    id, username, role = None, "qt", "province_admin"


@pytest.fixture()
def server(app, db):
    now = dt.datetime(2025, 4, 10, 3, tzinfo=dt.UTC)  # registration is open
    app.state.admissions_clock = lambda: now
    save_plan(db, Admin(), synthetic.plan_dict())
    db.commit()
    with served(app) as url:
        yield url


@pytest.fixture()
def phone(tmp_path):
    with chromium(tmp_path / "chrome-profile", extra_args=("--disable-dev-shm-usage", "--hide-scrollbars")) as driver:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 1, "mobile": True})
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        yield driver


CHECK_PAGE = """
const out = {unlabelled: [], small: [], narrow: []};
const visible = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
for (const el of document.querySelectorAll('main input:not([type=hidden]), main select, main textarea')) {
  if (!visible(el)) continue;
  if (!el.labels || el.labels.length === 0) out.unlabelled.push(el.name || el.id);
  const box = (el.type === 'checkbox' || el.type === 'radio') ? el.labels[0] : el;
  const h = box ? box.getBoundingClientRect().height : 0;
  if (h < 44) out.small.push((el.name || el.id) + ' ' + h);
  const form = el.closest('form'), w = el.getBoundingClientRect().width;
  if (form && el.type !== 'checkbox' && el.type !== 'radio' && w < 0.85 * form.getBoundingClientRect().width)
    out.narrow.push(el.name || el.id);
}
for (const el of document.querySelectorAll('main button, main a.tap')) {
  if (visible(el) && el.getBoundingClientRect().height < 44) out.small.push(el.id || el.textContent.trim());
}
out.scrollWidth = document.documentElement.scrollWidth;
out.innerWidth = window.innerWidth;
return out;
"""


def test_public_pages_work_on_a_phone(server, phone):
    from selenium.webdriver.common.by import By

    for path in PUBLIC:
        phone.get(server + path)
        report = phone.execute_script(CHECK_PAGE)
        phone.save_screenshot(str(ARTIFACTS / f"{path.strip('/').replace('/', '_')}.png"))
        assert report["innerWidth"] == PHONE[0] and report["scrollWidth"] <= PHONE[0], (path, report)
        assert report["unlabelled"] == [], (path, report)
        assert report["small"] == [], (path, report)
        assert report["narrow"] == [], (path, report)
        if path != "/tuyen-sinh":  # the way back to the admissions home
            back = phone.find_element(By.ID, "back-home")
            assert back.get_attribute("href") == f"{server}/tuyen-sinh" and back.is_displayed()

    # subject names with their diacritics (the plan's papers, the specialised classes)
    phone.get(f"{server}/tuyen-sinh")
    text = phone.find_element(By.TAG_NAME, "main").text
    assert "Ngữ văn" in text and "Toán" in text and "Tiếng Anh" in text
    phone.get(f"{server}/tuyen-sinh/dang-ky")
    labels = [e.text for e in phone.find_elements(By.CSS_SELECTOR, "label.check")]
    assert "Chuyên Vật lí" in labels and "Chuyên Hoá học" in labels and "Chuyên Tiếng Khmer" in labels
    # one column: the registration fields sit one under the other
    lefts = phone.execute_script(
        "return [...document.querySelectorAll('#regform fieldset:first-of-type :is(input, select)')]"
        ".filter(e => e.type !== 'hidden').map(e => e.getBoundingClientRect().left)")
    assert len(set(round(x) for x in lefts)) == 1, lefts


def test_commune_is_chosen_from_the_province_list(server, phone, db):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    units = communes()
    assert len(units) == 103 and ("31507", "Phường Sóc Trăng") in units  # Cần Thơ city after 1 July 2025
    phone.get(f"{server}/tuyen-sinh/dang-ky")
    picker = Select(phone.find_element(By.ID, "commune"))
    names = [o.text for o in picker.options]
    assert len(names) == 104 and "Phường Sóc Trăng" in names and "Xã Lai Hòa" in names
    phone.find_element(By.ID, "personal_id").send_keys("094310001122")
    phone.find_element(By.ID, "full_name").send_keys("Thạch Thị Sa Ri")
    phone.execute_script("document.getElementById('dob').value = '2010-07-21'")
    phone.find_element(By.ID, "lower_secondary").send_keys("THCS Vĩnh Châu")
    picker.select_by_visible_text("Phường Vĩnh Châu")
    Select(phone.find_element(By.ID, "nv1")).select_by_value("ST01")
    old = phone.find_element(By.TAG_NAME, "html")
    phone.find_element(By.ID, "submit").click()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(phone, 15).until(page_replaced(old))
    assert "Đã nhận hồ sơ" in phone.find_element(By.ID, "done").text
    assert phone.find_element(By.ID, "back-home").is_displayed()
    app_row = db.scalars(select(AdmApplication)).one()
    assert app_row.commune == dict((n, c) for c, n in units)["Phường Vĩnh Châu"]


def test_khmer_labels_are_drawn_with_a_khmer_font(server, phone):
    from selenium.webdriver.common.by import By

    phone.get(f"{server}/tuyen-sinh/dang-ky")
    spans = phone.find_elements(By.CSS_SELECTOR, '[lang="km"]')
    assert spans and any("ឈ្មោះ" in s.text for s in spans)
    phone.save_screenshot(str(ARTIFACTS / "khmer-labels.png"))
    # ask the renderer which platform fonts drew the text of each Khmer label
    phone.execute_cdp_cmd("DOM.enable", {})
    phone.execute_cdp_cmd("CSS.enable", {})
    root = phone.execute_cdp_cmd("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    nodes = phone.execute_cdp_cmd("DOM.querySelectorAll", {"nodeId": root, "selector": '[lang="km"]'})["nodeIds"]
    assert nodes
    for node in nodes:
        fonts = phone.execute_cdp_cmd("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        khmer = [f for f in fonts if "khmer" in f["familyName"].lower()]
        assert khmer and sum(f["glyphCount"] for f in khmer) >= 3, fonts
    # and the glyphs are real: distinct Khmer letters have distinct widths (missing glyphs would all be one box)
    widths = phone.execute_script("""
        const c = document.createElement('canvas').getContext('2d');
        c.font = '24px ' + getComputedStyle(document.querySelector('[lang="km"]')).fontFamily;
        return ['ក', 'ខ', 'ឈ', 'ម', 'ះ', 'ា'].map(ch => c.measureText(ch).width);""")
    assert len(set(round(w, 1) for w in widths)) >= 3, widths
