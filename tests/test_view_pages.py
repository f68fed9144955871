"""`fireassay view` over real stores, without a browser: the index reads a store exactly as the
report does, unknown ids get 404 pages, the export is a folder of pages that link to each other
with hostile text escaped, and the server binds loopback unless told otherwise (then warns)."""
from __future__ import annotations

import json
import re
import urllib.request
from html.parser import HTMLParser

import pytest
from starlette.testclient import TestClient

from loop.analysis import load_run_data
from loop.report import ReportConfig, build_report
from loop.view import create_app, export_site, open_runs

try:
    from tests.browser import ViewServer
except ImportError:
    from browser import ViewServer

pytestmark = [pytest.mark.engine, pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def runs(view_stores):
    return open_runs(view_stores.all)


@pytest.fixture(scope="module")
def client(runs):
    return TestClient(create_app(runs), base_url="http://127.0.0.1")


def _report(data):
    return json.dumps(build_report([data], ReportConfig(progress=False)).to_dict(), sort_keys=True, default=str)


def test_the_index_reads_each_store_as_the_report_does(runs):
    assert set(runs) == {"regular", "fire", "mbpp-2turn", "mbpp-verify--img-src-x-onerror-window.__xssName-1", "swe",
                         "gsm8k-verify"}
    for idx in runs.values():
        assert _report(idx.run_data()) == _report(load_run_data(idx.source.run_dir, name=idx.name)), idx.rid


def test_unknown_ids_and_bad_requests_get_pages_not_tracebacks(client):
    for url in ("/run/nope", "/run/nope/problems", "/run/regular/problem/99", "/run/regular/problem/abc",
                "/run/regular/problem-id/no-such-problem", "/run/regular/problems?show=bogus",
                "/run/regular/problems?page=99", "/run/regular/problem/0?show=class:77", "/compare?a=regular&b=nope",
                "/static/../../etc/passwd", "/nothing/here"):
        r = client.get(url)
        assert r.status_code == 404, url
        assert "Not found" in r.text and "Traceback" not in r.text, url
    r = client.get("/run/regular/problems?page=x")
    assert r.status_code == 400 and "not a whole number" in r.text
    assert client.post("/").status_code == 405
    assert client.get("/api/run/nope/live").status_code == 404
    r = client.get("/", headers={"Host": "attacker.example"})  # DNS rebinding: a foreign Host is refused
    assert r.status_code == 400
    r = client.get("/run/regular/problem-id/0", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/run/regular/problem/0"
    page = client.get("/run/regular")
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_sort_and_search_over_the_problems(client, runs):
    ids = lambda html: re.findall(r'<tr data-pid="([^"]+)"', html)  # noqa: E731
    idx = runs["regular"]
    order = sorted(idx.ordered(), key=lambda p: (p.n_correct / p.n, p.position), reverse=True)
    assert ids(client.get("/run/regular/problems?sort=correct&desc=1").text) == [p.pid for p in order]
    word = idx.infos[1].prompt_text.split()[-1]
    want = [i.pid for i in idx.infos if word in i.prompt_text or word in i.pid.lower()]
    assert ids(client.get("/run/regular/problems", params={"q": word.upper()}).text) == want
    assert ids(client.get("/run/regular/problems", params={"q": "%_no such text_%"}).text) == []


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("href", "src") and v:
                self.links.append(v)


def test_export_is_a_folder_of_linked_pages_with_hostile_text_escaped(runs, tmp_path):
    out = tmp_path / "site"
    files = export_site(runs, out)
    pages = [f for f in files if f.suffix == ".html"]
    assert (out / "index.html") in pages and (out / "curves.html") in pages
    assert (out / "static" / "plotly.min.js").stat().st_size > 1_000_000
    for f in pages:
        text = f.read_text()
        parser = _Links()
        parser.feed(text)
        for link in parser.links:
            if link.startswith(("data:", "#")):
                continue
            assert not link.startswith(("http:", "https:", "/", "javascript:")), (f.name, link)
            assert (out / link.split("#")[0]).exists(), (f.name, link)
        assert "<script>window" not in text and "<img src=x" not in text, f.name
    verify = (out / "run-mbpp-verify--img-src-x-onerror-window.__xssName-1-p0-1.html").read_text()
    assert "&lt;/pre&gt;&lt;/code&gt;&lt;script&gt;window.__xss = &#39;script&#39;&lt;/script&gt;" in verify


def test_default_bind_is_loopback_and_another_host_warns(view_stores):
    srv = ViewServer(view_stores.regular)
    try:
        assert srv.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(srv.url, timeout=30) as r:
            assert r.status == 200
    finally:
        srv.stop()
    srv = ViewServer(view_stores.regular, extra=("--host", "0.0.0.0"))
    err = srv.stop()
    assert "warning: --host 0.0.0.0 serves these runs" in err
