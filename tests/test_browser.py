"""heal's and FireWorks' pages in a real headless browser (Debian ``chromium`` driven by selenium through Debian's
``chromidriver``; nothing is downloaded), on the finished tiny campaign served by ``heal webgui``.

Checked: every page loads with no console error (the machine has no internet, so a CDN script would fail),
every plot is a drawn image, the numbers on ``/heal`` equal ``heal status --json``, and the workflow graph at
``/wf/<id>`` has its nodes drawn. Screenshots go to the test's directory (and to ``$HEAL_SCREENSHOTS``).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from e2e_campaign import heal

pytestmark = [pytest.mark.engine, pytest.mark.slow]

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(finished_campaign, tmp_path_factory):
    root = finished_campaign["root"]
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("HEAL_MONGO_URI", "HEAL_WEBGUI_USER",
                                                              "HEAL_WEBGUI_PASSWORD")}
    proc = subprocess.Popen([sys.executable, "-m", "heal", "webgui", str(root), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    t0 = time.monotonic()
    while True:
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        assert time.monotonic() - t0 < 60, "heal webgui did not answer in 60 s"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    yield {"base": f"http://127.0.0.1:{port}", "root": root, "shots": tmp_path_factory.mktemp("shots")}
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file(), \
        "Debian's chromium and chromium-driver are missing: run .ci/install"
    os.environ["SE_OFFLINE"] = "true"  # selenium must not look for a browser on the internet
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


def _open(drv, url: str) -> list[dict]:
    """Load `url`, wait for it (and its scripts) to settle; the console errors it logged."""
    drv.get_log("browser")  # drop earlier entries
    drv.get(url)
    t0 = time.monotonic()
    while drv.execute_script("return document.readyState") != "complete" and time.monotonic() - t0 < 30:
        time.sleep(0.1)
    time.sleep(1.0)  # scripts that run after load (FireWorks' graph fetches its JSON)
    return [e for e in drv.get_log("browser") if e["level"] == "SEVERE"]


def _shot(drv, served, name: str) -> Path:
    path = served["shots"] / f"{name}.png"
    drv.save_screenshot(str(path))
    if os.environ.get("HEAL_SCREENSHOTS"):
        Path(os.environ["HEAL_SCREENSHOTS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(os.environ["HEAL_SCREENSHOTS"]) / path.name)
    return path


def _pixels(png: bytes) -> np.ndarray:
    import matplotlib.image as mpimg

    return mpimg.imread(io.BytesIO(png), format="png")[..., :3]


def _drawn(png: bytes) -> bool:
    img = _pixels(png)
    return img.shape[0] > 20 and img.shape[1] > 20 and float(img.std()) > 0.02


def test_every_page_loads_without_console_errors(served, browser):
    from selenium.webdriver.common.by import By

    errors = _open(browser, served["base"] + "/heal")
    _shot(browser, served, "heal")
    wf_links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "nav a[href*='/wf/']")]
    fw_links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#iterations a[href*='/fw/']")]
    assert wf_links and fw_links  # the dashboard links to FireWorks' pages
    pages = {"heal": errors}
    for name, url in (("status", served["base"] + "/heal/status"), ("fireworks-home", served["base"] + "/"),
                      ("wf", wf_links[0]), ("fw", fw_links[0])):
        pages[name] = _open(browser, url)
        _shot(browser, served, name)
        if name != "status":  # FireWorks' pages link back to heal's
            assert browser.find_elements(By.CSS_SELECTOR, "a[href='/heal']"), name
    assert {k: v for k, v in pages.items() if v} == {}


def test_every_plot_is_a_drawn_image(served, browser):
    from selenium.webdriver.common.by import By

    assert _open(browser, served["base"] + "/heal") == []
    imgs = browser.find_elements(By.CSS_SELECTOR, "img.plot")
    names = {i.get_attribute("alt") for i in imgs}
    assert {"classes", "rmse", "parity", "calibration", "labels", "times", "deviation-it0", "deviation-it1"} <= names
    for img in imgs:
        ok = browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 100", img)
        assert ok, img.get_attribute("alt")
        browser.execute_script("arguments[0].scrollIntoView()", img)
        assert _drawn(img.screenshot_as_png), img.get_attribute("alt")


def test_numbers_on_the_page_equal_heal_status_json(served, browser):
    from selenium.webdriver.common.by import By

    st = json.loads(heal("status", str(served["root"]), "--json").stdout)
    _open(browser, served["base"] + "/heal")
    assert browser.find_element(By.ID, "labels_total").text == str(st["labels_total"])
    assert browser.find_element(By.ID, "dataset_frames").text == str(st["dataset_frames"])
    assert browser.find_element(By.ID, "state").text == st["state"]
    rows = browser.find_elements(By.CSS_SELECTOR, "#iterations tr[data-iteration]")
    assert len(rows) == len(st["iterations"])
    for tr, r in zip(rows, st["iterations"]):
        cells = {td.get_attribute("data-field"): td.text for td in tr.find_elements(By.CSS_SELECTOR, "td[data-field]")}
        for key in ("iteration", "explored", "accurate", "candidate", "failed", "labeled", "rejected"):
            assert int(cells[key]) == r[key], key
        assert cells["state"] == r["state"]
        assert float(cells["rmse_force"]) == pytest.approx(r["rmse_force"], abs=5e-4)


def test_workflow_graph_has_its_nodes_drawn_offline(served, browser):
    from selenium.webdriver.common.by import By

    st = json.loads(heal("lpad", str(served["root"]), "get_wflows", "-d", "ids").stdout)
    wf_id = min(st) if isinstance(st, list) else st
    assert _open(browser, f"{served['base']}/wf/{wf_id}") == []
    assert browser.execute_script("return typeof window.jQuery") == "function"
    assert browser.execute_script("return document.querySelectorAll('#cy canvas').length") > 0
    graph = browser.find_element(By.ID, "cy")
    browser.execute_script("arguments[0].scrollIntoView()", graph)
    png = graph.screenshot_as_png
    (served["shots"] / "wf-graph.png").write_bytes(png)
    img = _pixels(png)
    # nodes are rectangles filled with their state's colour: a good share of coloured (non-grey) pixels
    coloured = (img.max(axis=2) - img.min(axis=2)) > 0.2
    assert coloured.mean() > 0.005, f"only {coloured.mean():.4f} of the graph's pixels are coloured"
