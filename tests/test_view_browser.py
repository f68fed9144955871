"""`fireassay view` in a real browser (Debian's headless Chromium through Selenium and the
system chromedriver) over real stores: pages load without console errors, the curves plot draws
its traces, the problem filters list the problems the store says, a candidate shows its
feedback turn and failing input, hostile text stays text (no script runs), and a run in
progress is watched live until it finishes unharmed. Screenshots go to test-artifacts/."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from loop.analysis import load_run_data
from loop.report import ReportConfig, build_run_report
from loop.store import RunStore, writer_active

try:
    from tests.browser import (
        ViewServer,
        console_errors,
        full_screenshot,
        missing_browser,
        start_chromium,
        stop_chromium,
    )
    from tests.view_stores import XSS
except ImportError:
    from browser import ViewServer, console_errors, full_screenshot, missing_browser, start_chromium, stop_chromium
    from view_stores import XSS

pytestmark = [pytest.mark.browser, pytest.mark.engine, pytest.mark.docker, pytest.mark.slow]
ARTIFACTS = Path(os.environ.get("FIREASSAY_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))
VERIFY = "mbpp-verify--img-src-x-onerror-window.__xssName-1"


@pytest.fixture(scope="module")
def browser():
    why = missing_browser()
    if why:
        pytest.fail(why)
    driver = start_chromium()
    yield driver
    stop_chromium(driver)


@pytest.fixture(scope="module")
def server(view_stores):
    srv = ViewServer(*view_stores.all)
    yield srv
    srv.stop()


def visit(driver, url: str) -> list[str]:
    """Load a page; return its console errors (and fail on an error page)."""
    driver.get(url)
    assert not driver.title.startswith(("Not found", "Error", "Bad request")), (url, driver.title)
    return console_errors(driver)


def rows(driver) -> list[str]:
    return [el.get_attribute("data-pid") for el in driver.find_elements("css selector", "#problems tbody tr[data-pid]")]


def test_every_page_loads_without_console_errors(browser, server):
    urls = ["", "curves", "compare?a=regular&b=fire", "compare?a=mbpp-2turn&b=" + VERIFY]
    for rid in ("regular", "fire", "mbpp-2turn", VERIFY, "swe"):
        urls += [f"run/{rid}", f"run/{rid}/problems", f"run/{rid}/problem/0"]
    urls += ["run/regular/problems?show=never", "run/regular/problem/0?show=failed", "run/regular/problem/1?show=class:0"]
    for url in urls:
        assert visit(browser, server.url + url) == [], url


def test_curves_plot_draws_every_trace(browser, server, view_stores):
    expected = 0
    for d in view_stores.all:
        rep = build_run_report(load_run_data(d), ReportConfig(progress=False))
        fit = all(isinstance(x, (int, float)) and np.isfinite(x) for x in (rep.power_law.a, rep.power_law.b))
        expected += 1 + len(rep.selection) + int(fit)
    assert visit(browser, server.url + "curves") == []
    for _ in range(50):
        if browser.execute_script("return window.fireassayPlotsDrawn || 0"):
            break
        time.sleep(0.2)
    drawn = browser.execute_script("return document.querySelectorAll('#plot-curves svg.main-svg .scatterlayer .trace').length")
    assert drawn == expected
    legend = browser.execute_script("return document.querySelector('#plot-curves').textContent")
    assert "regular: coverage" in legend and "fire: majority" in legend
    assert "window.__xssName" in legend  # the hostile run name is in the legend as text
    assert browser.execute_script("return window.__xssName") is None
    shot = full_screenshot(browser, ARTIFACTS / "view-curves.png")
    assert shot.stat().st_size > 20_000


def _expected_filters(run_dir: Path) -> dict[str, list[str]]:
    """The problems each filter must list, from the report's own reading of the store."""
    data = load_run_data(run_dir)
    rep = build_run_report(data, ReportConfig(progress=False))
    assert (data.sizes == rep.n).all()  # every problem has n candidates: k = n is the full set
    out = {"all": list(data.problem_ids),
           "covered": [p for p, c in zip(data.problem_ids, data.correct) if c.any()],
           "never": [p for p, c in zip(data.problem_ids, data.correct) if not c.any()],
           "unjudged": [p for p, u in zip(data.problem_ids, data.unjudged) if u.any()],
           "pending": []}
    for name, sr in rep.selection.items():
        acc = sr.result.per_problem[:, -1]
        out[f"missed:{name}"] = [p for p, c, a in zip(data.problem_ids, data.correct, acc) if c.any() and a < 1 - 1e-9]
    return out


def test_problem_filters_list_the_problems_the_store_says(browser, server, view_stores):
    verify = _expected_filters(view_stores.gsm8k_verify)
    assert verify["never"] == ["0"] and verify["missed:majority"] == ["1", "3"]  # the filters tell problems apart
    for rid, run_dir in (("regular", view_stores.regular), ("fire", view_stores.fire),
                         ("gsm8k-verify", view_stores.gsm8k_verify)):
        want = _expected_filters(run_dir)
        assert visit(browser, server.url + f"run/{rid}/problems") == []
        links = {a.get_attribute("data-filter"): a.get_attribute("href")
                 for a in browser.find_elements("css selector", "#filters a.filter")}
        assert set(links) == set(want)
        for key, href in links.items():
            browser.get(href)
            assert rows(browser) == want[key], (rid, key)
            count = browser.find_element("css selector", f'#filters a[data-filter="{key}"] b').text
            assert int(count) == len(want[key])


