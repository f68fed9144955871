"""Helpers shared by the SWE tests (real git diffs against the task set's repositories)."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from verifiers.swe.instance import SWEInstance
from verifiers.swe.taskset import repo_dir


def steady(instances: list[SWEInstance]) -> list[SWEInstance]:
    return [i for i in instances if not i.meta.get("flaky")]


def make_patch(inst: SWEInstance, edits: dict[str, str]) -> str:
    """A real git diff of ``edits`` (path -> new text) against the instance's base commit."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "r"
        shutil.copytree(repo_dir(inst.instance_id), work)
        for rel, text in edits.items():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            (work / rel).write_text(text)
        subprocess.run(["git", "add", "-A"], cwd=work, check=True)
        return subprocess.run(["git", "diff", "--cached"], cwd=work, check=True,
                              capture_output=True, text=True).stdout


def first_code_file(inst: SWEInstance) -> str:
    from verifiers.swe.diffs import files_in_diff

    return files_in_diff(inst.patch)[0]


def base_text(inst: SWEInstance, rel: str) -> str:
    return (repo_dir(inst.instance_id) / rel).read_text()
