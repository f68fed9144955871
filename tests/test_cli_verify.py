"""`fireassay verify/export/report` end to end on real GSM8K data; bad input; resume."""
from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from loop.store import RunStore

FIREASSAY = [sys.executable, "-m", "loop.cli"]


def run_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([*FIREASSAY, *map(str, args)], capture_output=True, text=True, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}\nstdout:{p.stdout}\nstderr:{p.stderr}")
    return p


@pytest.fixture(scope="module")
def gsm8k_file(shared_data) -> Path:
    return shared_data / "gsm8k" / "test.jsonl"


def make_samples(path: Path, gsm8k_file: Path, problems: int = 12, n: int = 8, seed: int = 3) -> Path:
    rng = random.Random(seed)
    rows = [json.loads(line) for line in gsm8k_file.open()][:problems]
    with path.open("w") as fh:
        for i, r in enumerate(rows):
            gold = int(float(r["answer"].split("####")[-1].strip().replace(",", "")))
            for _ in range(n):
                ans = gold if rng.random() < 0.4 else gold + rng.randint(1, 3)
                fh.write(json.dumps({"problem_id": str(i), "text": f"so... The answer is {ans}.", "score": rng.random()}) + "\n")
    return path


def test_verify_export_report(tmp_path, gsm8k_file):
    samples = make_samples(tmp_path / "s.jsonl", gsm8k_file)
    out = tmp_path / "run"
    p = run_cli("verify", "--task", "gsm8k", "--data", gsm8k_file, "--samples", samples, "--out", out,
                "--selectors", "majority,best_of_n,weighted_majority")
    line = [s for s in p.stdout.splitlines() if s.startswith("verified")][0]
    assert line.startswith("verified 96 candidates: ")
    passed = int(line.split(": ")[1].split()[0])
    # export: one row per candidate, oracle verdict at top level, every verifier under "verdicts"
    run_cli("export", out, "--out", tmp_path / "e.jsonl")
    rows = [json.loads(row) for row in (tmp_path / "e.jsonl").open()]
    assert len(rows) == 96 and sum(r["passed"] is True for r in rows) == passed
    assert set(rows[0]["verdicts"]) == {"gsm8k", "majority", "best_of_n", "weighted_majority"}
    for r in rows:  # the oracle agrees with the text we wrote
        gold = json.loads(gsm8k_file.open().readlines()[int(r["problem_id"])])["answer"].split("####")[-1].strip()
        assert r["passed"] == (r["text"].split("is ")[-1].rstrip(".") == gold.replace(",", ""))
    # majority picks one candidate per problem, of the largest class
    by_pid: dict[str, list] = {}
    for r in rows:
        by_pid.setdefault(r["problem_id"], []).append(r)
    for rs in by_pid.values():
        picked = [r for r in rs if r["verdicts"]["majority"]["passed"]]
        assert len(picked) == 1
        assert picked[0]["verdicts"]["majority"]["score"] == max(r["verdicts"]["majority"]["score"] for r in rs)
    run_cli("report", out, "--out", tmp_path / "rep")
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    r0 = rep["runs"][0]
    assert r0["task"] == "gsm8k" and r0["n"] == 8 and r0["problems"] == 12
    assert set(r0["selection"]) == {"majority", "best_of_n", "weighted_majority"}
    assert abs(r0["coverage"]["1"] - passed / 96) < 1e-9
    assert (tmp_path / "rep" / "coverage.png").stat().st_size > 1000


def test_reference_mode(tmp_path, gsm8k_file):
    p = run_cli("verify", "--task", "gsm8k", "--data", gsm8k_file, "--reference", "--limit", "30", "--out", tmp_path / "r")
    assert "verified 30 candidates: 30 passed, 0 failed, 0 unjudged" in p.stdout


