"""Reading a samples file: JSONL lines ``{"problem_id": str, "text": str}`` with optional
``sample_index``, ``turn`` and ``score``. Every mistake is reported as file:line with the fix,
and the whole file is read and checked before anything is stored: what comes back fits the
store (text is text, indices are below 2^31, scores are finite floats)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

from verifiers import Candidate

from ..tasks.data import DataError, iter_jsonl_text, read_text

MAX_INDEX = 2**31 - 1  # sample_index and turn: far above any real run, far inside SQLite's INTEGER


def read_samples(path: str | Path, known_ids: Iterable[str]) -> list[Candidate]:
    path = Path(path)
    known = set(known_ids)
    next_index: dict[str, int] = {}
    seen: dict[tuple[str, int, int], int] = {}
    out: list[Candidate] = []
    content = read_text(path, "--samples")
    for lineno, row in iter_jsonl_text(content, str(path)):
        where = f"{path}:{lineno}"
        if "problem_id" not in row:
            raise DataError(f"{where}: missing \"problem_id\"")
        pid = row["problem_id"]
        if isinstance(pid, bool) or not isinstance(pid, (str, int)):
            raise DataError(f"{where}: \"problem_id\" must be a string, got {_shown(pid)}")
        pid = str(pid)
        if pid not in known:
            few = ", ".join(sorted(known, key=_natural)[:5])
            raise DataError(f"{where}: unknown problem_id {_shown(pid)}; this task's ids look like: {few} ...")
        if "text" not in row:
            raise DataError(f"{where}: missing \"text\" (the sample itself; write \"\" for an empty one)")
        text = row["text"]
        if not isinstance(text, str):
            raise DataError(f"{where}: \"text\" must be a string, got {_shown(text)}")
        idx = row.get("sample_index")
        if idx is None:
            idx = next_index.get(pid, 0)
        elif not _index(idx):
            raise DataError(f"{where}: \"sample_index\" must be a whole number from 0 to {MAX_INDEX}, got {_shown(idx)}")
        turn = row.get("turn", 0)
        if not _index(turn):
            raise DataError(f"{where}: \"turn\" must be a whole number from 0 to {MAX_INDEX}, got {_shown(turn)}")
        next_index[pid] = max(next_index.get(pid, 0), idx + 1)
        key = (pid, idx, turn)
        if key in seen:
            raise DataError(f"{where}: duplicate sample (problem {pid}, sample_index {idx}, turn {turn}); first at line {seen[key]}")
        seen[key] = lineno
        score = row.get("score")
        if score is not None:
            value = _finite(score)
            if value is None:
                raise DataError(f"{where}: \"score\" must be a finite number, got {_shown(score)}")
            score = value
        meta = {k: v for k, v in row.items() if k not in {"problem_id", "text", "sample_index", "turn", "score"}}
        out.append(Candidate(pid, idx, text, turn=turn, score=score, meta=meta))
    if not out:
        raise DataError(f"{path}: no samples in the file")
    return out


def _index(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_INDEX


def _finite(v: object) -> float | None:
    """``v`` as a finite float (None: not a number, or too large for one)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        f = float(v)
    except OverflowError:  # an integer of hundreds of digits
        return None
    return f if math.isfinite(f) else None


def _shown(v: object) -> str:
    """A value as a message shows it: its repr, shortened."""
    text = repr(v) if not isinstance(v, int) or abs(v) < 10**30 else f"an integer of {len(str(abs(v)))} digits"
    return text if len(text) <= 60 else text[:57] + "..."


def _natural(s: str) -> tuple[int, str]:
    return (int(s), "") if s.isdigit() else (1 << 62, s)
