"""Finding and reading a task's data: ``--data PATH``, ``$FIREASSAY_DATA/<task>/``, or the hub."""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any, Iterator


class DataError(ValueError):
    """Bad or missing input data; the message names the file (and line) and the fix."""


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open("r", encoding="utf-8")


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL (optionally .gz) file or a JSON list; a bad line is named as file:line."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file; pass an existing file with --data")
    with _open_text(path) as fh:
        text = fh.read()
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from None
        if not all(isinstance(r, dict) for r in rows):
            raise DataError(f"{path}: expected a JSON list of objects")
        return rows
    return [row for _, row in iter_jsonl_text(text, str(path))]


def iter_jsonl_text(text: str, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for every non-blank line; a bad line raises as file:line."""
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{name}:{lineno}: invalid JSON ({e.msg}); each line must be one JSON object") from None
        if not isinstance(row, dict):
            raise DataError(f"{name}:{lineno}: expected a JSON object, got {type(row).__name__}")
        yield lineno, row


def resolve_data_file(task: str, explicit: str | Path | None, candidates: list[str]) -> Path | None:
    """Return the data file to read, or None when the hub should be used.

    Order: ``explicit`` (a file, or a folder holding one of ``candidates``), then
    ``$FIREASSAY_DATA/<task>/<candidate>``.
    """
    if explicit is not None:
        p = Path(explicit)
        if p.is_dir():
            for c in candidates:
                if (p / c).exists():
                    return p / c
                if (p / task / c).exists():
                    return p / task / c
            raise DataError(f"{p}: no {' or '.join(candidates)} inside; pass the data file itself with --data")
        if not p.exists():
            raise DataError(f"{p}: no such file; pass an existing file with --data")
        return p
    root = os.environ.get("FIREASSAY_DATA")
    if root:
        for c in candidates:
            for base in (Path(root) / task, Path(root)):
                if (base / c).exists():
                    return base / c
    return None


def load_from_hub(path: str, split: str, name: str | None = None) -> list[dict[str, Any]]:
    """Load a dataset split from the Hugging Face hub (online users only; tests never do)."""
    try:
        import datasets  # type: ignore
    except ImportError:
        raise DataError(
            f"no local data given and the 'datasets' package is missing to fetch {path!r}; "
            "pass --data PATH, set $FIREASSAY_DATA, or pip install 'fireassay[hub]'"
        ) from None
    try:
        ds = datasets.load_dataset(path, name, split=split)
    except Exception as e:  # network, auth, missing dataset
        raise DataError(
            f"could not load {path!r} from the Hugging Face hub ({e.__class__.__name__}: {e}); "
            "pass --data PATH or set $FIREASSAY_DATA to a local copy"
        ) from None
    return [dict(r) for r in ds]
