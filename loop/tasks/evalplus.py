"""MBPP+ and HumanEval+ (EvalPlus): write a Python function; judged by running it.

Data: the EvalPlus release files ``MbppPlus.jsonl.gz`` (v0.2.0) and ``HumanEvalPlus.jsonl.gz``
(v0.1.10), from ``--data``, ``$FIREASSAY_DATA/<task>/`` or ``$FIREASSAY_DATA/evalplus/`` (the
layout they ship in), or the hub. Problem ids are EvalPlus
task ids (``Mbpp/2``, ``HumanEval/0``). MBPP+ stores tuples, sets and complex numbers as JSON
lists/strings; :func:`mbpp_deserialize_inputs` restores them per task as EvalPlus does.
Oracle ``evalplus`` (base + plus inputs, expected outputs from the canonical solutions run in
the sandbox); feedback and default selector ``public_tests`` (the tests shown in the prompt).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, ClassVar

from verifiers import Problem
from verifiers.code.evalplus import make_reference
from verifiers.code.public_tests import doctest_public_tests, mbpp_public_tests

from .base import Task
from .data import DataError, read_records

SYSTEM = "You are an expert Python programmer."
MBPP_PROMPT = (
    "{description}\n\nYour code should pass these tests:\n\n{tests}\n\n"
    "Write a self-contained Python function `{entry_point}` that solves the task (include the "
    "imports it needs). Answer with the complete code in one ```python code block."
)
HUMANEVAL_PROMPT = (
    "Complete the following Python function. Write a self-contained solution: the full "
    "function `{entry_point}` with the imports and helper functions it needs, in one "
    "```python code block.\n\n```python\n{prompt}```"
)

# task ids whose inputs EvalPlus restores (evalplus.data.mbpp.mbpp_deserialize_inputs)
_TUPLE_ARGS = {2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596,
               616, 630, 726, 740, 744, 809}
_LIST_OF_TUPLES_ARGS = {63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780}
_FIRST_LIST_OF_TUPLES = {75, 413, 444, 753}
_SECOND_TUPLE = {106, 750}
_FIRST_TUPLE = {250, 405, 446, 617, 720, 763, 808}
_NESTED_TUPLES = {259, 401, 445}
_ALL_TUPLES = {580, 615, 791}


def _all_tuples(x: Any) -> Any:
    return tuple(_all_tuples(i) for i in x) if isinstance(x, list) else x


def mbpp_deserialize_inputs(task_id: str, inputs: list[list[Any]]) -> list[list[Any]]:
    """Restore tuple/set/complex arguments of MBPP+ task ``task_id`` (EvalPlus semantics)."""
    n = int(task_id.split("/")[-1])
    if n in _TUPLE_ARGS:
        return [[tuple(a) for a in inp] for inp in inputs]
    if n in _LIST_OF_TUPLES_ARGS:
        return [[[tuple(x) for x in a] for a in inp] for inp in inputs]
    if n in _FIRST_LIST_OF_TUPLES:
        return [[[tuple(x) for x in inp[0]], inp[1]] for inp in inputs]
    if n in _SECOND_TUPLE:
        return [[inp[0], tuple(inp[1])] for inp in inputs]
    if n == 115:
        return [[[set(x) if isinstance(x, list) and x else {} for x in inp[0]]] for inp in inputs]
    if n == 124:
        return [[float(inp[0]), complex(inp[1])] for inp in inputs]
    if n in _FIRST_TUPLE:
        return [[tuple(inp[0]), *inp[1:]] for inp in inputs]
    if n in _NESTED_TUPLES:
        return [[tuple(tuple(x) for x in a) for a in inp] for inp in inputs]
    if n == 278:
        return [[tuple(tuple(x) if isinstance(x, list) else x for x in inp[0])] for inp in inputs]
    if n == 307:
        return [[tuple(inp[0]), inp[1], inp[2]] for inp in inputs]
    if n == 722:
        return [[{k: tuple(v) for k, v in inp[0].items()}, *inp[1:]] for inp in inputs]
    if n == 252:
        return [[complex(inp[0])] for inp in inputs]
    if n in _ALL_TUPLES:
        return [list(_all_tuples(inp)) for inp in inputs]
    return inputs


def _fenced(code: str) -> str:
    return "```python\n" + code.strip("\n") + "\n```"


class _EvalPlusTask(Task):
    oracle_name: ClassVar[str] = "evalplus"
    feedback_name: ClassVar[str | None] = "public_tests"
    answer_format: ClassVar[str | None] = None
    default_selectors: ClassVar[tuple[str, ...]] = ("public_tests",)
    dataset: ClassVar[str]

    data_folders: ClassVar[tuple[str, ...]] = ("evalplus",)

    def records(self) -> list[dict[str, Any]]:
        path = self.data_file()
        if path is not None:
            rows = read_records(path)
            self._cache_key = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            return rows
        rows = self.hub_records()
        blob = json.dumps(rows, sort_keys=True, default=str).encode()
        self._cache_key = hashlib.sha256(blob).hexdigest()
        return rows

    def record_id(self, index: int, record: dict[str, Any]) -> str | None:
        task_id = record.get("task_id") if isinstance(record, dict) else None
        return task_id if isinstance(task_id, str) else None

    def to_problems(self, rows: list[dict[str, Any]], limit: int | None) -> list[Problem]:
        if limit is not None:
            rows = rows[:limit]
        return [self.to_problem(i, r) for i, r in enumerate(rows)]

    def _fields(self, index: int, record: dict[str, Any]) -> tuple[str, str, list, list]:
        need = ("task_id", "prompt", "entry_point", "canonical_solution")
        missing = [k for k in need if k not in record]
        if missing:
            raise DataError(f"{self.name} record {index} lacks {', '.join(missing)}; use the "
                            "EvalPlus release file (e.g. MbppPlus.jsonl.gz) with --data")
        if "base_input" not in record or "plus_input" not in record:
            raise DataError(
                f"{self.name} record {index} ({record['task_id']}) has no base_input/plus_input: "
                "this copy of the dataset lacks the EvalPlus test inputs; pass the EvalPlus "
                "release file (MbppPlus.jsonl.gz / HumanEvalPlus.jsonl.gz) with --data")
        base, plus = record["base_input"], record["plus_input"]
        if isinstance(base, str):  # some copies store the inputs as JSON text
            base, plus = json.loads(base), json.loads(plus)
        return record["task_id"], record["entry_point"], base, plus

    def reference_text(self, problem: Problem) -> str:
        return _fenced(problem.reference["reference_code"])


class MbppPlusTask(_EvalPlusTask):
    name: ClassVar[str] = "mbppplus"
    dataset: ClassVar[str] = "mbpp"
    data_files: ClassVar[list[str]] = ["MbppPlus.jsonl.gz", "MbppPlus.jsonl"]
    hub: ClassVar[tuple[str, str | None, str] | None] = ("evalplus/mbppplus", None, "test")

    def to_problem(self, index: int, record: dict[str, Any]) -> Problem:
        task_id, entry, base, plus = self._fields(index, record)
        tests = mbpp_public_tests(record.get("assertion", ""))
        description = record["prompt"].strip().strip('"').strip()
        content = MBPP_PROMPT.format(description=description, tests="\n".join(tests),
                                     entry_point=entry)
        code = record["prompt"] + record["canonical_solution"]
        ref = make_reference(dataset="mbpp", entry_point=entry,
                             base_input=mbpp_deserialize_inputs(task_id, base),
                             plus_input=mbpp_deserialize_inputs(task_id, plus),
                             atol=record.get("atol") or 0, reference_code=code,
                             cache_key=getattr(self, "_cache_key", "unknown"))
        return Problem(
            id=task_id,
            prompt=({"role": "system", "content": SYSTEM}, {"role": "user", "content": content}),
            reference=ref,
            meta={"entry_point": entry, "public_tests": tuple(tests), "dataset": "mbpp"},
        )

    def reference_text(self, problem: Problem) -> str:
        code = problem.reference["reference_code"]
        return _fenced(code)


class HumanEvalPlusTask(_EvalPlusTask):
    name: ClassVar[str] = "humanevalplus"
    dataset: ClassVar[str] = "humaneval"
    data_files: ClassVar[list[str]] = ["HumanEvalPlus.jsonl.gz", "HumanEvalPlus.jsonl"]
    hub: ClassVar[tuple[str, str | None, str] | None] = ("evalplus/humanevalplus", None, "test")

    def to_problem(self, index: int, record: dict[str, Any]) -> Problem:
        task_id, entry, base, plus = self._fields(index, record)
        prompt = record["prompt"]
        tests = doctest_public_tests(prompt, entry)
        content = HUMANEVAL_PROMPT.format(prompt=prompt, entry_point=entry)
        code = prompt + record["canonical_solution"]
        ref = make_reference(dataset="humaneval", entry_point=entry, base_input=base,
                             plus_input=plus, atol=record.get("atol") or 0,
                             reference_code=code,
                             cache_key=getattr(self, "_cache_key", "unknown"))
        return Problem(
            id=task_id,
            prompt=({"role": "system", "content": SYSTEM}, {"role": "user", "content": content}),
            reference=ref,
            meta={"entry_point": entry, "public_tests": tuple(tests), "dataset": "humaneval"},
        )
