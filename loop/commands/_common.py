"""Helpers shared by the CLI commands: one clear error message, then exit 2."""
from __future__ import annotations

import sys
from typing import NoReturn

from rich.console import Console

console = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 2) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise SystemExit(code)


def split_names(text: str) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]`` (empty entries dropped)."""
    return [s.strip() for s in text.split(",") if s.strip()]
