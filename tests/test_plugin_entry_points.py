"""A third-party package adds a verifier and a task through entry points, without touching ours."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PLUGIN = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "fireassay-plugin-lengthvote"
        version = "0.1"
        [project.entry-points."fireassay.verifiers"]
        shortest = "lengthvote:Shortest"
        [project.entry-points."fireassay.tasks"]
        tiny_arith = "lengthvote:TinyArith"
    """,
    "lengthvote.py": """
        from verifiers import Verifier, Verdict, Problem
        from loop.tasks.base import Task

        class Shortest(Verifier):
            name = "shortest"
            uses_reference = False
            subset_rule = "argmax"
            def verify(self, problem, candidates):
                return [Verdict(-float(len(c.text)), None) for c in candidates]

        class TinyArith(Task):
            name = "tiny_arith"
            oracle_name = "gsm8k"
            answer_format = "numeric"
            default_selectors = ("majority", "shortest")
            def records(self):
                return [{"q": f"{a}+{a}", "a": 2 * a} for a in range(5)]
            def to_problem(self, index, record):
                return Problem(str(index), ({"role": "user", "content": record["q"]},), f"#### {record['a']}")
            def reference_text(self, problem):
                return str(problem.reference)
    """,
}


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("plugin_src")
    for name, body in PLUGIN.items():
        (src / name).write_text(textwrap.dedent(body))
    site = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(src)], check=True, capture_output=True, timeout=300)
    return site


def test_plugin_verifier_and_task_are_found_by_name(plugin_site, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(plugin_site)}
    samples = tmp_path / "s.jsonl"
    samples.write_text("".join(json.dumps({"problem_id": "3", "text": t}) + "\n"
                               for t in ["The answer is 6.", "so it is 7", "The answer is 6, as 3+3 = 6 indeed."]))
    p = subprocess.run([sys.executable, "-m", "loop.cli", "verify", "--task", "tiny_arith", "--samples", str(samples),
                        "--out", str(tmp_path / "run")], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "verified 3 candidates: 2 passed, 1 failed" in p.stdout
    p = subprocess.run([sys.executable, "-m", "loop.cli", "export", str(tmp_path / "run"), "--out", str(tmp_path / "e.jsonl")],
                       capture_output=True, text=True, env=env, timeout=300)
    rows = [json.loads(row) for row in (tmp_path / "e.jsonl").open()]
    assert set(rows[0]["verdicts"]) == {"gsm8k", "majority", "shortest"}  # the task's own default selectors
    best = max(rows, key=lambda r: r["verdicts"]["shortest"]["score"])  # the plugin's scores were stored
    assert best["text"] == "so it is 7"


def test_without_the_plugin_the_name_is_unknown_and_says_how_to_add_one(tmp_path):
    p = subprocess.run([sys.executable, "-m", "loop.cli", "verify", "--task", "tiny_arith", "--reference",
                        "--out", str(tmp_path / "r")], capture_output=True, text=True, timeout=300)
    assert p.returncode == 2
    assert "unknown task 'tiny_arith'" in p.stderr and "fireassay.tasks" in p.stderr
