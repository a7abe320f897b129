"""The Vietnamese pages in headless Chromium: a teacher uploads, a reviewer appraises and publishes, a student
finds the material without typing accents; a bad upload shows a clear message; staff see usage statistics."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.browser_wait import page_replaced
from tests.central_server.conftest import DEFAULT_PASSWORD


@pytest.fixture()
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        if not Path(path).exists():
            pytest.fail(f"{path} missing: install the Debian packages chromium and chromium-driver")
    profile = tempfile.mkdtemp(prefix="library-chrome-")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                f"--user-data-dir={profile}", "--window-size=1366,900", "--lang=vi"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _login(driver, base, username):
    driver.delete_all_cookies()
    driver.get(f"{base}/login?next=/library/manage")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(DEFAULT_PASSWORD)
    _submit(driver, By.ID, "login-submit")
    WebDriverWait(driver, 10).until(ec.presence_of_element_located((By.ID, "who")))


def _submit(driver, by, value) -> None:
    """Click something that loads a new page, and wait until the old page is gone."""
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(by, value).click()
    WebDriverWait(driver, 15).until(page_replaced(old))


def _text(driver, element_id) -> str:
    return WebDriverWait(driver, 10).until(ec.presence_of_element_located((By.ID, element_id))).text


def test_upload_appraise_publish_and_find_in_browser(browser, live_url, people, samples, drain, tmp_path):
    d, base = browser, live_url
    docx = tmp_path / "lich-su-dia-phuong.docx"
    docx.write_bytes(samples["docx"](["Lịch sử địa phương Sóc Trăng: chùa Dơi, lễ hội Ok Om Bok"]))
    bad = tmp_path / "ghi-chu.txt"
    bad.write_text("không phải học liệu", encoding="utf-8")

    # a teacher: a wrong file type is refused with a clear message, the form keeps what was typed
    _login(d, base, people["teacher"].username)
    d.get(f"{base}/library/manage")
    subject = Select(d.find_element(By.ID, "subject_code"))
    assert subject.first_selected_option.get_attribute("value") == ""  # no preset subject
    subject.select_by_value("lich-su")
    d.find_element(By.ID, "title").send_keys("Lịch sử địa phương Sóc Trăng")
    d.find_element(By.ID, "creators").send_keys("Trần Thị Giáo Viên")
    d.find_element(By.ID, "file").send_keys(str(bad))
    _submit(d, By.ID, "create-btn")
    error = WebDriverWait(d, 10).until(ec.presence_of_element_located((By.CLASS_NAME, "upload-error"))).text
    assert "không được chấp nhận" in error
    assert d.find_element(By.ID, "title").get_attribute("value") == "Lịch sử địa phương Sóc Trăng"
    assert "Chưa có học liệu" in d.find_element(By.ID, "my-items").text  # nothing was created
    # ... then the real file: a draft, sent for appraisal
    d.find_element(By.ID, "file").send_keys(str(docx))
    _submit(d, By.ID, "create-btn")
    assert _text(d, "status") == "Bản nháp"
    assert drain() == 1
    _submit(d, By.ID, "act-submit")
    assert _text(d, "status") == "Chờ thẩm định"
    item_url = d.current_url.split("?")[0]

    # the province reviewer appraises with a comment, then publishes
    _login(d, base, people["reviewer"].username)
    d.get(f"{base}/library/review")
    _submit(d, By.LINK_TEXT, "Lịch sử địa phương Sóc Trăng")
    d.find_element(By.ID, "comment").send_keys("Nội dung phù hợp chương trình địa phương")
    _submit(d, By.ID, "act-approve")
    assert _text(d, "status") == "Đã thẩm định" and _text(d, "reviewer") == "Lê Văn Thẩm Định"
    _submit(d, By.ID, "act-publish")
    assert _text(d, "status") == "Đã xuất bản"

    # a student (not signed in) searches without accents and by a word only in the file's text
    d.delete_all_cookies()
    for q in ("lich su dia phuong", "OK OM BOK", "chùa dơi"):
        d.get(f"{base}/library")
        box = d.find_element(By.ID, "q")
        box.send_keys(q)
        _submit(d, By.ID, "search-btn")
        titles = [a.text for a in d.find_elements(By.CLASS_NAME, "result-title")]
        assert titles == ["Lịch sử địa phương Sóc Trăng"], (q, titles)
    _submit(d, By.CLASS_NAME, "result-title")
    assert _text(d, "item-title") == "Lịch sử địa phương Sóc Trăng"
    assert "CC BY 4.0" in d.find_element(By.ID, "dc").text
    assert d.current_url.split("?")[0] == item_url

    # operations centre: the views show in the statistics
    _login(d, base, people["admin"].username)
    d.get(f"{base}/library/stats")
    assert _text(d, "count-published") == "1"
    assert "Lịch sử địa phương Sóc Trăng" in d.find_element(By.ID, "by-item").text