@pytest.mark.parametrize(
    "line,message",
    [
        ('{"problem_id": "0", "text": "x"}\n{not json}\n', "s.jsonl:2: invalid JSON"),
        ('{"problem_id": "99999", "text": "x"}\n', "unknown problem_id '99999'"),
        ('{"text": "x"}\n', "s.jsonl:1: missing \"problem_id\""),
        ('{"problem_id": "0", "text": 5}\n', "\"text\" must be a string"),
        ('{"problem_id": "0", "text": "a", "sample_index": 0}\n{"problem_id": "0", "text": "b", "sample_index": 0}\n',
         "s.jsonl:2: duplicate sample"),
    ],
)
def test_bad_input_gets_one_clear_error(tmp_path, gsm8k_file, line, message):
    (tmp_path / "s.jsonl").write_text(line)
    p = run_cli("verify", "--task", "gsm8k", "--data", gsm8k_file, "--samples", tmp_path / "s.jsonl",
                "--out", tmp_path / "r", check=False)
    assert p.returncode == 2
    assert message in " ".join(p.stderr.split()), p.stderr
    assert "Traceback" not in p.stderr


def test_unknown_task_and_missing_data(tmp_path):
    p = run_cli("verify", "--task", "nope", "--reference", "--out", tmp_path / "r", check=False)
    assert p.returncode == 2 and "unknown task 'nope'" in p.stderr and "gsm8k" in p.stderr
    p = run_cli("verify", "--task", "gsm8k", "--data", tmp_path / "missing.jsonl", "--reference", "--out", tmp_path / "r", check=False)
    assert p.returncode == 2 and "no such file" in p.stderr


def test_empty_text_is_a_failed_candidate_and_null_text_is_refused(tmp_path, gsm8k_file):
    (tmp_path / "s.jsonl").write_text('{"problem_id": "0", "text": ""}\n{"problem_id": "0", "text": ""}\n')
    p = run_cli("verify", "--task", "gsm8k", "--data", gsm8k_file, "--samples", tmp_path / "s.jsonl", "--out", tmp_path / "r")
    assert "verified 2 candidates: 0 passed, 2 failed, 0 unjudged" in p.stdout
    (tmp_path / "n.jsonl").write_text('{"problem_id": "0", "text": ""}\n{"problem_id": "0", "text": null}\n')
    p = run_cli("verify", "--task", "gsm8k", "--data", gsm8k_file, "--samples", tmp_path / "n.jsonl", "--out", tmp_path / "n",
                check=False)
    assert p.returncode == 2 and f"{tmp_path / 'n.jsonl'}:2" in p.stderr and not (tmp_path / "n").exists()


def test_resume_verifies_only_what_is_missing(tmp_path, gsm8k_file):
    samples = make_samples(tmp_path / "s.jsonl", gsm8k_file, problems=10, n=4)
    out = tmp_path / "run"
    args = ["verify", "--task", "gsm8k", "--data", gsm8k_file, "--samples", samples, "--out", out]
    run_cli(*args)
    with RunStore.open(out) as s:
        full = {k: (v.passed, v.answer) for k, v in s.verdicts("gsm8k").items()}
    # simulate a crash mid-verify: half of the verdicts never got written
    db = sqlite3.connect(out / "run.sqlite")
    db.execute("DELETE FROM verdicts WHERE verifier='gsm8k' AND CAST(problem_id AS INTEGER) >= 5")
    db.commit()
    db.close()
    with RunStore.open(out) as s:
        assert sorted(s.problems_missing("gsm8k"), key=int) == ["5", "6", "7", "8", "9"]
    p = run_cli(*args, check=False)  # without --resume the run is protected
    assert p.returncode == 2 and "--resume" in p.stderr
    p = run_cli(*args, "--resume")
    assert "verified 40 candidates" in p.stdout
    with RunStore.open(out) as s:
        assert {k: (v.passed, v.answer) for k, v in s.verdicts("gsm8k").items()} == full
    # resuming with other settings is refused, naming the setting
    p = run_cli(*args[:-2], "--out", out, "--selectors", "best_of_n", "--resume", check=False)
    assert p.returncode == 2 and "selectors" in p.stderr


