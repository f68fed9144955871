"""Build fireassay's own SWE task set from the source files in this package.

For each spec: write the clean repository (``repos/<repo>/**.txt`` with ``.txt`` dropped), inject
the bug, ``git init`` + commit with fixed author/dates (so ``base_commit`` is the same on every
machine), then take the gold patch and the test patch as real ``git diff`` output.

Output (``dest``): ``instances.json`` (a SWE-bench-format JSON list) and ``repos/<instance_id>/``
(each a git repository whose HEAD is ``base_commit``). Built once per content hash under the
cache directory and reused.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..patching import git
from .specs import SPECS, Spec

HERE = Path(__file__).resolve().parent
REPOS = HERE / "repos"
REPO_OWNER = "fireassay"
ENV_VERSION = "1.0"  # the environment all our repos share (python 3.11 + pytest)


def cache_root() -> Path:
    base = os.environ.get("FIREASSAY_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "fireassay")
    return Path(base) / "swe-taskset"


def source_files(repo: str) -> dict[str, bytes]:
    root = REPOS / repo
    if not root.is_dir():
        raise FileNotFoundError(f"no task-set repository {repo!r} under {REPOS}")
    out = {}
    for p in sorted(root.rglob("*.txt")):
        rel = p.relative_to(root).as_posix()[: -len(".txt")]
        out[rel] = p.read_bytes()
    return out


def content_hash() -> str:
    h = hashlib.sha256()
    for p in sorted(REPOS.rglob("*.txt")):
        h.update(p.relative_to(REPOS).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    for name in ("specs.py", "build.py"):
        h.update((HERE / name).read_bytes())
    return h.hexdigest()[:16]


def test_ids(path: str, code: str) -> list[str]:
    """pytest node ids of the tests defined in ``code`` (top-level test_* and Test*.test_*)."""
    ids = []
    for node in ast.parse(code).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            ids.append(f"{path}::{node.name}")
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for sub in node.body:
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)) and sub.name.startswith("test"):
                    ids.append(f"{path}::{node.name}::{sub.name}")
    return ids


def _write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def _inject(files: dict[str, bytes], spec: Spec) -> dict[str, bytes]:
    out = dict(files)
    for path, clean, buggy in spec.bug:
        text = out[path].decode()
        if text.count(clean) != 1:
            raise ValueError(f"{spec.id}: the clean snippet occurs {text.count(clean)} times in {path}")
        out[path] = text.replace(clean, buggy).encode()
    return out


def build_instance(spec: Spec, root: Path) -> dict[str, Any]:
    clean = source_files(spec.repo)
    base = _inject(clean, spec)
    root.mkdir(parents=True)
    _write(root, base)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", f"{spec.repo}: base of {spec.id}")
    base_commit = git(root, "rev-parse", "HEAD").stdout.strip()
    # gold patch: the clean version of the files the bug touched
    _write(root, {path: clean[path] for path, _, _ in spec.bug})
    gold = git(root, "diff", "--no-color", "--no-ext-diff").stdout
    git(root, "checkout", "-q", "--", ".")
    # test patch: tests appended (or new test files)
    f2p: list[str] = []
    p2p: list[str] = []
    for path, code in spec.tests:
        p = root / path
        old = p.read_text() if p.exists() else ""
        p2p += [t for t in test_ids(path, old) if t not in p2p]
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(old + code)
        f2p += test_ids(path, code)
    git(root, "add", "-A")  # new test files must show in the diff
    test_patch = git(root, "diff", "--cached", "--no-color", "--no-ext-diff").stdout
    git(root, "reset", "-q", "--hard", "HEAD")
    version = ENV_VERSION
    return {
        "instance_id": spec.id,
        "repo": f"{REPO_OWNER}/{spec.repo}",
        "base_commit": base_commit,
        "problem_statement": spec.statement,
        "patch": gold,
        "test_patch": test_patch,
        "FAIL_TO_PASS": f2p,
        "PASS_TO_PASS": p2p,
        "version": version,
        "environment_setup_commit": None,
        "hints_text": "",
        "created_at": "2024-01-01T00:00:00Z",
        "flaky": spec.flaky,
        "kind": spec.kind,
        "source": "fireassay-taskset",
    }


def build_taskset(dest: Path | None = None, *, force: bool = False) -> Path:
    """Build (or reuse) the task set; returns the folder holding ``instances.json``."""
    dest = Path(dest) if dest is not None else cache_root() / content_hash()
    if (dest / "instances.json").exists() and not force:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=dest.parent))
    try:
        records = [build_instance(s, tmp / "repos" / s.id) for s in SPECS]
        (tmp / "instances.json").write_text(json.dumps(records, indent=1) + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        try:
            tmp.rename(dest)
        except OSError:  # another process built it first
            if not (dest / "instances.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def taskset_records() -> list[dict[str, Any]]:
    return json.loads((build_taskset() / "instances.json").read_text())


def repo_dir(instance_id: str) -> Path:
    """The built git repository (at base_commit) of one of our instances."""
    d = build_taskset() / "repos" / instance_id
    if not d.is_dir():
        raise KeyError(f"{instance_id!r} is not in fireassay's SWE task set")
    return d


def is_own_repo(repo: str) -> bool:
    owner, _, name = repo.partition("/")
    return owner == REPO_OWNER and (REPOS / name).is_dir()
