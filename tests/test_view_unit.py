"""`fireassay view`'s pure parts and its refusals, on small stores made here (no model, no
browser): JSON in script blocks, the hot-token split, the writer lock, read-only opening, the
messages for folders that are not runs or come from a newer fireassay, export folder checks."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from loop.store import SCHEMA_VERSION, RunStore, StoreError, writer_active, writer_lock
from loop.view import RunSource, ViewError, open_runs
from loop.view.export import MARKER, check_export_dir
from loop.view.pages import script_json
from loop.view.present import gold_text, split_hot, verdict_view
from verifiers import Candidate, Problem, Verdict


def test_script_json_cannot_close_its_script_element():
    hostile = {"name": "</script><script>alert(1)</script><!--", "sep": "\u2028"}
    text = str(script_json(hostile))
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == hostile


def test_hot_token_is_split_where_fire_put_it():
    fire = {"name": "fire"}
    parts = split_hot("Let's go. Then", {"hot_token": "Let", "hot_position": 0, "hot_char": 0}, fire, 0)
    assert (parts.before, parts.hot, parts.after) == ("", "Let", "'s go. Then")
    parts = split_hot("First. Second", {"hot_token": " Second", "hot_position": 3, "hot_char": 6}, fire, 0)
    assert (parts.before, parts.hot, parts.after) == ("First.", " Second", "")
    # a stale offset or another sampler: nothing is marked, the note says where it was
    parts = split_hot("abc", {"hot_token": "zz", "hot_position": 4, "hot_char": 1}, fire, 0)
    assert parts.hot == "" and parts.before == "abc" and "token 4" in parts.note
    assert split_hot("Let", {"hot_token": "Let", "hot_position": 0}, {"name": "regular"}, 0).hot == ""
    assert split_hot("Let", {"hot_token": "Let", "hot_position": 0}, fire, 1).hot == ""


def test_gold_text_and_code_failure_input_from_the_reference():
    assert gold_text("so 3 + 4 = <<3+4=7>>7\n#### 7") == "7"
    assert gold_text({"answer": "\\frac{1}{2}", "solution": "..."}) == "\\frac{1}{2}"
    ref = {"entry_point": "f", "base_input": [[1, 2]], "plus_input": [[3, 4], [5, 6]]}
    assert gold_text(ref) == "tests: 1 base + 2 plus inputs of f()"
    details = json.dumps({"first_failure": {"suite": "plus", "index": 1, "kind": "wrong_answer"}})
    v = verdict_view("evalplus", "oracle", (0.0, 0, None, "", details), ref)
    assert v.failure["input"] == "[5, 6]" and v.failure["kind"] == "wrong_answer"
    v = verdict_view("x", "oracle", (None, None, None, "", "{not json"), None)
    assert v.passed is None and v.rest == [("unreadable details", "{not json")]


def _small_run(path):
    with RunStore.create(path, {"command": "verify", "task": "gsm8k", "name": "small"}) as s:
        p = Problem("p1", ({"role": "user", "content": "2+2?"},), "4", {})
        s.add_problems([p])
        c = Candidate(problem_id="p1", sample_index=0, turn=0, text="The answer is 4")
        s.add_candidates([c])
        s.register_verifier("gsm8k", "oracle", True, "vote")
        s.add_verdicts("gsm8k", [(c, Verdict(1.0, True, "4"))])
    return path


def test_writer_lock_is_seen_and_refuses_a_second_writer(tmp_path):
    run = _small_run(tmp_path / "r")
    assert not writer_active(run)
    with writer_lock(run):
        assert writer_active(run)
        with pytest.raises(StoreError, match="another fireassay process is writing"):
            with writer_lock(run, wait_s=0.2):
                pass
        assert RunSource(run).state({"status": "running"}, 1, 1, 1, None) == "running"
    assert not writer_active(run)
    src = RunSource(run)
    assert src.state({"status": "running"}, 1, 1, 1, None) == "interrupted"  # killed: no lock, not finished
    assert src.state({"status": "finished"}, 1, 1, 1, None) == "finished"
    assert src.state({}, 2, 1, 1, None) == "interrupted"  # a verify store with unjudged candidates


def test_the_store_is_opened_read_only_and_never_changed(tmp_path):
    run = _small_run(tmp_path / "r")
    before = (run / "run.sqlite").read_bytes()
    runs = open_runs([run])
    src = runs["r"].source
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        src.query("INSERT INTO config VALUES ('x', '1')")
    from starlette.testclient import TestClient

    from loop.view import create_app

    client = TestClient(create_app(runs), base_url="http://127.0.0.1")
    for url in ("/", "/run/r", "/run/r/problems", "/run/r/problem/0", "/curves", "/api/run/r/live"):
        assert client.get(url).status_code == 200, url
    src.close()
    assert (run / "run.sqlite").read_bytes() == before


def test_folders_that_are_not_runs_get_one_clear_message(tmp_path):
    with pytest.raises(ViewError, match="no such folder"):
        RunSource(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ViewError, match="not a fireassay run .no run.sqlite"):
        RunSource(tmp_path / "empty")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "run.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ViewError, match="not a fireassay run store"):
        RunSource(tmp_path / "junk")
    (tmp_path / "other").mkdir()
    con = sqlite3.connect(tmp_path / "other" / "run.sqlite")
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(ViewError, match="no table 'config'"):
        RunSource(tmp_path / "other")
    newer = _small_run(tmp_path / "newer")
    con = sqlite3.connect(newer / "run.sqlite")
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    with pytest.raises(ViewError, match="newer fireassay"):
        RunSource(newer)
    with pytest.raises(StoreError, match="newer fireassay"):  # and the writers refuse it too
        RunStore.open(newer)
    p = subprocess.run([sys.executable, "-m", "loop.cli", "view", str(newer)], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 2 and "newer fireassay" in p.stderr and "Traceback" not in p.stderr


def test_export_refuses_run_folders_and_foreign_files(tmp_path):
    run = _small_run(tmp_path / "r")
    with pytest.raises(ViewError, match="is a run directory"):
        check_export_dir(run)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ViewError, match="not empty"):
        check_export_dir(tmp_path / "busy")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / MARKER).write_text("")
    (tmp_path / "old" / "index.html").write_text("")
    check_export_dir(tmp_path / "old")  # an earlier export is overwritten


def test_hostile_candidate_text_is_escaped_on_the_page(tmp_path):
    payload = "</pre><script>window.__xss=1</script><img src=x onerror=alert(1)>"
    run = tmp_path / "r"
    with RunStore.create(run, {"command": "verify", "task": "gsm8k", "name": payload}) as s:
        s.add_problems([Problem("p<i>x</i>", ({"role": "user", "content": payload},), "4", {})])
        c = Candidate(problem_id="p<i>x</i>", sample_index=0, turn=0, text=payload)
        s.add_candidates([c])
        s.register_verifier("gsm8k", "oracle", True, "vote")
        s.add_verdicts("gsm8k", [(c, Verdict(0.0, False, payload, payload, {"why": payload}))])
    from starlette.testclient import TestClient

    from loop.view import create_app

    client = TestClient(create_app(open_runs([run])), base_url="http://127.0.0.1")
    for url in ("/", "/run/r", "/run/r/problems", "/run/r/problem/0", "/curves"):
        html = client.get(url).text
        assert "<script>window" not in html and "<img src=x" not in html and "<i>x</i>" not in html, url
    html = client.get("/run/r/problem/0").text
    assert html.count("&lt;/pre&gt;&lt;script&gt;window.__xss=1&lt;/script&gt;") >= 3  # prompt, text, answer


def test_pages_answer_while_a_large_index_is_still_being_read(tmp_path, monkeypatch):
    """The index publishes problems as it reads them: pages render (partial, and saying so)
    while a refresh runs in another thread; the finished index has every problem. Reading is
    slowed down here (a fake delay) so that the pages are asked mid-way."""
    import threading
    import time

    from starlette.testclient import TestClient

    import loop.view.index as index_module
    from loop.view import create_app

    run = tmp_path / "r"
    with RunStore.create(run, {"command": "verify", "task": "gsm8k", "name": "slow"}) as s:
        s.register_verifier("gsm8k", "oracle", True, "vote")
        for i in range(8):
            p = Problem(f"p{i}", ({"role": "user", "content": "?"},), "4", {})
            s.add_problems([p])
            c = Candidate(problem_id=p.id, sample_index=0, turn=0, text="4")
            s.add_candidates([c])
            s.add_verdicts("gsm8k", [(c, Verdict(1.0, True, "4"))])
    runs = open_runs([run], build=False)
    real = index_module.load_problem

    def slow(*args, **kwargs):
        time.sleep(0.25)
        return real(*args, **kwargs)

    monkeypatch.setattr(index_module, "load_problem", slow)
    monkeypatch.setattr(index_module, "PUBLISH_S", 0.0)
    idx = runs["r"]
    builder = threading.Thread(target=idx.refresh, kwargs={"force": True})
    builder.start()
    client = TestClient(create_app(runs), base_url="http://127.0.0.1")
    time.sleep(0.8)
    t0 = time.monotonic()
    page = client.get("/run/r/problems")
    assert time.monotonic() - t0 < 1.0 and page.status_code == 200  # not held up by the refresh
    assert "indexing this run:" in page.text and 0 < len(idx.problems) < 8
    builder.join()
    page = client.get("/run/r/problems")
    assert "indexing this run" not in page.text and len(idx.problems) == 8
    assert page.text.count('<tr data-pid="') == 8
