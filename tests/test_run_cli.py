"""`fireassay run` end to end with the embedded model on real GSM8K problems."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from loop.store import RunStore

pytestmark = [pytest.mark.engine, pytest.mark.slow]


def cli(*args, check=True):
    p = subprocess.run([sys.executable, "-m", "loop.cli", *map(str, args)], capture_output=True, text=True, timeout=1500)
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}\n{p.stdout}\n{p.stderr[-3000:]}")
    return p


def test_run_fire_and_regular_then_report_export_and_resume(tmp_path, shared_data):
    data = shared_data / "gsm8k" / "test.jsonl"
    common = ["--task", "gsm8k", "--data", data, "--limit", "4", "-n", "4", "--max-tokens", "64", "--quiet"]
    for sampler in ("regular", "fire"):
        p = cli("run", *common, "--sampler", sampler, "--out", tmp_path / sampler, "--name", sampler)
        assert "16 candidates (16 generated now" in p.stdout
        assert (tmp_path / sampler / "report" / "report.json").exists()
    with RunStore.open(tmp_path / "fire") as s:
        cands = s.candidates()
        cfg = s.config()
    assert cfg["sampler"] == "fire" and cfg["n"] == 4 and cfg["model_path"].endswith(".gguf")
    assert {c.sampler["name"] for c in cands} == {"fire"}
    assert all(c.text.startswith(c.meta["first_token"].lstrip()) or c.meta["first_token"].strip() == "" for c in cands)
    cli("export", tmp_path / "fire", "--out", tmp_path / "e.jsonl")
    rows = [json.loads(row) for row in (tmp_path / "e.jsonl").open()]
    assert len(rows) == 16 and all(r["sampler"] == "fire" and isinstance(r["tokens"], int) and r["first_token"] is not None for r in rows)
    cli("report", tmp_path / "regular", tmp_path / "fire", "--out", tmp_path / "rep")
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert [r["name"] for r in rep["runs"]] == ["regular", "fire"]
    # FIRE's one-token first-token request per prompt is counted (issue 16 item 15)
    cm = {r["name"]: r["compute_matched"] for r in rep["runs"]}
    assert cm["regular"]["shared_calls_per_problem"] == 0 and cm["fire"]["shared_calls_per_problem"] == 1
    assert cm["fire"]["calls"][0] == cm["fire"]["calls_per_trajectory"] + 1
    assert all(set(r["coverage"]) == {"1", "2", "4"} for r in rep["runs"])
    # the report counts distinct first tokens per problem (turn 0), recomputed here from the stores
    for r in rep["runs"]:
        with RunStore.open(tmp_path / r["name"]) as s:
            firsts: dict = {}
            for c in s.candidates():
                firsts.setdefault(c.problem_id, set()).add(c.meta["first_token"])
        assert r["meta"]["distinct_first_tokens"] == round(sum(map(len, firsts.values())) / len(firsts), 2)
    assert "distinct 1st tokens" in (tmp_path / "rep" / "report.md").read_text()
    # a finished run resumes to nothing new; a resume with other settings is refused
    p = cli("run", "--resume", tmp_path / "fire", "--quiet")
    assert "(0 generated now" in p.stdout
    p = cli("run", "--resume", tmp_path / "fire", "-n", "6", check=False)
    assert p.returncode == 2 and "n: stored 4, given 6" in p.stderr


def test_run_rejects_bad_settings_with_one_message(tmp_path):
    p = cli("run", "--task", "gsm8k", "--out", tmp_path / "r", "--sampler", "fire@sentence:0", check=False)
    assert p.returncode == 2 and "N >= 1" in p.stderr and "Traceback" not in p.stderr
    p = cli("run", "--task", "gsm8k", "--out", tmp_path / "r", "--temperature", "-1", check=False)
    assert p.returncode == 2 and "temperature" in p.stderr
    p = cli("run", "--task", "gsm8k", "--data", tmp_path / "none.jsonl", "--out", tmp_path / "r", check=False)
    assert p.returncode == 2 and "no such file" in p.stderr
    (tmp_path / "d.jsonl").write_text('{"question": "1+1?", "answer": "#### 2"}\n')
    p = cli("run", "--task", "gsm8k", "--data", tmp_path / "d.jsonl", "--out", tmp_path / "r", "--model",
            tmp_path / "missing.gguf", check=False)
    assert p.returncode == 2 and "model file not found" in p.stderr
    assert not (tmp_path / "r").exists()  # nothing written before the model was found


def test_llm_judge_without_engine_judges_with_the_runs_own_model(tmp_path, shared_data):
    out = tmp_path / "r"
    p = cli("run", "--task", "gsm8k", "--data", shared_data / "gsm8k" / "test.jsonl", "--limit", "2", "-n", "2",
            "--max-tokens", "24", "--quiet", "--no-report", "--selectors", "majority,llm_judge", "--out", out)
    assert "4 candidates (4 generated now" in p.stdout
    with RunStore.open(out) as s:
        judged = s.verdicts("llm_judge")
        assert s.config()["selector_specs"]["llm_judge"] == "llm_judge"
        assert s.verifiers()["llm_judge"]["role"] == "selector"
    assert len(judged) == 4
    scores = [v.score for v in judged.values()]
    assert all(0.0 <= x <= 1.0 for x in scores if x == x) and any(x == x for x in scores)  # P(Yes) from the run's model
    assert all("yes_no_mass" in v.details for v in judged.values())


def test_sweep_temperature_with_the_embedded_model_and_resume(tmp_path, shared_data):
    """Issue 16 item 14: --sweep runs one sub-run per value (same problems, same seeds), the
    report puts them on one plot, and --resume OUT finishes a sweep with nothing done twice."""
    data = shared_data / "gsm8k" / "test.jsonl"
    out = tmp_path / "sweep"
    p = cli("run", "--task", "gsm8k", "--data", data, "--limit", "2", "-n", "2", "--max-tokens", "24", "--quiet",
            "--sampler", "fire", "--sweep", "hot_temperature=1,30", "--out", out)
    assert p.stdout.count("4 candidates (4 generated now") == 2
    seeds = []
    for v in ("1", "30"):
        with RunStore.open(out / f"hot_temperature={v}") as s:
            seeds.append({c.key: c.seed for c in s.candidates()})
            assert s.config()["sampler_params"]["hot_temperature"] == int(v)
    assert seeds[0] == seeds[1]
    md = (out / "report" / "report.md").read_text()
    assert "## Sweep: hot_temperature" in md and (out / "report" / "sweep_hot_temperature.png").exists()
    p = cli("run", "--resume", out, "--quiet")
    assert p.stdout.count("(0 generated now") == 2
    p = cli("run", "--resume", out, "--sweep", "hot_temperature=1,2", check=False)
    assert p.returncode == 2 and "different sweep" in p.stderr
    p = cli("run", "--task", "gsm8k", "--data", data, "--sweep", "hot_temperature=1,30", "--out", tmp_path / "bad",
            check=False)
    assert p.returncode == 2 and "hot_temperature" in p.stderr and not (tmp_path / "bad").exists()
