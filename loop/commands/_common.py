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


def open_run_store(out, config, resume: bool, ignore=()):
    """Create the run store in ``out``, or reopen it for ``--resume`` after checking that the
    stored settings match ``config`` (names every one that differs)."""
    from ..store import RunStore, StoreError

    try:
        if not resume:
            return RunStore.create(out, config)
        store = RunStore.open(out)
    except StoreError as e:
        fail(str(e))
    diff = store.config_mismatch(config, ignore=ignore)
    if diff:
        store.close()
        fail("--resume with different settings: " + "; ".join(diff)
             + ". Drop those options to resume as stored, or start a new --out.")
    return store
