"""The official evaluator's quirks, judged for real in Docker (tests/test_evalplus_parity.py
checks the same against evalplus itself):

- atol carry: once an expected output of a suite is a float, EvalPlus compares the rest of
  that suite with atol 1e-6, so on HumanEval/42 (incr_list) a +1e-9 on every float passes:
  its plus suite's first all-float output (input 6) comes before every list mixing ints and
  floats. On Mbpp/447 (cube_nums) a mixed list (plus input 5) comes first, so it fails.
- numpy: the image has it (``import numpy`` works), and numpy outputs compare as numpy values:
  np.int64(x) == x passes; a near np.float64 fails EvalPlus' type check.
"""
from __future__ import annotations

import pytest

from loop.tasks import get_task
from tests.evalplus_parity import mutate
from verifiers.code.evalplus import EvalPlusOracle
from verifiers.code.executors import SandboxExecutor
from verifiers.types import Candidate

pytestmark = pytest.mark.docker

CASES = [  # (problem, mutant kind, passes officially)
    ("HumanEval/42", "eps_1e-9", True),  # the carry: mixed lists only after a float list
    ("Mbpp/447", "eps_1e-9", False),  # a mixed list before the first float: no carry yet
    ("HumanEval/53", "numpy_import", True),
    ("HumanEval/53", "numpy_scalar", True),  # np.int64(x + y) == x + y
    ("HumanEval/2", "numpy_scalar", True),  # np.float64(exactly the float)
    ("HumanEval/2", "numpy_near", False),  # np.float64(near): not a float
]


@pytest.fixture(scope="module")
def problems(shared_data):
    out = {}
    for task in ("mbppplus", "humanevalplus"):
        out.update({p.id: p for p in get_task(task, data=shared_data / "evalplus").load()})
    return out


def test_atol_carry_and_numpy_outputs_as_evalplus_judges_them(problems, tmp_path):
    items = []
    for i, (pid, kind, _) in enumerate(CASES):
        p = problems[pid]
        code = mutate(p.reference["reference_code"], p.meta["entry_point"], kind)
        items.append((p, [Candidate(pid, i, f"```python\n{code}\n```")]))
    ex = SandboxExecutor(backend="docker", pool_size=2)
    try:
        with EvalPlusOracle(executor=ex, cache_dir=str(tmp_path)) as oracle:
            verdicts = oracle.verify_many(items)
    finally:
        ex.close()
    got = {(pid, kind): v[0].passed for (pid, kind, _), v in zip(CASES, verdicts)}
    assert got == {(pid, kind): want for pid, kind, want in CASES}, [
        (c, v[0].details) for c, v in zip(CASES, verdicts) if v[0].passed != c[2]]
