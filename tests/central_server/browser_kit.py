"""What every headless-Chromium test of the central UI needs: the skip mark, the app served by a real uvicorn on
a free port, a Chromium driver, and signing in through the real form."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(not (shutil.which(CHROMEDRIVER) and shutil.which(CHROMIUM)),
                                    reason="needs chromium + chromium-driver (`make system-deps`)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(app) -> Iterator[str]:
    """`app` served by uvicorn on 127.0.0.1 (no lifespan: the test owns the app's state); yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def chromium(profile: Path, width: int = 1366, height: int = 900, *, extra_args: tuple[str, ...] = (),
             implicit_wait: float = 5):
    """A headless Chromium (Vietnamese locale, no background network) with its own profile folder."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", f"--window-size={width},{height}",
                f"--user-data-dir={profile}", "--lang=vi", *extra_args):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    if implicit_wait:
        driver.implicitly_wait(implicit_wait)
    try:
        yield driver
    finally:
        driver.quit()


def sign_in(driver, base: str, username: str, password: str = "Matkhau-2025!") -> None:
    """Sign in through the real form; waits until the browser has left /login or the form shows its error."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.delete_all_cookies()
    driver.get(f"{base}/login")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login-submit").click()
    WebDriverWait(driver, 10).until(lambda d: d.execute_script("return document.readyState") == "complete"
                                    and ("/login" not in d.current_url or d.find_elements(By.ID, "login-error")))