def test_a_candidate_shows_its_feedback_turn_and_failing_input(browser, server, view_stores):
    with RunStore.open(view_stores.mbpp) as s:
        fb = s.verdicts("public_tests")
        two = sorted(k for k in fb if k[2] == 0 and (k[0], k[1], 1) in {c.key for c in s.candidates()})
    assert two, "the model run made no second turn"
    pid, sample, _ = two[0]
    browser.get(server.url + "run/mbpp-2turn/problem-id/" + pid)
    section = browser.find_element("css selector", f"#sample-{sample}")
    shown = section.find_element("css selector", '.msg.feedback[data-feedback-after="0"] pre').text
    assert shown.strip() == fb[(pid, sample, 0)].feedback.strip() and shown.strip()
    assert section.find_elements("css selector", '.msg.assistant[data-turn="1"]')

    assert visit(browser, server.url + f"run/{VERIFY}/problem/0") == []
    wrong = browser.find_element("css selector", "#sample-0 table.failure")
    cells = {el.get_attribute("data-field"): el.text for el in wrong.find_elements("css selector", "pre[data-field]")}
    assert cells["input"] == "[(3, 4, 5, 6), (5, 7, 4, 10)]" and cells["expected"] == "(4, 5)"
    assert cells["got"] == "\"<script>window.__xss = 'got'</script>\""
    tb = browser.find_element("css selector", "#sample-1 table.failure pre.tb").text
    assert "ValueError: no shared elements <b>here</b>" in tb
    full_screenshot(browser, ARTIFACTS / "view-problem-code.png")

    assert visit(browser, server.url + "run/swe/problem/0") == []
    assert browser.find_elements("css selector", "#sample-0 pre.diff .d-add")  # the gold patch as a diff
    failed = [li.text for li in browser.find_elements("css selector", "#sample-1 table.swe ul.tests li")]
    with RunStore.open(view_stores.swe) as s:
        details = s.verdicts("swe")[("tinycalc-1", 1, 0)].details
    assert failed and failed == list(details["f2p_failed"]) + list(details.get("p2p_failed", []))


def test_hostile_text_is_shown_as_text_and_no_script_runs(browser, server):
    for url in ("", f"run/{VERIFY}", f"run/{VERIFY}/problems", f"run/{VERIFY}/problem/0", f"run/{VERIFY}/problem/1",
                "run/swe/problem/0", "curves", f"compare?a=mbpp-2turn&b={VERIFY}"):
        assert visit(browser, server.url + url) == [], url
        assert browser.execute_script("return [window.__xss, window.__xssName]") == [None, None], url
        bad = browser.execute_script(  # elements the payloads would make (Plotly draws its own SVG)
            "return Array.from(document.querySelectorAll('img, svg, iframe, [onerror], [onload], "
            "a[href^=\"javascript:\"]')).filter(e => !e.closest('.js-plotly-plot, #js-plotly-tester')).length")
        assert bad == 0, url
    browser.get(server.url + f"run/{VERIFY}/problem/0")
    text = browser.find_element("css selector", "#sample-2 pre.text").text
    for payload in XSS:
        assert payload in text
    assert browser.find_element("css selector", ".crumbs").text.count("<img src=x onerror=window.__xssName=1>") == 1


def test_a_run_is_watched_live_and_finishes_unharmed(browser, shared_data, tmp_path):
    out = tmp_path / "live"
    run = subprocess.Popen([sys.executable, "-m", "loop.cli", "run", "--task", "gsm8k", "--data",
                            shared_data / "gsm8k" / "test.jsonl", "--limit", "4", "-n", "2", "--max-tokens", "48",
                            "--gen-batch", "1", "--quiet", "--no-report", "--out", out, "--name", "live"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not writer_active(out) and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.05)  # the run holds its writer lock from before its first candidate
    srv = ViewServer(out)
    try:
        assert visit(browser, srv.url + "run/live") == []
        seen: list[tuple[str, int]] = []
        while run.poll() is None and time.monotonic() < deadline:
            state = browser.find_element("css selector", '.cards [data-live="state"]').text
            count = int(browser.find_element("id", "live-candidates").text)
            if not seen or seen[-1] != (state, count):
                seen.append((state, count))
            time.sleep(0.3)
        stdout, stderr = run.communicate(timeout=60)
        assert run.returncode == 0, stderr[-2000:]
        for _ in range(40):  # the page's last poll shows the finished run
            if browser.find_element("css selector", '.cards [data-live="state"]').text == "finished":
                break
            time.sleep(0.25)
        final = (browser.find_element("css selector", '.cards [data-live="state"]').text,
                 int(browser.find_element("id", "live-candidates").text))
    finally:
        srv.stop()
    running = [c for s, c in seen if s == "running"]
    assert len(set(running)) >= 2 and running == sorted(running), seen  # it grew while the run wrote
    assert final == ("finished", 8), seen
    assert console_errors(browser) == []
    assert "8 candidates (8 generated now" in stdout
    with RunStore.open(out) as s:
        assert s.count_candidates() == 8 and len(s.verdicts("gsm8k")) == 8


def test_the_export_opens_from_disk_and_draws(browser, view_stores, tmp_path):
    from loop.view import export_site, open_runs

    out = tmp_path / "site"
    export_site(open_runs([view_stores.regular, view_stores.fire]), out)
    for page in ("index.html", "curves.html", "run-regular-problems-all-1.html", "run-fire-p0-1.html",
                 "compare-regular--fire-all-1.html"):
        browser.get((out / page).as_uri())
        assert not browser.title.startswith("Not found") and console_errors(browser) == [], page
    browser.get((out / "curves.html").as_uri())
    for _ in range(50):
        if browser.execute_script("return window.fireassayPlotsDrawn || 0"):
            break
        time.sleep(0.2)
    assert browser.execute_script("return document.querySelectorAll('#plot-curves .scatterlayer .trace').length") > 0
