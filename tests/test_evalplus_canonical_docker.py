"""Every MBPP+ / HumanEval+ canonical solution passes the evalplus oracle in the real Docker
pool, and a mutated one (its entry point's body replaced by ``return None``) fails.

Expected outputs are computed in the sandbox into a fresh cache (so this also tests that
path), then the references and the mutants are judged in one parallel batch.
"""
from __future__ import annotations

import ast

import pytest

from loop.tasks import get_task
from sandbox.config import SandboxConfig
from verifiers.code.evalplus import EvalPlusOracle
from verifiers.code.executors import SandboxExecutor
from verifiers.code.public_tests import PublicTests
from verifiers.types import Candidate

pytestmark = [pytest.mark.docker, pytest.mark.slow]

# Known-broken canonical solutions (id -> reason); none so far.
KNOWN_BROKEN: dict[str, str] = {}
# Tasks where `return None` is a correct answer on every input; none so far.
NONE_IS_RIGHT: dict[str, str] = {}
# Prompt examples the canonical solution does not meet (the public test is the prompt's word).
PUBLIC_TEST_WRONG = {"HumanEval/47": "docstring says median([-10, 4, 6, 1000, 10, 20]) is 15.0; "
                                     "it is 8.0"}


def mutate(code: str, entry_point: str) -> str:
    tree = ast.parse(code)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == entry_point:
            node.body = [ast.Return(value=ast.Constant(None))]
    return ast.unparse(tree)


@pytest.fixture(scope="module")
def executor():
    # 4 GiB as in EvalPlus: Mbpp/255's reference builds 40 MB answers
    ex = SandboxExecutor(backend="docker", config=SandboxConfig(memory="4g"))
    yield ex
    ex.close()


@pytest.mark.parametrize("task_name", ["mbppplus", "humanevalplus"])
def test_canonical_pass_and_mutants_fail(task_name, shared_data, executor, tmp_path):
    task = get_task(task_name, data=shared_data / "evalplus")
    problems = task.load()
    items = []
    for p in problems:
        ref = task.reference_text(p)
        bad = "```python\n" + mutate(p.reference["reference_code"], p.meta["entry_point"]) + "\n```"
        items.append((p, [Candidate(p.id, 0, ref), Candidate(p.id, 1, bad)]))
    # the CPU rule: this checks every canonical solution's outputs, and the slowest of them
    # (Mbpp/599, Mbpp/630, HumanEval/15, HumanEval/100) failed EvalPlus's wall-clock limits on
    # a loaded 2-core machine; the default `--timing evalplus` is checked against the official
    # evaluator by tests/test_evalplus_parity.py
    with EvalPlusOracle(executor=executor, cache_dir=str(tmp_path), progress=False,
                        timing="cpu") as oracle:
        verdicts = oracle.verify_many(items)
    ref_fail = {p.id: v[0].details for (p, _), v in zip(items, verdicts)
                if not v[0].passed and p.id not in KNOWN_BROKEN}
    mut_pass = [p.id for (p, _), v in zip(items, verdicts)
                if v[1].passed is not False and p.id not in NONE_IS_RIGHT]
    assert not ref_fail, f"canonical solutions failing: {ref_fail}"
    assert not mut_pass, f"mutants not failing: {mut_pass}"
    assert len(items) == {"mbppplus": 378, "humanevalplus": 164}[task_name]

    # the feedback verifier on the same candidates: references pass the prompt's tests,
    # mutants fail them wherever the prompt shows a test
    with PublicTests(executor=executor) as public:
        pv = public.verify_many(items)
    pub_fail = {p.id: v[0].feedback[:200] for (p, _), v in zip(items, pv)
                if not v[0].passed and p.id not in PUBLIC_TEST_WRONG}
    assert not pub_fail, f"canonical solutions failing their public tests: {pub_fail}"
    mut_pub = [p.id for (p, _), v in zip(items, pv)
               if p.meta["public_tests"] and v[1].passed is not False]
    assert not mut_pub, f"mutants passing public tests: {mut_pub}"
    assert all(v[1].feedback for (p, _), v in zip(items, pv) if p.meta["public_tests"])
