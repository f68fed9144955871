"""Applying a model patch on the host, in a scratch git repository that holds only the files
the patches touch (taken from the instance's tree), with a fallback chain:
``git apply`` -> ``git apply --3way`` -> ``patch --fuzz``.

Applying on the host keeps the untrusted patch away from the container's tools and makes the
chain independent of what an image ships (our images carry no git). The result is a set of
file contents (or deletions) to write into the container's copy of the repository.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from .diffs import files_in_diff, protected_files_touched, unsafe_paths

GIT_ENV = {
    "GIT_AUTHOR_NAME": "fireassay", "GIT_AUTHOR_EMAIL": "fireassay@localhost",
    "GIT_COMMITTER_NAME": "fireassay", "GIT_COMMITTER_EMAIL": "fireassay@localhost",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+0000", "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+0000",
    "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent", "GIT_TERMINAL_PROMPT": "0",
}
APPLY_TIMEOUT_S = 60.0
MAX_PATCH_BYTES = 2 * 1024 * 1024


class PatchRefused(Exception):
    """The patch may not be applied at all (touches grader-owned files, escapes the repo...)."""


@dataclass(frozen=True)
class ApplyOutcome:
    applied: bool
    method: str | None  # "git apply" | "git apply --3way" | "patch --fuzz" | None
    log: str  # what each step said (the last failure's message when nothing applied)
    changes: Mapping[str, bytes | None] = field(default_factory=dict)  # path -> content | None=deleted


def git(cwd: Path, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, **GIT_ENV}
    proc = subprocess.run(
        ["git", "-c", "core.hooksPath=/dev/null", "-c", "advice.detachedHead=false", *args],
        cwd=cwd, input=input, capture_output=True, text=True, env=env, timeout=APPLY_TIMEOUT_S,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def check_patch(diff: str, test_files: tuple[str, ...]) -> None:
    """Raise :class:`PatchRefused` for a patch the grader must not apply."""
    if len(diff.encode()) > MAX_PATCH_BYTES:
        raise PatchRefused(f"patch is larger than {MAX_PATCH_BYTES // 1024} KiB")
    bad = unsafe_paths(diff)
    if bad:
        raise PatchRefused(f"patch writes outside the repository: {', '.join(bad)}")
    owned = protected_files_touched(diff, test_files)
    if owned:
        raise PatchRefused(
            "patch edits test files or pytest configuration that the grader owns: "
            + ", ".join(owned) + " (fix the code, not the tests)"
        )


def _scratch_repo(base_files: Mapping[str, bytes]) -> Path:
    root = Path(tempfile.mkdtemp(prefix="fireassay-swe-apply-"))
    for rel, data in base_files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", "base")
    return root


def _reset(root: Path) -> None:
    git(root, "reset", "-q", "--hard", "HEAD")
    git(root, "clean", "-qfdx")


def _try_chain(root: Path, diff: str) -> tuple[str | None, list[str]]:
    logs: list[str] = []
    steps: list[tuple[str, list[str]]] = [
        ("git apply", ["git", "apply", "--verbose", "--whitespace=nowarn", "-"]),
        ("git apply --3way", ["git", "apply", "--verbose", "--3way", "--whitespace=nowarn", "-"]),
    ]
    for name, cmd in steps:
        proc = git(root, *cmd[1:], input=diff, check=False)
        out = (proc.stdout + proc.stderr).strip()
        conflicted = "conflict" in out.lower() or "<<<<<<<" in _dirty_text(root)
        if proc.returncode == 0 and not conflicted:
            return name, logs + [f"{name}: ok"]
        logs.append(f"{name}: {out or 'failed'}")
        _reset(root)
    # patch(1): dry run first so that a half-applied patch never counts
    base = ["patch", "--batch", "--forward", "-p1", "--fuzz=3", "--no-backup-if-mismatch", "-r", "-"]
    dry = subprocess.run(base[:1] + ["--dry-run"] + base[1:], cwd=root, input=diff,
                         capture_output=True, text=True, timeout=APPLY_TIMEOUT_S)
    if dry.returncode == 0:
        real = subprocess.run(base, cwd=root, input=diff, capture_output=True, text=True,
                              timeout=APPLY_TIMEOUT_S)
        if real.returncode == 0:
            return "patch --fuzz", logs + ["patch --fuzz: ok"]
        dry = real
    logs.append(f"patch --fuzz: {(dry.stdout + dry.stderr).strip() or 'failed'}")
    _reset(root)
    return None, logs


def _dirty_text(root: Path) -> str:
    proc = git(root, "diff", check=False)
    return proc.stdout


def apply_patches(
    base_files: Mapping[str, bytes],
    model_patch: str,
    test_patch: str,
    test_files: tuple[str, ...] = (),
) -> ApplyOutcome:
    """Apply ``model_patch`` (fallback chain) then ``test_patch`` (exact) to ``base_files``.

    ``base_files`` must hold the base version of every existing file either patch touches.
    Raises :class:`PatchRefused` before touching anything for a forbidden patch; a
    ``RuntimeError`` when the *test* patch does not apply (the instance is broken, not the
    candidate).
    """
    check_patch(model_patch, test_files)
    root = _scratch_repo(base_files)
    try:
        logs: list[str] = []
        method: str | None = "empty"
        if model_patch.strip():
            method, logs = _try_chain(root, model_patch)
            if method is None:
                return ApplyOutcome(False, None, "\n".join(logs))
        if test_patch.strip():
            proc = git(root, "apply", "--whitespace=nowarn", "-", input=test_patch, check=False)
            if proc.returncode != 0:
                raise RuntimeError(f"the instance's test patch does not apply: {proc.stderr.strip()}")
        touched = set(files_in_diff(model_patch)) | set(files_in_diff(test_patch)) | set(base_files)
        changes: dict[str, bytes | None] = {}
        for rel in sorted(touched):
            p = root / rel
            if p.is_symlink():
                raise PatchRefused(f"patch makes {rel} a symbolic link; symlinks are not accepted")
            if p.is_file():
                data = p.read_bytes()
                if base_files.get(rel) != data:
                    changes[rel] = data
            elif rel in base_files:
                changes[rel] = None
        # Files the chain created that no header named (patch(1) is liberal): include them too.
        status = git(root, "status", "--porcelain", "-uall", check=False).stdout
        for line in status.splitlines():
            rel = line[3:].strip()
            p = root / rel
            if rel and rel not in changes and p.is_file() and not p.is_symlink():
                changes[rel] = p.read_bytes()
        return ApplyOutcome(True, method, "\n".join(logs), changes)
    finally:
        shutil.rmtree(root, ignore_errors=True)
