"""Finding and reading a task's data: ``--data PATH``, ``$FIREASSAY_DATA``, or the hub.

A data root (``--data DIR`` or ``$FIREASSAY_DATA``) is searched for the task's file names in
``<root>/<task>/``, in the task's shared folders (``<root>/evalplus/`` for MBPP+ and
HumanEval+, the layout the EvalPlus files ship in) and in ``<root>/`` itself. A root that holds
none of them is an error naming every path tried; only with neither ``--data`` nor
``$FIREASSAY_DATA`` does a task go to the Hugging Face hub.
"""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any, Iterator, Sequence, TextIO


class DataError(ValueError):
    """Bad or missing input data; the message names the file (and line) and the fix."""


def open_text(path: Path) -> TextIO:
    """A UTF-8 text file, gunzipped on the fly when its name ends in ``.gz``."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open("r", encoding="utf-8")


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL (optionally .gz) file or a JSON list; a bad line is named as file:line."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file; pass an existing file with --data")
    with open_text(path) as fh:
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


def data_paths(task: str, root: Path, candidates: Sequence[str],
               folders: Sequence[str] = ()) -> list[Path]:
    """Where a data root may hold the task's file, in the order they are tried."""
    subdirs = [task] + [f for f in folders if f != task]
    return [root / d / c for d in subdirs for c in candidates] + [root / c for c in candidates]


def resolve_data_file(task: str, explicit: str | Path | None, candidates: Sequence[str],
                      folders: Sequence[str] = (), missing_ok: bool = False) -> Path | None:
    """Return the data file to read, or None when there is no data root (the task then uses
    the hub, or its own offline data).

    Order: ``explicit`` (a file, or a folder searched like a root), then ``$FIREASSAY_DATA``
    (see :func:`data_paths`). A root without the file raises :class:`DataError` naming every
    path tried (``missing_ok``: returns None instead, for a task with its own fallback data).
    """
    if explicit is not None:
        p = Path(explicit)
        if p.is_dir():
            tried = data_paths(task, p, candidates, folders)
            found = next((t for t in tried if t.is_file()), None)
            if found is not None:
                return found
            raise DataError(f"task {task!r}: no data file in {p}; tried " + _listing(tried)
                            + "; pass the data file itself with --data")
        if not p.exists():
            raise DataError(f"{p}: no such file; pass an existing file with --data")
        return p
    root = os.environ.get("FIREASSAY_DATA")
    if not root:
        return None
    tried = data_paths(task, Path(root), candidates, folders)
    found = next((t for t in tried if t.is_file()), None)
    if found is not None or missing_ok:
        return found
    raise DataError(
        f"task {task!r}: FIREASSAY_DATA={root} holds no data file for it; tried "
        + _listing(tried) + f". Put {candidates[0]} in {Path(root) / task}/, pass --data PATH, "
        "or unset FIREASSAY_DATA to load it from the Hugging Face hub")


def _listing(paths: Sequence[Path]) -> str:
    return ", ".join(str(p) for p in paths)


def load_from_hub(path: str, split: str, name: str | None = None,
                  task: str | None = None) -> list[dict[str, Any]]:
    """Load a dataset split from the Hugging Face hub (online users only; tests never do)."""
    local = (f"no --data and no $FIREASSAY_DATA for task {task!r}, so it loads {path!r} from "
             "the Hugging Face hub; " if task else "")
    try:
        import datasets  # type: ignore
    except ImportError:
        raise DataError(
            f"{local}the 'datasets' package is missing to fetch {path!r}; "
            "pass --data PATH, set $FIREASSAY_DATA, or pip install 'fireassay[hub]'"
        ) from None
    try:
        ds = datasets.load_dataset(path, name, split=split)
    except Exception as e:  # noqa: BLE001 - network, auth, missing dataset: whatever the hub raises
        raise DataError(
            f"{local}could not load {path!r} from the Hugging Face hub "
            f"({e.__class__.__name__}: {str(e)[:300]}); "
            "pass --data PATH or set $FIREASSAY_DATA to a local copy"
        ) from None
    return [dict(r) for r in ds]
