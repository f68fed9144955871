"""A multi-turn MBPP+ run with the embedded model feeds back only prompt-visible tests: the
feedback of every turn contains none of the task's hidden inputs."""
from __future__ import annotations

import subprocess
import sys

import pytest

from loop.store import RunStore
from loop.tasks import get_task
from sandbox.plain import decode

pytestmark = [pytest.mark.docker, pytest.mark.engine, pytest.mark.slow]


def forms(inp: list) -> set[str]:
    return {repr(tuple(inp)), repr(list(inp)), ", ".join(map(repr, inp))}


def test_feedback_never_reveals_hidden_inputs(tmp_path, shared_data):
    data = shared_data / "evalplus" / "MbppPlus.jsonl.gz"
    out = tmp_path / "run"
    subprocess.run([sys.executable, "-m", "loop.cli", "run", "--task", "mbppplus", "--data", str(data),
                    "--limit", "6", "-n", "2", "--max-tokens", "160", "--max-turns", "2", "--quiet",
                    "--no-report", "--out", str(out)], check=True, timeout=1500, capture_output=True)
    problems = {p.id: p for p in get_task("mbppplus", data=data).load(limit=6)}
    with RunStore.open(out) as store:
        feedback = store.verdicts("public_tests")
        turns = {c.turn for c in store.candidates()}
    assert feedback, "no feedback verdicts stored"
    assert 1 in turns, "no candidate got a second turn (all passed the visible tests?)"
    checked = 0
    for (pid, _, _), verdict in feedback.items():
        if verdict.passed is True:
            continue
        problem = problems[pid]
        visible = problem.prompt[-1]["content"]
        ref = problem.reference
        inputs = [decode(a) for a in list(ref["base_input"]) + list(ref["plus_input"])]
        # an input is visible when the prompt shows it: as the call's arguments
        # (``f('Please move back to stream')``), or as a tuple or list
        hidden = [inp for inp in inputs if not any(form in visible for form in forms(inp))]
        assert verdict.feedback, "a failing candidate got no feedback"
        for inp in hidden:
            for shown in forms(inp):
                if len(shown) >= 12:  # long enough not to occur by chance
                    assert shown not in verdict.feedback, f"{pid}: hidden input {shown[:80]} leaked into feedback"
        checked += 1
    assert checked > 0
