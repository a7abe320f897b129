"""The kiosk flow in headless Chromium: sign in (wrong PIN first), correct a student, resolve a review item,
finalise (with a confirmation), with the central side unreachable; then the real MQTT link delivers and the page says
"Đã đồng bộ". And every kiosk page fits a 390 px phone (no horizontal overflow, large tap targets), with
screenshots at 390x844 and 1366x900 kept under tests/artifacts/kiosk (gitignored)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import pytest
from kiosk_browser import chromium, colour_pixels, serve, shot
from school_testkit import KEY, RULES, SCHOOL, STUDENTS, TEACHER, TEACHER2, TZ, at, make_school
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from edge_agent.attendance.proposals import AttendanceEngine, Recognition
from edge_agent.attendance.teacher import TeacherDesk
from edge_agent.config import KioskConfig
from edge_agent.kiosk.app import KioskContext, create_kiosk_app
from edge_agent.store import school_db
from tests.browser_wait import page_replaced

BICH, CUONG, DUYEN, PHIA = list(STUDENTS)
RED_BANNER, P_CHIP, WAITING, SYNCED = "#fce8e6", "#ede7f6", "#f29900", "#1e8e3e"


@pytest.fixture(scope="module")
def faces(model_store):
    """Real face crops from the sample photos: one as an enrolment thumbnail, one as a review-queue crop."""
    from edge_agent.vision.analyzer import FaceAnalyzer
    from edge_agent.vision.crop import face_crop
    from edge_agent.vision.image_io import load_image

    analyzer = FaceAnalyzer.from_store(model_store)
    photos = model_store.samples("face_recognition")
    out = {}
    for name in ("obama.jpg", "biden.jpg"):
        img = load_image(photos[name])
        out[name] = face_crop(img, analyzer.detect(img)[0], margin=0.2)
    return out


@pytest.fixture()
def school(tmp_path, faces):
    db = make_school(tmp_path)
    conn = school_db.connect(db)
    thumb = cv2.imencode(".jpg", cv2.resize(faces["obama.jpg"], (96, 96)))[1].tobytes()
    conn.execute("INSERT INTO student_thumbnails (student_id, jpeg, created_at) VALUES (?, ?, ?)",
                 (BICH, thumb, school_db.now_iso()))
    engine = AttendanceEngine(conn, RULES, SCHOOL, KEY, TZ, device_id="edge")
    engine.record(Recognition("cam-a101", "classroom", "A101", at(7, 1), "accept", BICH, 0.74, "t1",
                              crop=faces["obama.jpg"]))
    engine.record(Recognition("cam-a101", "classroom", "A101", at(7, 3), "review", DUYEN, 0.41, "t2",
                              crop=faces["biden.jpg"]))
    school_db.close(conn)
    return db


def text(driver, css):
    return driver.find_element(By.CSS_SELECTOR, css).text


def click(driver, css):
    """Click a submit button or link and wait until the next page has loaded."""
    page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, css).click()
    WebDriverWait(driver, 15).until(page_replaced(page))
    WebDriverWait(driver, 15).until(lambda d: d.execute_script("return document.readyState") == "complete")


def status_of(driver, student):
    return driver.find_element(By.CSS_SELECTOR, f"#hs-{student} .chip").get_attribute("data-status")


def test_kiosk_flow_in_chromium(school, tmp_path, mqtt_broker):
    ctx = KioskContext(school, SCHOOL, KEY, RULES, KioskConfig(pin_max_failures=3), TZ, clock=lambda: at(7, 20))
    with serve(create_kiosk_app(ctx)) as url, chromium() as driver:
        driver.get(url + "/")
        assert driver.current_url.endswith("/dang-nhap"), "signed-out visitors go to the sign-in page"
        driver.find_element(By.ID, "teacher_id").send_keys(TEACHER[0])
        driver.find_element(By.ID, "pin").send_keys("111111")
        click(driver, "#nut-dang-nhap")
        assert "không đúng" in text(driver, "#loi") and "còn 2 lần thử" in text(driver, "#loi")
        img = shot(driver, tmp_path / "01-sai-pin.png")
        assert colour_pixels(img, RED_BANNER) > 2000, "the wrong-PIN banner is visible"

        assert driver.find_element(By.ID, "teacher_id").get_attribute("value") == TEACHER[0], "the code is kept"
        driver.find_element(By.ID, "pin").send_keys(TEACHER[2])
        click(driver, "#nut-dang-nhap")
        assert "Tiết học của thầy/cô hôm nay" in driver.page_source, driver.page_source[-1500:]
        assert text(driver, ".who") == TEACHER[1], "the teacher's name, not the code"
        assert not driver.find_elements(By.CSS_SELECTOR, "a[href='/tiet/2']"), "10A2 is another teacher's lesson"
        shot(driver, tmp_path / "02-tiet-hoc.png")
        click(driver, "a.lesson-link[href='/tiet/1']")

        assert "Lớp 10A1" in text(driver, "h1")
        assert [status_of(driver, s) for s in (BICH, CUONG, DUYEN)] == ["present", "absent", "absent"]
        assert not driver.find_elements(By.ID, f"hs-{PHIA}"), "a student of another class is not on this class list"
        assert "Thạch Sô Phia" in driver.page_source, "but can be chosen in the review queue"
        assert text(driver, "#dong-bo") == "Chưa chốt"
        thumb = driver.find_element(By.CSS_SELECTOR, f"#hs-{BICH} .thumb img")
        assert driver.execute_script("return arguments[0].naturalWidth", thumb) == 96, "enrolment thumbnail shown"
        seen = driver.find_element(By.CSS_SELECTOR, f"#hs-{BICH} .thumb.seen img")
        assert driver.execute_script("return arguments[0].naturalWidth", seen) > 0, "the camera's crop is shown"
        assert "Camera: 07:01" in text(driver, f"#hs-{BICH}") and "74%" in text(driver, f"#hs-{BICH}")
        assert not driver.find_elements(By.CSS_SELECTOR, f"#hs-{CUONG} .thumb img"), "no thumbnail: initial"
        before = shot(driver, tmp_path / "03-lop.png")
        assert colour_pixels(before, P_CHIP) < 400

        # one tap: Cường is absent with permission, with a note
        driver.find_element(By.CSS_SELECTOR, f"#hs-{CUONG} input[name=note]").send_keys("Phụ huynh gọi điện")
        click(driver, f"#hs-{CUONG} button[value=P]")
        assert text(driver, "#thong-bao") == "Đã lưu thay đổi."
        assert status_of(driver, CUONG) == "P" and "Phụ huynh gọi điện" in text(driver, f"#hs-{CUONG}")
        after = shot(driver, tmp_path / "04-sua.png")
        assert colour_pixels(after, P_CHIP) > colour_pixels(before, P_CHIP) + 1500, "the P chip is drawn"

        # finalising too early is refused: Duyên has no decision yet
        click(driver, "#nut-chot")
        assert "Chưa thể chốt" in text(driver, "#loi") and "Nguyễn Thị Duyên" in text(driver, "#loi")

        # the review queue: the crop is shown; confirm "this is Duyên"
        crop = driver.find_element(By.CSS_SELECTOR, ".review img.crop")
        assert driver.execute_script("return arguments[0].naturalWidth", crop) > 0
        assert Select(driver.find_element(By.CSS_SELECTOR, ".review select")).first_selected_option \
            .get_attribute("value") == DUYEN
        click(driver, ".review button[value=xac-nhan]")
        assert text(driver, "#thong-bao") == "Đã xử lý mục xem xét."
        assert status_of(driver, DUYEN) == "present" and not driver.find_elements(By.ID, "hang-doi")
        shot(driver, tmp_path / "05-xem-xet.png")

        click(driver, "#nut-chot")
        assert text(driver, "#tom-tat") == "2 có mặt, 1 vắng có phép", "the confirmation shows the summary"
        shot(driver, tmp_path / "06a-xac-nhan.png")
        click(driver, "#nut-xac-nhan-chot")
        assert text(driver, "#thong-bao") == "Đã chốt tiết học."
        assert text(driver, "#chot-boi").startswith(f"Đã chốt bởi {TEACHER[1]}")
        assert "đang chờ đồng bộ" in text(driver, "#dong-bo"), "central unreachable: the period waits"
        assert not driver.find_elements(By.ID, "nut-chot") and not driver.find_elements(By.CSS_SELECTOR, "form.marks")
        waiting = shot(driver, tmp_path / "06-da-chot.png")
        assert colour_pixels(waiting, WAITING) > 300

        # the real MQTT link delivers the outbox to the real broker; the kiosk now shows "Đã đồng bộ"
        from edge_agent.sync.mqtt_link import Link, MqttLinkSettings

        host, port = mqtt_broker
        # the central side's subscription (the ingest worker's persistent session in production): without
        # any subscriber the broker answers "no matching subscribers" and the link rightly keeps the rows
        import paho.mqtt.client as mqtt

        central = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"kiosk-central-{time.time_ns()}",
                              protocol=mqtt.MQTTv5)
        subscribed = threading.Event()
        central.on_connect = lambda c, u, f, rc, props: c.subscribe(f"edu/v1/{SCHOOL}/events", qos=1)
        central.on_subscribe = lambda c, u, mid, codes, props: subscribed.set()
        central.connect(host, port)
        central.loop_start()
        assert subscribed.wait(10)
        link = Link(MqttLinkSettings(school=SCHOOL, key_hex=KEY.hex(), db_path=school, host=host, port=port,
                                     client_id=f"kiosk-test-{time.time_ns()}"))
        stop = threading.Event()
        runner = threading.Thread(target=link.run, args=(stop,), daemon=True)
        runner.start()
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                driver.refresh()
                if text(driver, "#dong-bo") == "Đã đồng bộ":
                    break
                time.sleep(0.5)
        finally:
            stop.set()
            runner.join(timeout=10)
            central.loop_stop()
            central.disconnect()
        assert text(driver, "#dong-bo") == "Đã đồng bộ"
        synced = shot(driver, tmp_path / "07-da-dong-bo.png")
        assert colour_pixels(synced, SYNCED) > 300 and colour_pixels(synced, WAITING) < 50

    conn = school_db.connect(school)
    final = dict(conn.execute("SELECT student_id, final FROM marks WHERE lesson_id = 1").fetchall())
    assert final == {BICH: "present", CUONG: "P", DUYEN: "present"}
    kinds = [r[0] for r in conn.execute("SELECT kind FROM outbox ORDER BY seq")]
    assert kinds.count("attendance.corrected") == 2 and kinds.count("attendance.finalised") == 3
    assert conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0] == 0
    school_db.close(conn)


def test_pin_lockout_and_forged_requests(school, tmp_path):
    from fastapi.testclient import TestClient

    ctx = KioskContext(school, SCHOOL, KEY, RULES, KioskConfig(pin_max_failures=3, lockout_minutes=15), TZ,
                       clock=lambda: at(7, 20))
    client = TestClient(create_kiosk_app(ctx))
    for _attempt in range(3):
        r = client.post("/dang-nhap", data={"teacher_id": TEACHER[0], "pin": "999999"})
        assert r.status_code == 401
    assert "bị khoá 15 phút" in r.text
    r = client.post("/dang-nhap", data={"teacher_id": TEACHER[0], "pin": TEACHER[2]})
    assert r.status_code == 401 and "tạm khoá" in r.text, "even the right PIN is refused while locked"
    conn = school_db.connect(school)
    stored = conn.execute("SELECT pin_hash FROM teachers WHERE id = ?", (TEACHER[0],)).fetchone()[0]
    assert TEACHER[2] not in stored and stored.startswith("scrypt$")
    assert conn.execute("SELECT count(*) FROM audit_log WHERE action = 'kiosk.locked'").fetchone()[0] == 1
    conn.execute("UPDATE teachers SET locked_until = NULL")
    school_db.close(conn)

    r = client.post("/dang-nhap", data={"teacher_id": TEACHER[0], "pin": TEACHER[2]})
    assert r.status_code == 200 and "Tiết học của thầy/cô hôm nay" in r.text
    # a forged form without the CSRF token changes nothing
    r = client.post("/tiet/1/sua", data={"student_id": CUONG, "mark": "K", "csrf": "forged"})
    assert r.status_code == 403
    r = client.post("/tiet/1/sua", data={"student_id": CUONG, "mark": "X", "csrf": "forged"})
    assert r.status_code == 403
    client.cookies.clear()
    r = client.get("/xem-xet/1/anh", follow_redirects=False)
    assert r.status_code == 303, "review crops are never served to a signed-out visitor"
    conn = school_db.connect(school)
    assert conn.execute("SELECT mark FROM marks WHERE student_id = ? AND lesson_id = 1", (CUONG,)).fetchone()[0] \
        is None
    assert conn.execute("SELECT count(*) FROM outbox WHERE kind = 'attendance.corrected'").fetchone()[0] == 0
    school_db.close(conn)


ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "kiosk"
PHONE, DESKTOP = (390, 844, True), (1366, 900, False)


def viewport(driver, size) -> None:
    width, height, mobile = size
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})


def fits(driver, name: str) -> None:
    """At 390 px: no horizontal overflow and every visible button, link-button and field at least 44 px tall
    (and buttons 44 px wide); then screenshots at 390x844 and 1366x900 under tests/artifacts/kiosk."""
    viewport(driver, PHONE)
    geometry = driver.execute_script(
        "const d = document.documentElement; const wide = [...document.querySelectorAll('body *')]"
        ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5 && e.offsetParent !== null)"
        ".map(e => e.tagName + '.' + e.className).slice(0, 5);"
        "const small = [...document.querySelectorAll('button, .btn, input:not([type=hidden]), select')]"
        ".filter(e => e.offsetParent !== null).map(e => [e.tagName + '#' + e.id + '.' + e.className,"
        " e.getBoundingClientRect().height, e.getBoundingClientRect().width, e.tagName])"
        ".filter(x => x[1] < 44 || (x[3] === 'BUTTON' && x[2] < 44));"
        "return [window.innerWidth, d.scrollWidth, wide, small];")
    inner, scroll, wide, small = geometry
    assert inner == 390, f"{name}: the phone viewport is {inner} px"
    assert scroll <= inner and not wide, f"{name}: {scroll} px wide at 390 px; too wide: {wide}"
    assert not small, f"{name}: tap targets under 44 px: {small}"
    shot(driver, ARTIFACTS / f"{name}-390x844.png")
    viewport(driver, DESKTOP)
    assert driver.execute_script("return document.documentElement.scrollWidth") <= 1366, name
    shot(driver, ARTIFACTS / f"{name}-1366x900.png")
    viewport(driver, PHONE)


def test_every_kiosk_page_fits_a_phone(school, faces):
    """Every kiosk page, signed out and in, as each of two teachers (two classes), fits 390 px."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    conn = school_db.connect(school)
    engine = AttendanceEngine(conn, RULES, SCHOOL, KEY, TZ, device_id="edge")
    engine.review_sighting(Recognition("cam-a101", "classroom", "A101", at(7, 5), "accept", CUONG, 0.83, "t9",
                                       crop=faces["obama.jpg"]),
                           "nghi ngờ ảnh/màn hình: khuôn mặt trên màn hình điện thoại hoặc ảnh in",
                           suspected_attack=True)
    engine.record(Recognition("cam-a102", "classroom", "A102", at(7, 2), "accept", PHIA, 0.66, "t8",
                              crop=faces["biden.jpg"]))
    engine.tick(at(7, 20))
    desk = TeacherDesk(conn, RULES, SCHOOL, KEY, TZ)
    desk.correct(1, CUONG, "P", TEACHER[0], note="Phụ huynh gọi điện lúc 6 giờ 45 để xin phép cho em nghỉ ốm",
                 now=at(7, 18))
    desk.correct(1, DUYEN, "K", TEACHER[0], now=at(7, 18))
    conn.execute("UPDATE students SET full_name = 'Nguyễn Thị Ngọc Bảo Trân Huyền Diệu' WHERE id = ?", (DUYEN,))
    school_db.close(conn)
    ctx = KioskContext(school, SCHOOL, KEY, RULES, KioskConfig(), TZ, clock=lambda: at(7, 20))
    with serve(create_kiosk_app(ctx)) as url, chromium() as driver:
        viewport(driver, PHONE)
        driver.get(url + "/dang-nhap")
        fits(driver, "01-dang-nhap")
        driver.find_element(By.ID, "teacher_id").send_keys(TEACHER[0])
        driver.find_element(By.ID, "pin").send_keys("000001")
        click(driver, "#nut-dang-nhap")
        assert "không đúng" in text(driver, "#loi")
        fits(driver, "02-sai-pin")
        driver.find_element(By.ID, "pin").send_keys(TEACHER[2])
        click(driver, "#nut-dang-nhap")
        fits(driver, "03-tiet-hoc")
        driver.get(url + "/tiet/1")
        assert driver.find_elements(By.CSS_SELECTOR, ".review.suspect"), "the suspected attack is shown"
        first = driver.find_element(By.CSS_SELECTOR, "#hang-doi .review")
        assert "nghi ngờ ảnh/màn hình" in first.text and "độ tin cậy 83%" in first.text, "suspected attacks first"
        fits(driver, "04-lop")
        buttons = driver.find_elements(By.CSS_SELECTOR, f"#hs-{BICH} .mark-buttons button")
        assert [b.text for b in buttons] == ["Có mặt", "Muộn", "P", "K"]
        assert all(b.rect["x"] + b.rect["width"] <= 390 for b in buttons), "the mark buttons are on screen"
        click(driver, "#nut-chot")
        assert "vắng có phép" in text(driver, "#tom-tat")
        fits(driver, "05-xac-nhan-chot")
        click(driver, "#nut-xac-nhan-chot")
        assert driver.find_elements(By.ID, "nut-mo-lai")
        fits(driver, "06-da-chot")
        driver.get(url + "/tiet/2")
        assert "không phải của thầy/cô" in text(driver, "#loi")
        fits(driver, "07-khong-phai-tiet-cua-minh")
        driver.get(url + "/tiet/999")
        fits(driver, "08-khong-tim-thay")

        driver.delete_all_cookies()
        conn = school_db.connect(school)
        from edge_agent.kiosk.pins import require_pin_change

        require_pin_change(conn, TEACHER2[0], actor="admin")
        school_db.close(conn)
        driver.get(url + "/dang-nhap")
        driver.find_element(By.ID, "teacher_id").send_keys(TEACHER2[0])
        driver.find_element(By.ID, "pin").send_keys(TEACHER2[2])
        click(driver, "#nut-dang-nhap")
        assert driver.current_url.endswith("/doi-pin")
        fits(driver, "09-doi-pin")
        for field in ("new_pin", "new_pin2"):
            driver.find_element(By.ID, field).send_keys("864209")
        click(driver, "#nut-doi-pin")
        assert text(driver, "#thong-bao") == "Đã đổi mã PIN." and text(driver, ".who") == TEACHER2[1]
        fits(driver, "10-tiet-hoc-gv2")
        click(driver, "a.lesson-link[href='/tiet/2']")
        fits(driver, "11-lop-gv2")
