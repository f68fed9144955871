"""RFT export from a real run: the embedded SmolLM2-135M sampled on GSM8K train problems
(``fireassay run``), pooled with the same problems' gold solutions (``fireassay verify
--reference``, a second source), exported with ``fireassay rft`` and read back with
``datasets``. Every kept response is judged again by the oracle and re-keyed here."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict

import pytest

from loop.rft import extract_equations, math_key, wrong_steps
from loop.tasks import get_task
from verifiers import Candidate

pytestmark = [pytest.mark.engine, pytest.mark.slow]

PROBLEMS, SAMPLES, MAX_TOKENS = 10, 8, 160


def fireassay(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "loop.cli", *args], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"fireassay {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def exported(tmp_path_factory, shared_data):
    tmp = tmp_path_factory.mktemp("rft")
    data = str(shared_data / "gsm8k" / "train.jsonl")
    sampled, gold = tmp / "smollm2", tmp / "gold"
    fireassay("run", "--task", "gsm8k", "--data", data, "--limit", str(PROBLEMS), "-n", str(SAMPLES),
              "--max-tokens", str(MAX_TOKENS), "--seed", "0", "--out", str(sampled), "--no-report", "--quiet")
    fireassay("verify", "--task", "gsm8k", "--data", data, "--limit", str(PROBLEMS), "--reference", "--out", str(gold))
    out = tmp / "train.jsonl"
    proc = fireassay("rft", str(sampled), str(gold), "--out", str(out), "--stats", "--seed", "3")
    stats = json.loads((tmp / "train.stats.json").read_text())
    print(proc.stderr)  # the tables, for the record (pytest -s)
    print(json.dumps(stats["counts"]), json.dumps(stats["per_source"]))
    return {"out": out, "stats": stats, "log": proc.stderr + proc.stdout, "data": data}


def test_export_loads_with_datasets_in_chat_format(exported):
    import datasets  # the "test" extra installs it
    ds = datasets.load_dataset("json", data_files=str(exported["out"]), split="train")
    assert len(ds) == exported["stats"]["counts"]["kept"] > 0
    assert {"messages", "problem_id", "source"} <= set(ds.column_names)
    for msgs in ds["messages"]:
        assert [m["role"] for m in msgs] == ["user", "assistant"]
        assert msgs[0]["content"].startswith("Solve the following math word problem") and msgs[1]["content"].strip()


def test_every_kept_response_passes_the_oracle_and_its_arithmetic(exported):
    rows = [json.loads(x) for x in exported["out"].read_text().splitlines()]
    task = get_task("gsm8k", data=exported["data"])
    problems = {p.id: p for p in task.load(limit=PROBLEMS)}
    oracle = task.oracle()
    try:
        for r in rows:
            p = problems[r["problem_id"]]
            assert r["messages"][0]["content"] == p.prompt[0]["content"]
            text = r["messages"][-1]["content"]
            (v,) = oracle.verify(p, [Candidate(p.id, 0, text)])
            assert v.passed is True, (r["problem_id"], r["source"], text)
            assert wrong_steps(extract_equations(text)) == [], text
    finally:
        oracle.close()


def test_no_two_kept_responses_of_a_problem_share_a_key(exported):
    rows = [json.loads(x) for x in exported["out"].read_text().splitlines()]
    keys = defaultdict(list)
    for r in rows:
        keys[r["problem_id"]].append(math_key(r["messages"][-1]["content"]))
    assert all(len(k) == len(set(k)) for k in keys.values()), keys


def test_counts_and_sources(exported):
    s = exported["stats"]
    c, per = s["counts"], s["per_source"]
    assert set(per) == {"smollm2", "gold"}
    assert per["smollm2"]["candidates"] == PROBLEMS * SAMPLES and per["gold"]["candidates"] == PROBLEMS
    assert c["candidates"] == PROBLEMS * SAMPLES + PROBLEMS
    assert per["gold"]["correct"] == PROBLEMS  # the gold solutions pass the oracle
    assert sum(v["kept"] for v in per.values()) == c["kept"]
    assert c["kept"] == c["distinct_keys"] <= c["correct"] - c["dropped_arithmetic"]  # no --max: one per key
    a, g = per["smollm2"], per["gold"]
    shared = a["distinct_keys"] - a["only_this_source"]
    assert shared == g["distinct_keys"] - g["only_this_source"] >= 0
    assert c["distinct_keys"] == a["only_this_source"] + g["only_this_source"] + shared
    assert g["distinct_keys"] == PROBLEMS - g["dropped_arithmetic"]  # one gold path per problem
    assert s["distinct_paths_by_k"]["k"] == [1, 3, 6, 8]  # gold (n=1) adds no column
    assert "distinct reasoning paths per problem" in exported["log"]
