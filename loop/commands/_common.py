"""Helpers shared by the CLI commands: one clear error message then exit 2, option defaults
read from the configuration dataclasses (never re-typed here).

The console reads no markup: messages carry user text (ids, paths, selector specs, a model's
answer), and ``[/]`` or ``[bold red]x[/]`` in them must be shown as written. Styled words are
:func:`styled` pieces of a :class:`rich.text.Text`."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Iterable, NoReturn

from rich.console import Console
from rich.text import Text

console = Console(stderr=True, soft_wrap=True, markup=False)


def styled(style: str, word: str, rest: str = "") -> Text:
    """``word`` in ``style``, then ``rest`` as plain text (never read as markup)."""
    return Text.assemble((word, style), rest)

CLUSTER_HELP = ("Run on a Ray cluster: ray (RAY_ADDRESS or a local Ray), ray=auto, ray=HOST:6379, "
                "ray=ray://HOST:10001 (needs Ray: the ray extra of fireassay).")
TIMING_HELP = ("Code tasks: how long a candidate may take per input. evalplus (the default): EvalPlus's "
               "rule, wall clock, max(1 s, 4x the canonical solution's wall time); cpu: CPU time of its "
               "whole process tree, wall time at most 3x (steadier on a busy machine).")


def judged_by(rules: dict[str, str]) -> str:
    """`` (timing: evalplus)``: the rules an oracle judged by, as a run's summary line ends."""
    return f" ({', '.join(f'{k}: {v}' for k, v in rules.items())})" if rules else ""


def fail(message: str, code: int = 2) -> NoReturn:
    console.print(styled("bold red", "error:", f" {message}"), highlight=False)
    raise SystemExit(code)


class OutputError(Exception):
    """An output path that cannot be written; the message names it."""


def write_lines(path: Path, lines: Iterable[str], option: str = "--out") -> int:
    """Write ``lines`` to the file ``path`` (its folder made as needed), all or nothing: into a
    temporary file beside it, renamed over ``path`` at the end. Returns the number of lines."""
    if path.is_dir():
        raise OutputError(f"{path}: is a directory; {option} takes a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{path}: cannot make its folder {path.parent} ({e.strerror or e}); "
                          f"choose another {option}") from None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fh = tmp.open("w", encoding="utf-8")
    except OSError as e:
        raise OutputError(f"{path}: cannot be written ({e.strerror or e}); choose another {option}") from None
    n = 0
    try:
        with fh:
            for line in lines:
                fh.write(line + "\n")
                n += 1
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot be written ({e.strerror or e}); choose another {option}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return n


def split_names(text: str) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]`` (empty entries dropped)."""
    return [s.strip() for s in text.split(",") if s.strip()]


def defaults_of(cls: type) -> dict[str, Any]:
    """Every field default of the dataclass ``cls`` (a ``default_factory`` is called)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out