def test_answer_format_strict_is_stored_and_reported(tmp_path, gsm8k_file):
    """Issue 16 item 1: `--answer-format strict` judges only '#### x' (Large Language Monkeys'
    rule), is stored with the run, keys the votes the same way, and the report prints it; the
    default (flexible) is printed too."""
    rows = [json.loads(line) for line in gsm8k_file.open()][:2]
    samples = tmp_path / "s.jsonl"
    with samples.open("w") as fh:
        for i, r in enumerate(rows):
            gold = r["answer"].split("####")[-1].strip()
            for text in (f"#### {gold}", f"The answer is {gold}.", f"#### {gold}", "#### 0"):
                fh.write(json.dumps({"problem_id": str(i), "text": text}) + "\n")
    lines = {}
    for fmt in ("strict", None):
        out = tmp_path / f"run-{fmt}"
        extra = ["--answer-format", fmt] if fmt else []
        p = run_cli("verify", "--task", "gsm8k", "--data", gsm8k_file, "--samples", samples, "--out", out, *extra)
        lines[fmt] = [s for s in p.stdout.splitlines() if s.startswith("verified")][0]
        run_cli("report", out, "--out", out / "report")
        md = (out / "report" / "report.md").read_text()
        assert f"gsm8k (answer format {fmt or 'flexible'})" in md
        with RunStore.open(out) as s:
            maj = s.verdicts("majority")
        # strict: "The answer is N." has no answer class, so it is never the majority's pick
        no_answer = [k for k, v in maj.items() if v.answer is None]
        assert len(no_answer) == (2 if fmt == "strict" else 0)
    assert lines["strict"].startswith("verified 8 candidates: 4 passed, 4 failed")
    assert lines[None].startswith("verified 8 candidates: 6 passed, 2 failed")
    bad = run_cli("verify", "--task", "gsm8k", "--data", gsm8k_file, "--samples", samples, "--out",
                  tmp_path / "bad", "--answer-format", "loose", check=False)
    assert bad.returncode == 2 and "strict or flexible" in bad.stderr and not (tmp_path / "bad").exists()
    bad = run_cli("verify", "--task", "math500", "--data", gsm8k_file, "--samples", samples, "--out",
                  tmp_path / "bad", "--answer-format", "strict", check=False)
    assert bad.returncode == 2 and "answer_format" in bad.stderr and not (tmp_path / "bad").exists()


def test_weighted_majority_transform_stored_and_reported(tmp_path, gsm8k_file):
    """Issue 16 item 3: the transform is in the stored spec and every verdict, and the report
    names it (default raw); a bad one is refused before anything is written."""
    samples = make_samples(tmp_path / "s.jsonl", gsm8k_file, problems=3, n=4)
    out = tmp_path / "run"
    run_cli("verify", "--task", "gsm8k", "--data", gsm8k_file, "--samples", samples, "--out", out,
            "--selectors", "weighted_majority,weighted_majority:transform=sigmoid:as=wm_sigmoid")
    with RunStore.open(out) as s:
        assert s.config()["selector_specs"]["wm_sigmoid"] == "weighted_majority:transform=sigmoid"
        assert {v.details["transform"] for v in s.verdicts("weighted_majority").values()} == {"raw"}
        assert {v.details["transform"] for v in s.verdicts("wm_sigmoid").values()} == {"sigmoid"}
    run_cli("report", out, "--out", out / "report")
    md = (out / "report" / "report.md").read_text()
    assert "| weighted_majority | weighted_vote (transform raw) |" in md
    assert "weighted_vote (transform sigmoid)" in md
    rep = json.loads((out / "report" / "report.json").read_text())
    assert rep["runs"][0]["selectors"]["wm_sigmoid"]["transform"] == "sigmoid"
    bad = run_cli("verify", "--task", "gsm8k", "--data", gsm8k_file, "--samples", samples, "--out",
                  tmp_path / "bad", "--selectors", "weighted_majority:transform=exp", check=False)
    assert bad.returncode == 2 and "raw, shift, sigmoid, softmax" in bad.stderr and not (tmp_path / "bad").exists()
