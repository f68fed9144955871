"""Reading a samples file: JSONL lines ``{"problem_id": str, "text": str}`` with optional
``sample_index``, ``turn`` and ``score``. Every mistake is reported as file:line with the fix."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

from verifiers import Candidate

from ..tasks.data import DataError, iter_jsonl_text, open_text


def read_samples(path: str | Path, known_ids: Iterable[str]) -> list[Candidate]:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such samples file; pass a JSONL file with --samples")
    known = set(known_ids)
    next_index: dict[str, int] = {}
    seen: dict[tuple[str, int, int], int] = {}
    out: list[Candidate] = []
    with open_text(path) as fh:
        text = fh.read()
    for lineno, row in iter_jsonl_text(text, str(path)):
        where = f"{path}:{lineno}"
        if "problem_id" not in row:
            raise DataError(f"{where}: missing \"problem_id\"")
        pid = row["problem_id"]
        if isinstance(pid, bool) or not isinstance(pid, (str, int)):
            raise DataError(f"{where}: \"problem_id\" must be a string, got {pid!r}")
        pid = str(pid)
        if pid not in known:
            few = ", ".join(sorted(known, key=_natural)[:5])
            raise DataError(f"{where}: unknown problem_id {pid!r}; this task's ids look like: {few} ...")
        text = row.get("text", "")
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise DataError(f"{where}: \"text\" must be a string, got {type(text).__name__}")
        idx = row.get("sample_index")
        if idx is None:
            idx = next_index.get(pid, 0)
        elif isinstance(idx, bool) or not isinstance(idx, int) or idx < 0:
            raise DataError(f"{where}: \"sample_index\" must be a non-negative integer, got {idx!r}")
        turn = row.get("turn", 0)
        if isinstance(turn, bool) or not isinstance(turn, int) or turn < 0:
            raise DataError(f"{where}: \"turn\" must be a non-negative integer, got {turn!r}")
        next_index[pid] = max(next_index.get(pid, 0), idx + 1)
        key = (pid, idx, turn)
        if key in seen:
            raise DataError(f"{where}: duplicate sample (problem {pid}, sample_index {idx}, turn {turn}); first at line {seen[key]}")
        seen[key] = lineno
        score = row.get("score")
        if score is not None:
            if isinstance(score, bool) or not isinstance(score, (int, float)) or math.isnan(float(score)):
                raise DataError(f"{where}: \"score\" must be a number, got {score!r}")
            score = float(score)
        meta = {k: v for k, v in row.items() if k not in {"problem_id", "text", "sample_index", "turn", "score"}}
        out.append(Candidate(pid, idx, text, turn=turn, score=score, meta=meta))
    if not out:
        raise DataError(f"{path}: no samples in the file")
    return out


def _natural(s: str) -> tuple[int, str]:
    return (int(s), "") if s.isdigit() else (1 << 62, s)
