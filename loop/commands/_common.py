"""Helpers shared by the CLI commands: one clear error message then exit 2, option defaults
read from the configuration dataclasses (never re-typed here)."""
from __future__ import annotations

import dataclasses
from typing import Any, NoReturn

from rich.console import Console

console = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 2) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise SystemExit(code)


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

