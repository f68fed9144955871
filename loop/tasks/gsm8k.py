"""GSM8K: grade-school word problems; gold is the number after ``#### ``. Ids: 0-based line numbers."""
from __future__ import annotations

from typing import Any, ClassVar

from verifiers import Problem

from .base import Task
from .data import DataError

PROMPT = (
    "Solve the following math word problem. Reason step by step, then give the final answer "
    "as a number on the last line in the form 'The answer is N.'\n\nProblem: {question}"
)


class GSM8KTask(Task):
    name: ClassVar[str] = "gsm8k"
    oracle_name: ClassVar[str] = "gsm8k"
    answer_format: ClassVar[str | None] = "numeric"
    default_selectors: ClassVar[tuple[str, ...]] = ("majority",)
    data_files: ClassVar[list[str]] = ["test.jsonl", "test.jsonl.gz"]
    hub: ClassVar[tuple[str, str | None, str] | None] = ("openai/gsm8k", "main", "test")

    def votes_format(self) -> str | None:
        """Votes read answers as the oracle does: ``--answer-format strict`` keys them by ``#### x``."""
        return "numeric_strict" if self.options.get("answer_format") == "strict" else "numeric"

    def to_problem(self, index: int, record: dict[str, Any]) -> Problem:
        try:
            question, answer = record["question"], record["answer"]
        except KeyError as e:
            raise DataError(f"GSM8K record {index} lacks field {e}; expected 'question' and 'answer'") from None
        return Problem(
            id=str(index),
            prompt=({"role": "user", "content": PROMPT.format(question=question)},),
            reference=answer,
            meta={"question": question},
        )

    def reference_text(self, problem: Problem) -> str:
        return str(problem.reference)
