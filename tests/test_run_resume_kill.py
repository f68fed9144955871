"""SIGKILL a real run (embedded model, real Docker sandbox) at random points, resume it, and
compare the store with an uninterrupted run."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from loop.store import RunStore

pytestmark = [pytest.mark.docker, pytest.mark.engine, pytest.mark.slow]


def _args(shared_data: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "loop.cli", "run", "--task", "mbppplus",
            "--data", str(shared_data / "evalplus" / "MbppPlus.jsonl.gz"), "--limit", "3", "-n", "3",
            "--max-tokens", "96", "--max-turns", "2", "--seed", "7", "--gen-batch", "1", "--quiet",
            "--no-report", "--out", str(out)]


def _snapshot(run_dir: Path):
    with RunStore.open(run_dir) as s:
        cands = {c.key: c.text for c in s.candidates()}
        oracle = {k: v.passed for k, v in s.verdicts("evalplus").items()}
        feedback = {k: v.passed for k, v in s.verdicts("public_tests").items()}
        rows = s._read("SELECT COUNT(*), COUNT(DISTINCT problem_id || '/' || sample_index || '/' || turn) FROM candidates")
    return cands, oracle, feedback, rows[0]


def test_sigkill_and_resume_matches_clean_run(tmp_path, shared_data):
    clean = tmp_path / "clean"
    subprocess.run(_args(shared_data, clean), check=True, timeout=1200, capture_output=True)
    c_cands, c_oracle, c_fb, _ = _snapshot(clean)
    assert c_cands and set(c_cands) == set(c_oracle) == set(c_fb)

    killed = tmp_path / "killed"
    rng = random.Random(11)
    kills = 0
    for _attempt in range(8):
        args = _args(shared_data, killed)
        if (killed / "run.sqlite").exists():
            args = [*args[:4], "--resume", str(killed), "--quiet", "--no-report"]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            proc.wait(timeout=rng.uniform(4.0, 15.0))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the run and anything it started
            proc.wait()
            kills += 1
            continue
        assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
        break
    else:
        subprocess.run([*_args(shared_data, killed)[:4], "--resume", str(killed), "--quiet", "--no-report"],
                       check=True, timeout=1200, capture_output=True)
    assert kills >= 1, "the run finished before any kill; lower the kill delays"

    k_cands, k_oracle, k_fb, (rows, distinct) = _snapshot(killed)
    assert rows == distinct  # no duplicates
    assert set(k_cands) == set(k_oracle) == set(k_fb)  # everything judged
    assert set(k_cands) == set(c_cands)  # same problems, sample indices and turns
    assert k_cands == c_cands  # the embedded engine is deterministic per seed: same texts
    assert k_oracle == c_oracle and k_fb == c_fb
    turns = defaultdict(list)
    for pid, idx, turn in k_cands:
        turns[(pid, idx)].append(turn)
    assert all(sorted(t) == list(range(len(t))) for t in turns.values())
