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
import re
import sys
import zlib
from pathlib import Path
from typing import Any, Iterator, Sequence


class DataError(ValueError):
    """Bad or missing input data; the message names the file (and line) and the fix."""


class DataWarning(UserWarning):
    """Input data that is used, with a change the user should know of (the CLI prints it as one
    ``warning:`` line); the message names the file (and line)."""


def read_text(path: str | Path, option: str = "--data") -> str:
    """The whole text of a UTF-8 file (gunzipped when its name ends in ``.gz``). Every way it can
    be unreadable is a :class:`DataError` naming the file (and line) and ``option``."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file; pass an existing file with {option}")
    if path.is_dir():
        raise DataError(f"{path}: is a directory; pass the file itself with {option}")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                raw = fh.read()
        else:
            raw = path.read_bytes()
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise DataError(f"{path}: not a readable gzip file ({e}); the name ends in .gz, so pass "
                        f"a gzip-compressed file, or rename it without .gz") from None
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e.strerror or e}); pass a readable file with {option}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise DataError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[e.start]:02x} at column {col}); "
                        "save the file as UTF-8") from None


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _loads(text: str, name: str, line: int | None = 1, hint: str = "") -> Any:
    """``json.loads`` whose every failure is a DataError naming ``name:line`` (``line`` is where
    ``text`` starts in the file; None: ``text`` is the whole file)."""
    def where(pos: int | None = None, lineno: int | None = None) -> str:
        if lineno is None and pos is not None:
            lineno = text.count("\n", 0, pos) + 1
        if lineno is None:
            return name if line is None else f"{name}:{line}"
        return f"{name}:{(line or 1) + lineno - 1}"

    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{where(lineno=e.lineno)}: invalid JSON ({e.msg}){hint}") from None
    except ValueError:  # an integer past Python's digit limit for int()
        limit = sys.get_int_max_str_digits()
        m = re.search(rf"\d{{{limit + 1},}}", text)
        raise DataError(f"{where(m.start() if m else None)}: a number has more than {limit} digits; "
                        "write such a number as a string") from None
    except RecursionError:
        raise DataError(f"{where()}: JSON nested too deeply") from None
    m = _SURROGATE_ESCAPE.search(text)
    if m:  # only an escape can make a lone surrogate: it is not text (SQLite, every writer fail on it)
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as e:
            bad = e.object[e.start:e.end].encode("utf-8", "backslashreplace").decode("ascii")
            raise DataError(f"{where(m.start())}: a string holds {bad}, half of a UTF-16 surrogate pair, "
                            "which is not text; fix or drop that escape") from None
    return value


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL (optionally .gz) file or a JSON list; a bad line is named as file:line."""
    path = Path(path)
    text = read_text(path)
    if text.lstrip().startswith("["):
        rows = _loads(text, str(path), line=None)
        if not all(isinstance(r, dict) for r in rows):
            raise DataError(f"{path}: expected a JSON list of objects")
        return rows
    return [row for _, row in iter_jsonl_text(text, str(path))]


def record_lines(path: str | Path) -> list[int] | None:
    """The line each record of a JSONL data file starts on (None for a JSON list file): for
    messages that must name a record's line after :func:`read_records` read it."""
    text = read_text(path)
    if text.lstrip().startswith("["):
        return None
    return [lineno for lineno, _ in iter_jsonl_text(text, str(path))]


def check_limit(limit: int | None) -> None:
    """``--limit N``: the first N problems; N must be a whole number >= 1 (None: all)."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise DataError(f"--limit must be a whole number >= 1 (the first N problems), got {limit!r}; "
                        "leave it out for all problems")


def iter_jsonl_text(text: str, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for every non-blank line; a bad line raises as file:line.

    Lines end at ``\\n`` only (a ``\\r`` before it is JSON whitespace): JSON strings may hold raw
    U+2028, U+0085 and the like, which ``str.splitlines`` would break lines at."""
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip(" \t\r"):
            continue
        row = _loads(line, name, lineno, hint="; each line must be one JSON object")
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
