"""A printed photo of a student held up to an enforcing camera, seen by the teacher in headless Chromium: the
service (real models, real NUAA print-attack frames) sends the track to review, and the kiosk lists it first as a
suspected attack with its reason and the camera's face crop, while the student is not marked present."""

from __future__ import annotations

import sqlite3

import pytest
from kiosk_browser import chromium, image_size, serve, shot, sign_in
from pad_school import MAI, build_attack_school
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from edge_agent.config import load_settings
from edge_agent.demo.e2e import TEACHER_ID, TEACHER_PIN
from edge_agent.kiosk.app import KioskContext, create_kiosk_app
from edge_agent.service import EdgeService
from edge_agent.store.school_keys import read_key

pytestmark = pytest.mark.datasets


def test_kiosk_shows_a_suspected_print_attack_for_review(tmp_path, model_store, datasets, monkeypatch):
    school = build_attack_school(tmp_path / "school", model_store, datasets, "enforce")
    monkeypatch.chdir(school.demo.workdir)
    settings = load_settings(school.demo.config)
    assert EdgeService(settings, with_kiosk=False, with_link=False).run(until_idle=True) == 0
    conn = sqlite3.connect(school.demo.db)
    lesson_id = conn.execute("SELECT id FROM lessons WHERE class_id = '10A1'").fetchone()[0]
    conn.close()
    ctx = KioskContext(school.demo.db, settings.school_code, read_key(settings.paths.keys_dir), settings.attendance,
                       settings.kiosk, settings.tz)
    with serve(create_kiosk_app(ctx)) as url, chromium() as driver:
        sign_in(driver, url, TEACHER_ID, TEACHER_PIN)
        driver.get(f"{url}/tiet/{lesson_id}")
        WebDriverWait(driver, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#hang-doi .review"))
        first = driver.find_element(By.CSS_SELECTOR, "#hang-doi .review")
        assert "suspect" in first.get_attribute("class").split(), "listed first, as a suspected attack"
        assert "nghi ngờ ảnh/màn hình" in first.find_element(By.CSS_SELECTOR, ".reason").text
        assert "Sơn Thị Mai" in first.text, "the recogniser's candidate is named for the teacher"
        crop = first.find_element(By.CSS_SELECTOR, "img.crop")
        width, height = image_size(driver, crop)
        assert width >= 40 and height >= 40, "the best frame's face crop is shown"
        chip = driver.find_element(By.CSS_SELECTOR, f"#hs-{MAI} .chip").get_attribute("data-status")
        assert chip != "present", "the photo did not mark her present"
        shot(driver, tmp_path / "pad-review.png")
