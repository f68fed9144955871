"""Headless Debian Chromium driven by Selenium with the system chromedriver (nothing is
downloaded: Selenium Manager is turned off), and a `fireassay view` server in a subprocess."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHROMIUM = os.environ.get("FIREASSAY_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("FIREASSAY_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,1000"]


def missing_browser() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            return f"{path} is missing: `make test` installs Debian's chromium and chromium-driver (make browser)"
    return None


def start_chromium():
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never fetch a driver or a browser
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="fireassay-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in FLAGS:
        opts.add_argument(f)
    opts.add_argument(f"--user-data-dir={profile}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    driver.fireassay_profile = profile
    return driver


def stop_chromium(driver) -> None:
    profile = getattr(driver, "fireassay_profile", None)
    try:
        driver.quit()
    finally:
        if profile:
            shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver) -> list[str]:
    """Console messages at level SEVERE since the last call (Chromium keeps them per page)."""
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


class ViewServer:
    """`fireassay view RUN_DIR... --port 0` in a subprocess; ``url`` is read from its first line."""

    def __init__(self, *run_dirs: Path, extra: tuple[str, ...] = ()) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "loop.cli", "view", *map(str, run_dirs), "--port", "0", *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        line = ""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                raise RuntimeError(f"fireassay view exited {self.proc.returncode}: {self.proc.stderr.read()}")
            m = re.search(r"(http://\S+/)", line)
            if m:
                self.url = m.group(1)
                return
        self.stop()
        raise RuntimeError(f"fireassay view did not announce its address: {line!r}")

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.stderr.read() if self.proc.stderr else ""


def full_screenshot(driver, path: Path, max_height: int = 6000) -> Path:
    """A screenshot of the whole page (up to ``max_height`` pixels tall)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(max_height, max(800, int(height))))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1000)
    return Path(path)
