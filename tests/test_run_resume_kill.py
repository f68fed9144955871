"""SIGKILL a real run (embedded model, real Docker sandbox) at random points, resume it, and
compare the store with an uninterrupted run."""
from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from loop.engines import create_engine
from loop.run import RunConfig, execute_run
from loop.store import RunStore
from loop.tasks import get_task

pytestmark = [pytest.mark.engine, pytest.mark.slow]


def _args(shared_data: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "loop.cli", "run", "--task", "mbppplus",
            "--data", str(shared_data / "evalplus" / "MbppPlus.jsonl.gz"), "--limit", "3", "-n", "3",
            "--max-tokens", "96", "--max-turns", "2", "--seed", "7", "--gen-batch", "1", "--quiet",
            "--no-report", "--out", str(out)]


def _snapshot(run_dir: Path, verifiers: tuple[str, ...]):
    with RunStore.open(run_dir) as s:
        cands = {c.key: c.text for c in s.candidates()}
        verdicts = [{k: v.passed for k, v in s.verdicts(name).items()} for name in verifiers]
        rows = s._read("SELECT COUNT(*), COUNT(DISTINCT problem_id || '/' || sample_index || '/' || turn) FROM candidates")
    return cands, verdicts, rows[0]


def _stored_candidates(run_dir: Path) -> int:
    """Candidates in the store now (0 before it exists or while it cannot be read)."""
    try:
        with sqlite3.connect(f"file:{run_dir / 'run.sqlite'}?mode=ro", uri=True, timeout=1) as db:
            return int(db.execute("SELECT COUNT(*) FROM candidates").fetchone()[0])
    except sqlite3.Error:
        return 0


def _kill_and_resume(args: list[str], killed: Path, delays: tuple[float, float], seed: int,
                     rows: int | None = None) -> int:
    """Start ``args`` (a run into ``killed``), SIGKILL it and resume it, until it finishes;
    returns how many times it was killed. The kill comes after a random delay in ``delays``, or,
    with ``rows`` (the clean run's candidates), once the store holds a random number of them
    between what it had and 2/3 of ``rows``, plus a random part of a second (so a run that is fast
    on a quiet machine is still killed mid-way)."""
    resume = [*args[:4], "--resume", str(killed), "--quiet", "--no-report"]
    rng = random.Random(seed)
    kills = 0
    for _attempt in range(8):
        proc = subprocess.Popen(resume if (killed / "run.sqlite").exists() else args,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            if rows is None:
                proc.wait(timeout=rng.uniform(*delays))
            else:
                # candidates are stored a generation unit at a time: aim at most 2/3 of the way,
                # so work is left when the target is met
                first = _stored_candidates(killed) + 1
                target = rng.randint(first, max(first, rows * 2 // 3))
                deadline = time.monotonic() + delays[1] * 10
                while proc.poll() is None and _stored_candidates(killed) < target:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
                proc.wait(timeout=rng.uniform(0.0, 1.0))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the run and anything it started
            proc.wait()
            kills += 1
            continue
        assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
        return kills
    subprocess.run(resume, check=True, timeout=1200, capture_output=True)
    return kills


@pytest.mark.docker
def test_sigkill_and_resume_matches_clean_run(tmp_path, shared_data):
    clean = tmp_path / "clean"
    subprocess.run(_args(shared_data, clean), check=True, timeout=1200, capture_output=True)
    names = ("evalplus", "public_tests")
    c_cands, c_verdicts, _ = _snapshot(clean, names)
    assert c_cands and all(set(c_cands) == set(v) for v in c_verdicts)

    killed = tmp_path / "killed"
    kills = _kill_and_resume(_args(shared_data, killed), killed, (4.0, 15.0), 11)
    assert kills >= 1, "the run finished before any kill; lower the kill delays"

    k_cands, k_verdicts, (rows, distinct) = _snapshot(killed, names)
    assert rows == distinct  # no duplicates
    assert all(set(k_cands) == set(v) for v in k_verdicts)  # everything judged
    assert set(k_cands) == set(c_cands)  # same problems, sample indices and turns
    assert k_cands == c_cands  # the embedded engine is deterministic per seed: same texts
    assert k_verdicts == c_verdicts
    turns = defaultdict(list)
    for pid, idx, turn in k_cands:
        turns[(pid, idx)].append(turn)
    assert all(sorted(t) == list(range(len(t))) for t in turns.values())


def _new_prompt_tokens(prompts: list[list[int]]) -> int:
    """Tokens to evaluate when each prompt is evaluated once and a head it shares with an
    earlier one (the chat template's) is not evaluated again."""
    total = 0
    for i, p in enumerate(prompts):
        shared = 0
        for q in prompts[:i]:
            k = 0
            while k < min(len(p), len(q)) and p[k] == q[k]:
                k += 1
            shared = max(shared, k)
        total += len(p) - shared
    return total


def test_fire_unit_shares_prompt_evaluation_and_a_killed_run_redraws_it(tmp_path, shared_data):
    """FIRE's hot-token request and its continuations are one generation unit: the engine keeps
    the prompts' KV cache across them (each prompt is evaluated once per unit), and starts each
    unit from an empty cache, so a run SIGKILLed at random points and resumed in new processes
    draws exactly the texts of a clean run made in this process."""
    data = shared_data / "gsm8k" / "test.jsonl"
    common = dict(task="gsm8k", data=str(data), limit=6, n=4, max_tokens=48, sampler="fire", seed=3,
                  gen_batch=2)
    engine = create_engine("llamacpp")
    try:
        before = engine.prompt_eval_tokens
        execute_run(RunConfig(**common, show_progress=False, report=False), tmp_path / "clean", engine=engine)
        evaluated = engine.prompt_eval_tokens - before
        prompts = [engine.chat_token_ids(p.prompt) for p in get_task("gsm8k", data=str(data)).load(limit=6)]
    finally:
        engine.close()
    # one unit per group of gen_batch problems, each evaluating its prompts once
    assert evaluated == sum(_new_prompt_tokens(prompts[g:g + 2]) for g in range(0, 6, 2))
    c_cands, c_verdicts, _ = _snapshot(tmp_path / "clean", ("gsm8k",))
    assert len(c_cands) == 24

    killed = tmp_path / "killed"
    args = [sys.executable, "-m", "loop.cli", "run", "--task", "gsm8k", "--data", str(data), "--limit", "6",
            "-n", "4", "--max-tokens", "48", "--sampler", "fire", "--seed", "3", "--gen-batch", "2",
            "--quiet", "--no-report", "--out", str(killed)]
    kills = _kill_and_resume(args, killed, (5.0, 14.0), 5, rows=len(c_cands))
    assert kills >= 1, "the run finished before any kill; lower the kill delays"
    k_cands, k_verdicts, (rows, distinct) = _snapshot(killed, ("gsm8k",))
    assert rows == distinct
    assert k_cands == c_cands  # same texts, sample by sample
    assert k_verdicts == c_verdicts
