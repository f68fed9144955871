"""Bad input, surface: damaged run stores. An empty, truncated, foreign or non-SQLite
``run.sqlite`` is refused by ``verify --resume``, ``report`` and ``export`` with one message naming
it, and never re-created or changed (nothing lost); ``fireassay doctor RUN`` says what is
readable, and ``export --salvage`` writes what SQLite can still read."""
from __future__ import annotations

import json
import shutil
import sqlite3

import pytest

from .harness import gsm8k_rows, refused, run_cli, run_cli_quietly, tree, write_jsonl

N_PROBLEMS, N_SAMPLES = 40, 6


@pytest.fixture(scope="module")
def healthy(tmp_path_factory):
    """A finished verify run (40 problems x 6 samples), built once; tests damage copies."""
    root = tmp_path_factory.mktemp("store")
    data = write_jsonl(root / "d.jsonl", gsm8k_rows(N_PROBLEMS))
    samples = write_jsonl(root / "s.jsonl", [{"problem_id": str(i), "text": f"The answer is {i + 1 + j % 2}."}
                                             for i in range(N_PROBLEMS) for j in range(N_SAMPLES)])
    out = root / "run"
    assert run_cli_quietly("verify", "--task", "gsm8k", "--data", data, "--samples", samples, "--out", out) == 0
    return {"data": data, "samples": samples, "run": out}


def _damaged(healthy, tmp_path, how: str):
    run = tmp_path / "run"
    shutil.copytree(healthy["run"], run)
    db = run / "run.sqlite"
    if how == "empty":
        db.write_bytes(b"")
    elif how == "truncated":
        with db.open("r+b") as fh:
            fh.truncate(5000)
    elif how == "not sqlite":
        db.write_bytes(b"this is not a database\n" * 300)
    elif how == "foreign sqlite":
        db.unlink()
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE notes (body TEXT)")
            conn.execute("INSERT INTO notes VALUES ('mine')")
        conn.close()
    return run


KINDS = {"empty": "empty", "truncated": "damaged", "not sqlite": "not a SQLite", "foreign sqlite": "not a fireassay"}


@pytest.mark.parametrize("how", sorted(KINDS))
def test_resume_report_and_export_refuse_a_bad_store_and_change_nothing(healthy, tmp_path, capsys, how):
    run = _damaged(healthy, tmp_path, how)
    before = tree(run)
    db = str(run / "run.sqlite")
    for args in (["verify", "--task", "gsm8k", "--data", healthy["data"], "--samples", healthy["samples"],
                  "--out", run, "--resume"],
                 ["report", run, "--out", tmp_path / "rep"],
                 ["export", run, "--out", tmp_path / "e.jsonl"]):
        msg = refused(run_cli(capsys, *args), db, KINDS[how])
        assert "doctor" in msg  # says where to look for what can be recovered
        assert tree(run) == before, args  # never re-created, repaired or added to
    assert tree(tmp_path / "rep") == {} and not (tmp_path / "e.jsonl").exists()


def test_doctor_says_what_a_damaged_store_still_holds(healthy, tmp_path, capsys):
    run = _damaged(healthy, tmp_path, "truncated")
    r = run_cli(capsys, "doctor", run)
    assert r.code == 1
    text = " ".join((r.out + r.err).split())
    assert "damaged" in text and "run.sqlite" in text and "--salvage" in text
    ok = run_cli(capsys, "doctor", healthy["run"])
    assert ok.code == 0 and f"{N_PROBLEMS * N_SAMPLES} candidates" in " ".join((ok.out + ok.err).split())


def test_export_salvage_writes_only_rows_sqlite_can_still_read(healthy, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(healthy["run"], run)
    db = run / "run.sqlite"
    size = db.stat().st_size
    with db.open("r+b") as fh:
        fh.truncate(int(size * 0.6) // 4096 * 4096)  # the tail pages gone
    assert run_cli(capsys, "export", run, "--out", tmp_path / "x.jsonl").code == 2
    r = run_cli(capsys, "export", run, "--out", tmp_path / "e.jsonl", "--salvage")
    assert r.code == 0, r.err
    assert "damaged" in " ".join(r.err.split())
    full = tmp_path / "full.jsonl"
    assert run_cli(capsys, "export", healthy["run"], "--out", full).code == 0
    original = {(o["problem_id"], o["sample_index"]): o for o in map(json.loads, full.open())}
    saved = [json.loads(line) for line in (tmp_path / "e.jsonl").open()]
    for row in saved:  # nothing invented: each salvaged row is as it was stored
        ref = original[(row["problem_id"], row["sample_index"])]
        assert row["text"] == ref["text"]
        assert row["passed"] in (ref["passed"], None)
