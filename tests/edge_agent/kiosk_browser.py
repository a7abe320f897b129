"""Run the kiosk app in a real uvicorn server and drive it with headless Chromium (selenium + chromedriver)."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest
import uvicorn

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(app):
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("kiosk server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def chromium(width: int = 1024, height: int = 1366):
    """A tablet-sized headless Chromium; fails (not skips) when the browser is missing: `make browser` installs it."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            pytest.fail(f"{path} missing: install the Debian packages chromium and chromium-driver (make browser)")
    profile = tempfile.mkdtemp(prefix="kiosk-chrome-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                f"--user-data-dir={profile}", f"--window-size={width},{height}", "--lang=vi"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def shot(driver, path: Path) -> np.ndarray:
    """Save a screenshot and return it as a BGR image (checked to be a real, non-blank picture)."""
    assert driver.save_screenshot(str(path)), f"screenshot {path} not written"
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[0] > 300 and image.shape[1] > 300, f"{path} is not a usable PNG"
    assert float(image.std()) > 5, f"{path} is blank"
    return image


def colour_pixels(image: np.ndarray, hex_rgb: str, tol: int = 6) -> int:
    """How many pixels have this colour (the CSS colour of a badge, chip or banner)."""
    r, g, b = (int(hex_rgb[i:i + 2], 16) for i in (1, 3, 5))
    diff = np.abs(image.astype(np.int16) - np.array([b, g, r], dtype=np.int16)).max(axis=2)
    return int((diff <= tol).sum())


def sign_in(driver, url: str, teacher_id: str, pin: str) -> None:
    """Sign a teacher in on the kiosk's sign-in page and wait for the next page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url + "/dang-nhap")
    driver.find_element(By.ID, "teacher_id").send_keys(teacher_id)
    driver.find_element(By.ID, "pin").send_keys(pin)
    driver.find_element(By.ID, "nut-dang-nhap").click()
    WebDriverWait(driver, 15).until(lambda d: not d.current_url.endswith("/dang-nhap"))


def image_size(driver, element) -> tuple[int, int]:
    """(width, height) of a loaded <img> as decoded by the browser; (0, 0) when it did not load."""
    return tuple(driver.execute_script(
        "return arguments[0].complete ? [arguments[0].naturalWidth, arguments[0].naturalHeight] : [0, 0]", element))
