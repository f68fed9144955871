"""MATH-500 (the PRM800K split of MATH): ids are the dataset's ``unique_id``."""
from __future__ import annotations

from typing import Any, ClassVar

from verifiers import Problem

from .base import Task
from .data import DataError

PROMPT = (
    "Solve the following math problem. Reason step by step and put your final answer within "
    "\\boxed{{}}.\n\nProblem: {problem}"
)


class Math500Task(Task):
    name: ClassVar[str] = "math500"
    oracle_name: ClassVar[str] = "math"
    answer_format: ClassVar[str | None] = "math"
    default_selectors: ClassVar[tuple[str, ...]] = ("majority",)
    data_files: ClassVar[list[str]] = ["test.jsonl", "test.jsonl.gz"]
    hub: ClassVar[tuple[str, str | None, str] | None] = ("HuggingFaceH4/MATH-500", None, "test")

    def to_problem(self, index: int, record: dict[str, Any]) -> Problem:
        try:
            problem, answer = record["problem"], record["answer"]
        except KeyError as e:
            raise DataError(f"MATH-500 record {index} lacks field {e}; expected 'problem' and 'answer'") from None
        return Problem(
            id=str(record.get("unique_id", index)),
            prompt=({"role": "user", "content": PROMPT.format(problem=problem)},),
            reference={"answer": answer, "solution": record.get("solution", "")},
            meta={k: record[k] for k in ("subject", "level") if k in record},
        )

    def reference_text(self, problem: Problem) -> str:
        return str(problem.reference.get("solution") or f"\\boxed{{{problem.reference['answer']}}}")
